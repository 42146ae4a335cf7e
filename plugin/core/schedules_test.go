package core

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// More of the session and both schedules on the fake engine: path probes,
// failures before any packet, a stop, the rate cap, names.

// routerAt is the fake router at hop h.
func routerAt(h int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(h)}) }

// TestSessionPath: the target is 3 hops away: routers answer TTLs 1 and 2
// with time exceeded, the target TTL 3 and more. The path reads three hops,
// the target reached at the third, every hop answered every time; TTLs past
// 3 go out only until the target's first answer (the first sweep), never
// in the next report.
func TestSessionPath(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			net := newFakeNet(0)
			net.setAnswer(func(p *packet.Probe) []reply {
				if p.TTL < 3 {
					return []reply{{time.Duration(p.TTL) * time.Millisecond, icmpError(p, routerAt(p.TTL), packet.ICMPTimeExceeded, 0)}}
				}
				return []reply{{3 * time.Millisecond, targetReply(p)}}
			})
			s := fakeSettings()
			s.Path, s.MaxHops = true, 8
			h := newHarness(t, mode, net, []string{"127.0.0.1"}, s)
			first := h.next(1, 300*time.Millisecond)
			sent := len(net.packets())
			rd := h.next(1, 300*time.Millisecond)
			for i, rd := range []Report{first, rd} {
				r := rd.Results[0]
				p := r.Path
				if r.Code != probe.OK || p == nil {
					t.Fatalf("report %d: %+v", i+1, r)
				}
				if !p.Reached || !p.Ended || p.HopCount != 3 || len(p.Hops) != 3 {
					t.Fatalf("report %d: path %+v, want the target reached at hop 3", i+1, p)
				}
				for k, hop := range p.Hops {
					want := routerAt(k + 1).String()
					if k == 2 {
						want = "127.0.0.1"
					}
					rtt := float64(k + 1)
					if hop.Hop != k+1 || hop.IP != want || hop.Transmitted == 0 || hop.Received != hop.Transmitted ||
						hop.RTT == nil || hop.RTT.Min != rtt || hop.RTT.Max != rtt {
						t.Errorf("report %d: hop %+v (rtt %+v), want %s answering every packet in %v ms", i+1, hop, hop.RTT, want, rtt)
					}
				}
				if rd.Packets != r.Transmitted+p.Sent {
					t.Errorf("report %d: %d packets, want the target's %d and the path's %d", i+1, rd.Packets, r.Transmitted, p.Sent)
				}
			}
			for _, sp := range net.packets()[sent:] {
				if sp.probe.TTL > 3 && sp.probe.TTL != 64 {
					t.Errorf("a TTL %d path probe went in the second report", sp.probe.TTL)
				}
			}
		})
	}
}

// TestSessionCaptureFails: the engine cannot capture on the targets'
// interface: every target fails with the engine's reason, and nothing is
// sent.
func TestSessionCaptureFails(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			net := newFakeNet(time.Millisecond)
			// Nor does it answer the sync that ends a round: the targets
			// still fail with the capture's reason.
			net.setFault(1, fault{listen: "no such device", noSync: true})
			h := newHarness(t, mode, net, threeTargets, fakeSettings())
			rd := h.next(1, 200*time.Millisecond)
			for _, r := range rd.Results {
				if r.Code != probe.Failed || r.Err == nil || r.Err.Error() != "hping3 could not capture on lo: no such device" {
					t.Errorf("%s: code %d, err %v", r.Target, r.Code, r.Err)
				}
			}
			if n := len(net.packets()); n != 0 {
				t.Errorf("%d packets sent", n)
			}
		})
	}
}

// TestSessionStartFails: an engine that does not start. A round's targets
// fail with the reason; in continuous mode the engine starts again 200 ms
// later, and 400 ms later when it fails again at once; the log and the
// window's restart count say so, and the window is whole once it runs.
func TestSessionStartFails(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			net := newFakeNet(time.Millisecond)
			net.setFault(1, fault{startErr: errors.New("no ready line within 3s")})
			net.setFault(2, fault{startErr: errors.New("no ready line within 3s")})
			h := newHarness(t, mode, net, threeTargets, fakeSettings())
			rd := h.next(3, 300*time.Millisecond)
			msg := "starting the hping3 engine (" + h.src.(interface{ binary() string }).binary() + " exec): no ready line within 3s"
			if mode == config.ModeRounds {
				for _, r := range rd.Results {
					if r.Code != probe.Failed || r.Err == nil || r.Err.Error() != msg || r.Ran {
						t.Errorf("%s: code %d, err %v, ran %v; want %q", r.Target, r.Code, r.Err, r.Ran, msg)
					}
				}
				if rd.Processes != 0 {
					t.Errorf("%d processes", rd.Processes)
				}
				return
			}
			// The first restart after 200 ms, the next one, failing at once
			// again, after 400 ms.
			if !strings.Contains(h.log.String(), "E! the hping3 engine failed and starts again in 200ms: "+msg+"\nE! the hping3 engine failed and starts again in 400ms: "+msg+"\n") || rd.Restarts != 2 {
				t.Errorf("restarts %d; log:\n%s", rd.Restarts, h.log.String())
			}
			whole(t, rd, fakeSettings(), time.Millisecond, 3)
		})
	}
}

// binary is the hping3 every group uses, for the tests' messages.
func (r *Runner) binary() string { return r.engines[0].bin }
func (s *Stream) binary() string { return s.r.binary() }
func (s *rounds) binary() string { return s.runner().binary() }

