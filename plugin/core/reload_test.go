package core

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// withTargets is cfg with its one group's targets replaced: the same
// settings (and hping3 binary), so the targets in both are the same
// targets.
func withTargets(cfg *config.Config, targets ...string) *config.Config {
	n := *cfg
	n.Groups = []config.Group{cfg.Groups[0]}
	n.Groups[0].Targets = targets
	return &n
}

// A reload in continuous mode: the targets that stay lose no packet (every
// packet they sent long enough before the last window is in exactly one
// window, and none of their windows fails), the one removed leaves the
// reports at once, the one added reports from its first decided packet.
func TestStreamReloadKeepsStayingTargets(t *testing.T) {
	net := newFakeNet(5 * time.Millisecond)
	s := fakeSettings()
	h := newHarness(t, config.ModeContinuous, net, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, s)
	cfg := h.src.(*Stream).r.cfg

	var reports []Report
	reports = append(reports, h.next(1, 300*time.Millisecond))
	if err := h.src.(Reloader).Reload(withTargets(cfg, "127.0.0.2", "127.0.0.3", "127.0.0.4")); err != nil {
		t.Fatal(err)
	}
	if n := h.src.Targets(); n != 3 {
		t.Fatalf("%d targets after the reload, want 3", n)
	}
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		reports = append(reports, h.src.Next(context.Background()))
	}
	last := time.Now()

	counted := map[string]int{}
	for i, rd := range reports {
		seen := map[string]bool{}
		for _, r := range rd.Results {
			seen[r.Target] = true
			if r.Code != probe.OK {
				t.Errorf("window %d: %s failed: %v", i, r.Target, r.Err)
			}
			if r.Received != r.Transmitted {
				t.Errorf("window %d: %s: %d of %d received", i, r.Target, r.Received, r.Transmitted)
			}
			counted[r.Target] += r.Transmitted
		}
		if i > 0 && seen["127.0.0.1"] {
			t.Errorf("window %d: the removed target still reports", i)
		}
		if i == len(reports)-1 && (!seen["127.0.0.4"] || !seen["127.0.0.2"] || !seen["127.0.0.3"]) {
			t.Errorf("last window reports %v, want 127.0.0.2, .3 and .4", seen)
		}
	}
	// Every packet sent before the last window's undecided tail is counted
	// once: no more than were sent, no fewer than went before the tail.
	decidedBy := last.Add(-s.Timeout - captureGrace - 50*time.Millisecond)
	for _, target := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		all, early := 0, 0
		for _, p := range net.packets() {
			if p.probe.Dst.String() != target {
				continue
			}
			all++
			if p.at.Before(decidedBy) {
				early++
			}
		}
		if got := counted[target]; got < early || got > all {
			t.Errorf("%s: windows count %d packets; %d were sent, %d of them long enough before the last window", target, got, all, early)
		}
		if target != "127.0.0.4" && counted[target] < 40 {
			t.Errorf("%s: %d packets in 1.2 s at one per 20 ms", target, counted[target])
		}
	}
	// The reload's pause: a staying target's engine sends nothing while its
	// packets in flight are decided (a timeout and captureGrace), then
	// starts again at once.
	var prev time.Time
	longest := time.Duration(0)
	for _, p := range net.packets() {
		if p.probe.Dst.String() != "127.0.0.2" {
			continue
		}
		if !prev.IsZero() && p.at.Sub(prev) > longest {
			longest = p.at.Sub(prev)
		}
		prev = p.at
	}
	t.Logf("longest gap between two packets to a staying target: %v (period %v, timeout %v)", longest, s.Interval, s.Timeout)
	if max := s.Interval + s.Timeout + captureGrace + 150*time.Millisecond; longest > max {
		t.Errorf("a staying target sent nothing for %v across the reload, want at most %v", longest, max)
	}
	if !strings.Contains(h.log.String(), "started") {
		t.Log(h.log.String())
	}
}

// A reload that changes the mode is refused, and the old configuration
// keeps running; a rounds source takes a new configuration for its next
// round.
func TestReloadRefusesAModeChange(t *testing.T) {
	net := newFakeNet(5 * time.Millisecond)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, mode, net, []string{"127.0.0.1"}, fakeSettings())
			other := config.ModeRounds
			if mode == config.ModeRounds {
				other = config.ModeContinuous
			}
			var cfg *config.Config
			if st, ok := h.src.(*Stream); ok {
				cfg = st.r.cfg
			} else {
				cfg = h.src.(*rounds).r.cfg
			}
			bad := withTargets(cfg, "127.0.0.1", "127.0.0.2")
			bad.Mode = other
			err := h.src.(Reloader).Reload(bad)
			if err == nil || !strings.Contains(err.Error(), "mode changed from") {
				t.Fatalf("reload to mode %s: %v, want refused", other, err)
			}
			if n := h.src.Targets(); n != 1 {
				t.Errorf("%d targets after a refused reload, want 1", n)
			}
			if err := h.src.(Reloader).Reload(withTargets(cfg, "127.0.0.1", "127.0.0.2")); err != nil {
				t.Fatal(err)
			}
			if mode == config.ModeRounds {
				if rd := h.src.Next(context.Background()); len(rd.Results) != 2 {
					t.Errorf("round after the reload: %d results, want 2", len(rd.Results))
				}
			}
		})
	}
}

// A reload that changes nothing an engine probes (the same targets, in
// any order) leaves its session alone: no restart, no pause in sending.
func TestStreamReloadUnchangedKeepsTheEngine(t *testing.T) {
	net := newFakeNet(5 * time.Millisecond)
	h := newHarness(t, config.ModeContinuous, net, []string{"127.0.0.1", "127.0.0.2"}, fakeSettings())
	cfg := h.src.(*Stream).r.cfg
	h.next(1, 200*time.Millisecond)
	for _, order := range [][]string{{"127.0.0.1", "127.0.0.2"}, {"127.0.0.2", "127.0.0.1"}, {"127.0.0.1", "127.0.0.2"}} {
		if err := h.src.(Reloader).Reload(withTargets(cfg, order...)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if starts, _ := net.counts(); starts != 1 {
		t.Errorf("%d engine starts after three reloads that changed nothing, want 1", starts)
	}
	rd := h.src.Next(context.Background())
	for _, r := range rd.Results {
		if r.Code != probe.OK || r.Transmitted < 10 {
			t.Errorf("%s: code %d, %d packets in 500 ms at one per 20 ms", r.Target, r.Code, r.Transmitted)
		}
	}
}
