package core

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// TestPathLoopback: the path to loopback is one hop, the target itself, for
// every protocol; the target's own result is as without path probes. The
// lab (internal/labtest) checks paths through routers.
func TestPathLoopback(t *testing.T) {
	requireHping3(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().(*net.TCPAddr).Port
	for _, c := range []struct {
		name  string
		set   func(*config.Settings)
		ports string
	}{
		{"icmp", func(*config.Settings) {}, ""},
		{"tcp open", func(s *config.Settings) { s.Protocol, s.Port = config.TCP, open }, probe.PortOpen},
		{"udp closed", func(s *config.Settings) { s.Protocol, s.Port = config.UDP, testbin.ClosedPort(t, true) }, probe.PortClosed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runOne(t, config.EngineTcl, "127.0.0.1", func(s *config.Settings) {
				c.set(s)
				s.Path, s.MaxHops = true, 5
			})
			checkAllAnswered(t, r)
			p := r.Path
			if p == nil {
				t.Fatalf("no path: %+v", r)
			}
			if !p.Reached || p.HopCount != 1 || len(p.Hops) != 1 || len(p.ID) != 16 {
				t.Fatalf("path %+v, want the target reached at hop 1", p)
			}
			h := p.Hops[0]
			if h.Hop != 1 || h.IP != "127.0.0.1" || h.Transmitted != 3 || h.Received != 3 || h.Loss != 0 || h.PortState != c.ports {
				t.Errorf("hop %+v", h)
			}
			if h.RTT == nil || h.RTT.Min < 0 || h.RTT.Max > 50 {
				t.Errorf("hop RTT %+v", h.RTT)
			}
		})
	}
}

// TestPathNextRoundStopsAtTheTarget: the first round's first sweep may try
// every TTL up to max_hops (8) before the target's answer comes back, but
// its second sweep, 300 ms later, sends only the TTL that reached it (at
// most 9 path packets, not 16); the next round sends only up to the
// hop count the first found.
func TestPathNextRoundStopsAtTheTarget(t *testing.T) {
	requireHping3(t)
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = 2, 300*time.Millisecond, 200*time.Millisecond
	s.Path, s.MaxHops = true, 8
	cfg := &config.Config{MaxPacketRate: 1000, Engine: config.EngineTcl, Groups: []config.Group{{Targets: []string{"127.0.0.1"}, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := New(cfg, logger.Discard())
	for round, want := range [][2]int{{2, 9}, {2, 2}} {
		rd := r.Run(context.Background())
		res := rd.Results[0]
		if res.Code != probe.OK || res.Transmitted != 2 || res.Received != 2 {
			t.Fatalf("round %d: %+v", round+1, res)
		}
		p := res.Path
		if p == nil || !p.Reached || p.HopCount != 1 || p.Sent < want[0] || p.Sent > want[1] {
			t.Fatalf("round %d: path %+v, want hop 1 reached with %d..%d path packets", round+1, p, want[0], want[1])
		}
		if rd.Packets != res.Transmitted+p.Sent {
			t.Errorf("round %d: %d packets, want the target's %d and the path's %d", round+1, rd.Packets, res.Transmitted, p.Sent)
		}
	}
}

// TestStreamPathLoopback: in continuous mode every period is one sweep; the
// path to loopback is the target at hop 1, and after the first answer TTLs
// beyond it are not sent: a window of n periods holds n path packets at
// hop 1 and, the first window aside, none beyond.
func TestStreamPathLoopback(t *testing.T) {
	st := streamOf(t, []string{"127.0.0.1"}, func(s *config.Settings) {
		s.Interval, s.Path, s.MaxHops = 100*time.Millisecond, true, 6
	})
	st.Next(context.Background()) // the first window: the first sweep tried TTLs past the target
	time.Sleep(time.Second)
	rd := st.Next(context.Background())
	r := rd.Results[0]
	p := r.Path
	if r.Code != probe.OK || p == nil {
		t.Fatalf("window %+v (err %v)", r, r.Err)
	}
	if !p.Reached || p.HopCount != 1 || len(p.Hops) != 1 || p.Hops[0].IP != "127.0.0.1" {
		t.Fatalf("path %+v", p)
	}
	h := p.Hops[0]
	// One packet per 100 ms, give or take one at each edge of the window.
	want := int(rd.Duration / (100 * time.Millisecond))
	if h.Transmitted < want-2 || h.Transmitted > want+2 || h.Received != h.Transmitted || p.Sent != h.Transmitted {
		t.Errorf("window of %v: hop %+v, %d path packets; want %d +/- 2, all answered, none beyond hop 1", rd.Duration, h, p.Sent, want)
	}
	if rd.Packets != r.Transmitted+p.Sent {
		t.Errorf("%d packets, want the target's %d and the path's %d", rd.Packets, r.Transmitted, p.Sent)
	}
}
