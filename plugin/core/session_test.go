package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// These tests run the session and both schedules on the fake engine
// (fakeengine_test.go): no root, no hping3. Each runs in both modes with
// the same expectations, where the modes promise the same.

var modes = []config.Mode{config.ModeRounds, config.ModeContinuous}

// fakeSettings: 4 packets per round 20 ms apart, a 100 ms timeout.
func fakeSettings() config.Settings {
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = 4, 20*time.Millisecond, 100*time.Millisecond
	return s
}

var threeTargets = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// harness drives one mode's Source on the fake network.
type harness struct {
	t    *testing.T
	mode config.Mode
	src  Source
	net  *fakeNet
	log  *lockedLog
}

func newHarness(t *testing.T, mode config.Mode, net *fakeNet, targets []string, s config.Settings) *harness {
	t.Helper()
	h := &harness{t: t, mode: mode, net: net, log: &lockedLog{}}
	h.src = sourceOf(fakeSetup(fakeConfig(t, mode, targets, s), net, h.log))
	if h.src.Continuous() != (mode == config.ModeContinuous) {
		t.Fatalf("mode %s gave a %T", mode, h.src)
	}
	t.Cleanup(h.src.Close)
	return h
}

// next returns the next report: in mode rounds a round; in continuous mode
// the window ending settle after the engine has started engines times.
func (h *harness) next(engines int, settle time.Duration) Report {
	h.t.Helper()
	if h.mode == config.ModeContinuous {
		waitFor(h.t, 5*time.Second, fmt.Sprintf("%d engine starts", engines), func() bool {
			n, _ := h.net.counts()
			return n >= engines
		})
		time.Sleep(settle)
	}
	return h.src.Next(context.Background())
}

func waitFor(t *testing.T, limit time.Duration, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !f(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
	}
}

// whole checks a report in which every packet was answered after delay
// (the fake stamps answers exactly): all received, RTTs exactly delay. A
// round sends count packets per target; a window at least min.
func whole(t *testing.T, rd Report, s config.Settings, delay time.Duration, min int) {
	t.Helper()
	if rd.Failures != 0 || len(rd.Results) == 0 {
		t.Errorf("%d of %d results failed", rd.Failures, len(rd.Results))
	}
	want := float64(delay) / float64(time.Millisecond)
	packets := 0
	for _, r := range rd.Results {
		packets += r.Transmitted
		if r.Code != probe.OK || (rd.Window && r.Transmitted < min) || (!rd.Window && r.Transmitted != s.Count) || r.Received != r.Transmitted || r.Loss != 0 || r.Duplicates != 0 || r.Late != 0 {
			t.Errorf("%s: code %d (%v), %d/%d received, %d duplicates, %d late", r.Target, r.Code, r.Err, r.Received, r.Transmitted, r.Duplicates, r.Late)
			continue
		}
		if r.RTT == nil || r.RTT.Min != want || r.RTT.Max != want || r.RTT.Avg != want || r.RTT.StdDev != 0 || len(r.RTT.Samples) != r.Received {
			t.Errorf("%s: RTT %+v, want every sample %v ms", r.Target, r.RTT, want)
		}
		if r.TTL != 64 {
			t.Errorf("%s: ttl %d, want the reply's 64", r.Target, r.TTL)
		}
	}
	if rd.Packets != packets {
		t.Errorf("Packets %d, the results sent %d", rd.Packets, packets)
	}
}

// TestSessionMeasures: every protocol, answered by the target after 2 ms:
// a round measures count packets per target, a window every packet decided
// in it, all received with an RTT of exactly 2 ms and the port state the
// answer says.
func TestSessionMeasures(t *testing.T) {
	for _, mode := range modes {
		for _, c := range []struct {
			proto config.Protocol
			state string
		}{{config.ICMP, ""}, {config.TCP, probe.PortOpen}, {config.UDP, probe.PortClosed}} {
			t.Run(string(mode)+"/"+string(c.proto), func(t *testing.T) {
				s := fakeSettings()
				if c.proto != config.ICMP {
					s.Protocol, s.Port = c.proto, 7
				}
				h := newHarness(t, mode, newFakeNet(2*time.Millisecond), threeTargets, s)
				rd := h.next(1, 300*time.Millisecond)
				whole(t, rd, s, 2*time.Millisecond, 1)
				if rd.Processes != 1 {
					t.Errorf("the first report says %d engine processes started, want 1", rd.Processes)
				}
				for _, r := range rd.Results {
					if r.PortState != c.state {
						t.Errorf("%s: port state %q, want %q", r.Target, r.PortState, c.state)
					}
				}
				rd = h.next(1, 300*time.Millisecond)
				whole(t, rd, s, 2*time.Millisecond, 10) // 300 ms at 20 ms: 15 packets, give or take the edges
				if want := map[config.Mode]int{config.ModeRounds: 1, config.ModeContinuous: 0}[mode]; rd.Processes != want {
					t.Errorf("the second report says %d engine processes started, want %d", rd.Processes, want)
				}
				if starts, _ := h.net.counts(); (mode == config.ModeRounds) != (starts == 2) || starts > 2 {
					t.Errorf("%d engines started for two reports; want one per round, one in all in continuous mode", starts)
				}
				if mode == config.ModeRounds {
					if _, closed := h.net.counts(); closed != 2 {
						t.Errorf("%d of 2 round engines closed", closed)
					}
				}
			})
		}
	}
}

