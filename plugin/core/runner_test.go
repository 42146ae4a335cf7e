package core

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// These tests run the real hping3 against loopback.

func requireHping3(t *testing.T) string {
	t.Helper()
	testbin.RequireRoot(t)
	return testbin.RequireTool(t, "hping3")
}

// engines runs f once per engine, as a subtest named after it.
func engines(t *testing.T, f func(t *testing.T, e config.Engine)) {
	for _, e := range []config.Engine{config.EngineCLI, config.EngineTcl} {
		t.Run(string(e), func(t *testing.T) { f(t, e) })
	}
}

func runOne(t *testing.T, e config.Engine, target string, f func(*config.Settings)) probe.Result {
	t.Helper()
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = 3, 100*time.Millisecond, 500*time.Millisecond
	f(&s)
	cfg := &config.Config{MaxPacketRate: 1000, Engine: e, Groups: []config.Group{{Targets: []string{target}, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rd := New(cfg, logger.Discard()).Run(context.Background())
	if len(rd.Results) != 1 {
		t.Fatalf("%d results", len(rd.Results))
	}
	return rd.Results[0]
}

// checkAllAnswered asserts a lossless loopback probe of 3 packets.
func checkAllAnswered(t *testing.T, r probe.Result) {
	t.Helper()
	if r.Code != probe.OK || r.Transmitted != 3 || r.Received != 3 || r.Loss != 0 || r.Duplicates != 0 || r.ICMPErrors != 0 {
		t.Fatalf("result = %+v (err %v)", r, r.Err)
	}
	if r.RTT == nil || r.RTT.Min < 0 || r.RTT.Max > 50 || r.RTT.Avg < r.RTT.Min || r.RTT.Avg > r.RTT.Max {
		t.Errorf("loopback RTT out of bounds: %+v", r.RTT)
	}
}

func TestLoopbackICMP(t *testing.T) {
	requireHping3(t)
	engines(t, testLoopbackICMP)
}

func testLoopbackICMP(t *testing.T, e config.Engine) {
	r := runOne(t, e, "127.0.0.1", func(s *config.Settings) { s.Percentiles = []int{50} })
	checkAllAnswered(t, r)
	if r.TTL != 64 || r.IP != "127.0.0.1" || r.Port != 0 || r.PortState != "" || !r.RTT.Detail || len(r.RTT.Samples) != 3 || len(r.RTT.Percentiles) != 1 {
		t.Errorf("result = %+v rtt %+v", r, r.RTT)
	}
}

func TestLoopbackTCPOpenAndClosed(t *testing.T) {
	requireHping3(t)
	engines(t, testLoopbackTCPOpenAndClosed)
}

func testLoopbackTCPOpenAndClosed(t *testing.T, e config.Engine) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().(*net.TCPAddr).Port
	r := runOne(t, e, "127.0.0.1", func(s *config.Settings) { s.Protocol, s.Port = config.TCP, open })
	checkAllAnswered(t, r)
	if r.PortState != probe.PortOpen || r.Port != open || r.TTL != 64 {
		t.Errorf("open port: %+v", r)
	}

	closed := testbin.ClosedPort(t, false)
	r = runOne(t, e, "127.0.0.1", func(s *config.Settings) { s.Protocol, s.Port = config.TCP, closed })
	checkAllAnswered(t, r)
	if r.PortState != probe.PortClosed {
		t.Errorf("closed port: %+v", r)
	}
}

// The CLI engine has only hping3's summary for a port unreachable (no
// per-reply rtt, no TTL); the Tcl engine times each answer and reads its
// TTL.
func TestLoopbackUDPClosed(t *testing.T) {
	requireHping3(t)
	engines(t, func(t *testing.T, e config.Engine) {
		port := testbin.ClosedPort(t, true)
		r := runOne(t, e, "127.0.0.1", func(s *config.Settings) { s.Protocol, s.Port = config.UDP, port })
		checkAllAnswered(t, r)
		wantDetail, wantTTL := false, -1
		if e == config.EngineTcl {
			wantDetail, wantTTL = true, 64
		}
		if r.PortState != probe.PortClosed || r.RTT.Detail != wantDetail || r.TTL != wantTTL || (wantDetail && len(r.RTT.Samples) != 3) {
			t.Errorf("udp closed port: %+v rtt %+v", r, r.RTT)
		}
	})
}

func TestFailuresWithoutProbing(t *testing.T) {
	requireHping3(t)
	cases := []struct {
		target string
		f      func(*config.Settings)
		code   probe.Code
		msg    string
	}{
		{"nonexistent.invalid", func(*config.Settings) {}, probe.NoSuchHost, "did not resolve"},
		{"-c", func(*config.Settings) {}, probe.NoSuchHost, "begins with '-'"},
		{"127.0.0.1", func(s *config.Settings) { s.HPing3 = "/nonexistent/hping3" }, probe.Failed, "hping3 not found at /nonexistent/hping3: install it"},
	}
	engines(t, func(t *testing.T, e config.Engine) {
		for _, c := range cases {
			r := runOne(t, e, c.target, c.f)
			if r.Code != c.code || r.Ran || r.Err == nil || !strings.Contains(r.Err.Error(), c.msg) {
				t.Errorf("%s: code %d ran %v err %v; want code %d and %q", c.target, r.Code, r.Ran, r.Err, c.code, c.msg)
			}
		}
	})
}

// TestLoopbackInterface: interface forces the capture (and, for the Tcl
// engine, the source address) onto the named device.
func TestLoopbackInterface(t *testing.T) {
	requireHping3(t)
	engines(t, func(t *testing.T, e config.Engine) {
		r := runOne(t, e, "127.0.0.1", func(s *config.Settings) { s.Interface = "lo" })
		checkAllAnswered(t, r)
	})
}

// TestRouteThroughMissingInterface: the Tcl engine's route names an
// interface that is gone (validation checked it at start) instead of
// sending anywhere else.
func TestRouteThroughMissingInterface(t *testing.T) {
	rt := newRouter()
	if rt.err != nil {
		t.Fatal(rt.err)
	}
	if _, err := rt.route(netip.MustParseAddr("127.0.0.1"), config.Settings{Interface: "no-such-if0"}); err == nil || !strings.Contains(err.Error(), `interface "no-such-if0" does not exist`) {
		t.Errorf("route through a missing interface: %v", err)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.route(netip.MustParseAddr("127.0.0.2"), config.Settings{})
	if err != nil || p.iface != "lo" || p.src != netip.MustParseAddr("127.0.0.1") || p.mtu != lo.MTU {
		t.Errorf("route to 127.0.0.2: %+v, %v; want lo (MTU %d) from 127.0.0.1", p, err, lo.MTU)
	}
}

// TestRouteFromSource: a source_address of this host is the source, and the
// kernel's route from it names the interface; an address this host does
// not hold (no longer: validation checked it at start) is refused, never
// sent from. The lab checks a loopback-held source whose probes leave by
// another interface (internal/labtest).
func TestRouteFromSource(t *testing.T) {
	rt := newRouter()
	if rt.err != nil {
		t.Fatal(rt.err)
	}
	p, err := rt.route(netip.MustParseAddr("127.0.0.2"), config.Settings{Source: "127.0.0.1"})
	if err != nil || p.iface != "lo" || p.src != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("route to 127.0.0.2 from 127.0.0.1: %+v, %v; want lo", p, err)
	}
	_, err = rt.route(netip.MustParseAddr("127.0.0.2"), config.Settings{Source: "192.0.2.1"})
	if err == nil || err.Error() != "source_address 192.0.2.1 is not an address of this host (any more): the plugin sends only from its own" {
		t.Errorf("route from 192.0.2.1: %v", err)
	}
}

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

// TestRouterSourcePerTarget: one router's socket gives every target the
// source address the kernel picks for it, whatever the target before it
// had, in the lab's client namespace: c0's address toward the lab, the
// loopback's toward loopback, and a target with no route fails alone.
func TestRouterSourcePerTarget(t *testing.T) {
	l := netlab.New(t)
	c0 := netlab.ClientIP
	lo := netip.MustParseAddr("127.0.0.1")
	err := netlab.Do(l.Client, func() error {
		rt := newRouter()
		defer rt.close()
		if rt.err != nil {
			return rt.err
		}
		for _, c := range []struct {
			dst, src string
			iface    string
			err      string
		}{
			{"198.19.0.1", c0.String(), "c0", ""},
			{"127.0.0.5", lo.String(), "lo", ""},
			{"198.19.0.2", c0.String(), "c0", ""},
			{"192.0.2.1", "", "", "no route to 192.0.2.1: network is unreachable"},
			{"127.0.0.6", lo.String(), "lo", ""},
			{"198.19.0.3", c0.String(), "c0", ""},
		} {
			p, err := rt.route(netip.MustParseAddr(c.dst), config.Settings{})
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Errorf("route to %s: %s from %s, %v; want the error %q", c.dst, p.iface, p.src, err, c.err)
				}
				continue
			}
			if err != nil || p.iface != c.iface || p.src.String() != c.src {
				t.Errorf("route to %s: %s from %s, %v; want %s from %s", c.dst, p.iface, p.src, err, c.iface, c.src)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