// TestRoundStopped: a round whose context ends while it sends returns at
// once; its targets fail as stopped.
func TestRoundStopped(t *testing.T) {
	net := newFakeNet(time.Millisecond)
	s := fakeSettings()
	s.Count, s.Interval = 10, 100*time.Millisecond
	h := newHarness(t, config.ModeRounds, net, threeTargets, s)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	rd := h.src.Next(ctx)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("the stopped round took %v", took)
	}
	for _, r := range rd.Results {
		if r.Code != probe.Failed || r.Err == nil || r.Err.Error() != "probe cancelled: the plugin is stopping" {
			t.Errorf("%s: code %d, err %v", r.Target, r.Code, r.Err)
		}
	}
	if _, closed := net.counts(); closed != 1 {
		t.Errorf("%d engines closed, want 1", closed)
	}
}

// TestSessionRateCap: 20 targets at 50 packets/s each ask for 1000/s;
// max_packet_rate is 100. A round spaces all its packets 10 ms apart; in
// continuous mode every interval is stretched 10 times, with a W! line.
// Either way no 100 ms sees more than 10 packets' slots (+1 for the
// window's edges, +2 for a late sender's catch-up). The fake stamps a
// packet when it is written, up to the mode's ahead (sendAhead, 20 ms in
// continuous mode) before its slot: the bound is on 100 ms plus that.
func TestSessionRateCap(t *testing.T) {
	var targets []string
	for i := range 20 {
		targets = append(targets, netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}).String())
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			s := fakeSettings()
			s.Count = 3
			net := newFakeNet(time.Millisecond)
			h := &harness{t: t, mode: mode, net: net, log: &lockedLog{}}
			cfg := fakeConfig(t, mode, targets, s)
			cfg.MaxPacketRate = 100
			h.src = sourceOf(fakeRunner(cfg, net, h.log))
			t.Cleanup(h.src.Close)
			rd := h.next(1, 700*time.Millisecond)
			if mode == config.ModeContinuous && !strings.Contains(h.log.String(), "W! mode continuous: 20 targets and 0 path probes (one per TTL up to max_hops) at their intervals would send 1000 packets/s, more than max_packet_rate allows here (100/s): each target's interval is stretched 10.00 times") {
				t.Errorf("no W! line for the stretch:\n%s", h.log.String())
			}
			sent := net.packets()
			if len(sent) < 50 {
				t.Fatalf("%d packets sent", len(sent))
			}
			// Continuous: a tenth of the stretched 200 ms period (streamAhead).
			ahead := map[config.Mode]time.Duration{config.ModeRounds: sendAhead, config.ModeContinuous: 20 * time.Millisecond}[mode]
			limit := int((100*time.Millisecond+ahead)/(10*time.Millisecond)) + 1 + catchUp
			for i := range sent {
				n := 0
				for j := i; j < len(sent) && sent[j].at.Sub(sent[i].at) < 100*time.Millisecond; j++ {
					n++
				}
				if n > limit {
					t.Fatalf("%d packets within 100 ms from packet %d, more than %d", n, i, limit)
				}
			}
			if rd.Failures != 0 {
				t.Errorf("%d failures", rd.Failures)
			}
		})
	}
}

// TestStreamNames: in continuous mode a name is looked up again on its
// schedule. One that does not resolve reports result_code 1 in every window;
// one whose address changes is probed at the new address from a new
// session, with no packet lost on the way.
func TestStreamNames(t *testing.T) {
	// Restored after the Stream's Close (cleanups run last first), which
	// stops its lookups.
	every, retry := resolveEvery, retryResolve
	t.Cleanup(func() { resolveEvery, retryResolve = every, retry })
	resolveEvery, retryResolve = 100*time.Millisecond, 100*time.Millisecond
	dns := newFakeDNS()
	dns.set("ok", "moves.test")
	dns.set("nx", "gone.test")
	net := newFakeNet(time.Millisecond)
	h := &harness{t: t, mode: config.ModeContinuous, net: net, log: &lockedLog{}}
	r := fakeRunner(fakeConfig(t, config.ModeContinuous, []string{"moves.test", "gone.test"}, fakeSettings()), net, h.log)
	r.resolver = dns
	h.src = sourceOf(r)
	t.Cleanup(h.src.Close)
	rd := h.next(1, 300*time.Millisecond)
	before := rd.Results[0].IP
	if r := rd.Results[0]; r.Code != probe.OK || r.Received == 0 || r.Received != r.Transmitted {
		t.Fatalf("moves.test: %+v", r)
	}
	if r := rd.Results[1]; r.Code != probe.NoSuchHost || r.Transmitted != 0 {
		t.Fatalf("gone.test: %+v", r)
	}
	dns.mu.Lock()
	dns.ips["moves.test"] = "127.0.0.77"
	dns.mu.Unlock()
	rd = h.next(2, 400*time.Millisecond)
	if r := rd.Results[0]; r.Code != probe.OK || r.IP != "127.0.0.77" || r.Received == 0 || r.Received != r.Transmitted || rd.Restarts != 0 {
		t.Fatalf("moves.test after its move from %s: %+v, restarts %d", before, r, rd.Restarts)
	}
	if r := rd.Results[1]; r.Code != probe.NoSuchHost {
		t.Fatalf("gone.test: %+v", r)
	}
	moved := false
	for _, sp := range net.packets() {
		moved = moved || sp.probe.Dst == netip.MustParseAddr("127.0.0.77")
	}
	if !moved {
		t.Error("no packet went to the new address")
	}
}