// TestSessionFaults: an engine that hangs, floods, breaks its protocol or
// dies while packets are in flight is killed, and costs the report it
// happened in only: every target with packets it had not decided fails
// with the reason (here every target: each always has packets in flight),
// a new engine serves the next report, and that report is whole. In
// continuous mode the restart is counted in the window and logged.
func TestSessionFaults(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault fault
		msg   string
	}{
		{"hang", fault{after: 6, hang: true}, "the hping3 engine stopped answering (no send record for 1s): killed"},
		{"flood", fault{after: 6, flood: true}, "the hping3 engine flooded: more than "},
		{"garbage", fault{after: 6, fail: errGarbage}, errGarbage.Error()},
		{"crash", fault{after: 6, fail: errCrash}, errCrash.Error()},
		{"unknown send", fault{after: 6, badID: true}, "the hping3 engine reported send 1073741824, which it was not given"},
		{"out of turn", fault{after: 6, outTurn: true}, "the hping3 engine answered out of turn"},
		{"unasked sync", fault{after: 6, syncNow: true}, "the hping3 engine answered out of turn"},
	} {
		for _, mode := range modes {
			t.Run(c.name+"/"+string(mode), func(t *testing.T) {
				net := newFakeNet(time.Millisecond)
				net.setFault(1, c.fault)
				h := newHarness(t, mode, net, threeTargets, fakeSettings())
				start := time.Now()
				rd := h.next(2, 50*time.Millisecond)
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("the report of the fault took %v", took)
				}
				for _, r := range rd.Results {
					if r.Code != probe.Failed || r.Err == nil || !strings.Contains(r.Err.Error(), c.msg) {
						t.Errorf("%s: code %d, err %v; want code 2 and %q", r.Target, r.Code, r.Err, c.msg)
					}
				}
				if mode == config.ModeContinuous {
					if rd.Restarts != 1 {
						t.Errorf("restarts %d, want 1", rd.Restarts)
					}
					for _, r := range rd.Results {
						if r.Err != nil && !strings.Contains(r.Err.Error(), "packets in flight are not counted, and the engine was started again") {
							t.Errorf("%s: %v; want the packets in flight said lost", r.Target, r.Err)
						}
					}
					if !strings.Contains(h.log.String(), "E! the hping3 engine failed and starts again in 200ms: "+c.msg) {
						t.Errorf("no E! line for the restart:\n%s", h.log.String())
					}
				}
				if _, closed := h.net.counts(); closed < 1 {
					t.Error("the failed engine was not closed")
				}
				after := h.next(2, 300*time.Millisecond)
				whole(t, after, fakeSettings(), time.Millisecond, 5)
				if after.Restarts != 0 {
					t.Errorf("restarts %d in the report after", after.Restarts)
				}
				if starts, _ := h.net.counts(); starts != 2 {
					t.Errorf("%d engines started, want the failed one and one more", starts)
				}
			})
		}
	}
}

// TestSessionLostSync: an engine that does not answer the sync that ends
// its session (a round's end; in continuous mode the end before a new
// session, here asked for as an address change asks) is killed a second
// later. Nothing it had answered is lost: every target keeps its
// measurement, and a new engine serves the next report.
func TestSessionLostSync(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			net := newFakeNet(time.Millisecond)
			net.setFault(1, fault{noSync: true})
			h := newHarness(t, mode, net, threeTargets, fakeSettings())
			start := time.Now()
			msg := "the hping3 engine did not answer for 1s at the end of the round: killed"
			if mode == config.ModeContinuous {
				msg = "E! the hping3 engine failed and starts again in 200ms: the hping3 engine did not answer for 1s before starting again with the new addresses: killed"
				waitFor(t, time.Second, "a first engine", func() bool { n, _ := net.counts(); return n == 1 })
				time.Sleep(100 * time.Millisecond)
				h.src.(*Stream).lanes[0].replan()
			}
			rd := h.next(2, 300*time.Millisecond)
			whole(t, rd, fakeSettings(), time.Millisecond, 5)
			if took := time.Since(start); took < hangTimeout {
				t.Errorf("the report came %v after the start, before the sync could be given up", took)
			}
			if net.syncsAsked() < 1 {
				t.Error("no sync was asked")
			}
			if mode == config.ModeRounds {
				rd = h.next(2, 0)
				whole(t, rd, fakeSettings(), time.Millisecond, 0)
			} else if rd.Restarts != 1 {
				t.Errorf("restarts %d, want 1; log:\n%s", rd.Restarts, h.log.String())
			}
			if !strings.Contains(h.log.String(), msg) && mode == config.ModeContinuous {
				t.Errorf("no line %q:\n%s", msg, h.log.String())
			}
			if starts, closed := net.counts(); starts != 2 || closed < 1 {
				t.Errorf("%d engines started, %d closed; want 2 and at least the first", starts, closed)
			}
		})
	}
}

// TestSessionLateAndDuplicates: every packet answered twice (2 and 3 ms
// after it went): received once, one duplicate each. Every packet answered
// only 1 ms after its 100 ms timeout (within the grace in which answers
// are still read): late, and lost.
func TestSessionLateAndDuplicates(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode)+"/duplicates", func(t *testing.T) {
			net := newFakeNet(0)
			net.setAnswer(func(p *packet.Probe) []reply {
				return []reply{{2 * time.Millisecond, targetReply(p)}, {3 * time.Millisecond, targetReply(p)}}
			})
			h := newHarness(t, mode, net, threeTargets, fakeSettings())
			rd := h.next(1, 300*time.Millisecond)
			for _, r := range rd.Results {
				if r.Code != probe.OK || r.Transmitted == 0 || r.Received != r.Transmitted || r.Duplicates != r.Transmitted || r.Loss != 0 || r.RTT == nil || r.RTT.Max != 2 {
					t.Errorf("%s: %+v (rtt %+v); want every packet received once at 2 ms, one duplicate each", r.Target, r, r.RTT)
				}
			}
		})
		t.Run(string(mode)+"/late", func(t *testing.T) {
			net := newFakeNet(101 * time.Millisecond)
			h := newHarness(t, mode, net, threeTargets, fakeSettings())
			rd := h.next(1, 400*time.Millisecond)
			for _, r := range rd.Results {
				if r.Code != probe.OK || r.Transmitted == 0 || r.Received != 0 || r.Late != r.Transmitted || r.Loss != 100 || r.RTT != nil {
					t.Errorf("%s: %+v; want every packet late and lost, no RTT", r.Target, r)
				}
			}
		})
	}
}

// TestSessionRefusedSend: the kernel refuses every packet to one target
// (the engine reports each send failed): that target fails with the reason
// and counts nothing sent; the others are whole.
func TestSessionRefusedSend(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			net := newFakeNet(time.Millisecond)
			net.setFault(1, fault{refuse: netip.MustParseAddr("127.0.0.2"), refusing: "Sending packet: Message too long"})
			h := newHarness(t, mode, net, threeTargets, fakeSettings())
			rd := h.next(1, 300*time.Millisecond)
			for _, r := range rd.Results {
				if r.Target != "127.0.0.2" {
					whole(t, Report{Window: rd.Window, Results: []probe.Result{r}, Packets: r.Transmitted}, fakeSettings(), time.Millisecond, 5)
					continue
				}
				if r.Code != probe.Failed || r.Err == nil || r.Err.Error() != "hping3 could not send the probe: Message too long" || r.Transmitted != 0 {
					t.Errorf("%s: code %d, err %v, %d sent", r.Target, r.Code, r.Err, r.Transmitted)
				}
			}
		})
	}
}

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
func (r *Runner) binary() string { return r.st.engines[0].bin }

func (s *Stream) binary() string { return s.st.engines[0].bin }

// TestSessionRateCap: 20 targets at 50 packets/s each ask for 1000/s;
// max_packet_rate is 100. A round spaces all its packets 10 ms apart; in
// continuous mode every interval is stretched 10 times, with a W! line.
// Either way no 100 ms sees more than 10 packets' slots (+1 for the
// window's edges, +2 for a late sender's catch-up). The fake stamps a
// packet when it is written, up to the mode's ahead (2 ms in a round, 20
// ms in continuous mode) before its slot: the bound is on 100 ms plus that.
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
			h.src = sourceOf(fakeSetup(cfg, net, h.log))
			t.Cleanup(h.src.Close)
			rd := h.next(1, 700*time.Millisecond)
			if mode == config.ModeContinuous && !strings.Contains(h.log.String(), "W! mode continuous: 20 targets and 0 path probes (one per TTL up to max_hops) at their intervals would send 1000 packets/s, more than max_packet_rate allows here (100/s): each target's interval is stretched 10.00 times") {
				t.Errorf("no W! line for the stretch:\n%s", h.log.String())
			}
			sent := net.packets()
			if len(sent) < 50 {
				t.Fatalf("%d packets sent", len(sent))
			}
			// A tenth of the 20 ms interval (roundAhead); continuous: of
			// the stretched 200 ms period (streamAhead).
			ahead := map[config.Mode]time.Duration{config.ModeRounds: 2 * time.Millisecond, config.ModeContinuous: 20 * time.Millisecond}[mode]
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
