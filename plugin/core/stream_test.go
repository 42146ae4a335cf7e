package core

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// These tests run the continuous mode's real Tcl engine against loopback.

// streamOf starts a Stream on one group of targets.
func streamOf(t *testing.T, targets []string, f func(*config.Settings)) *Stream {
	t.Helper()
	requireHping3(t)
	s := config.DefaultSettings()
	s.Interval, s.Timeout = 50*time.Millisecond, 200*time.Millisecond
	f(&s)
	cfg := &config.Config{MaxPacketRate: 1000, Engine: config.EngineTcl, Mode: config.ModeContinuous,
		Groups: []config.Group{{Targets: targets, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src := NewSource(cfg, logger.Discard())
	st, ok := src.(*Stream)
	if !ok {
		t.Fatalf("NewSource in mode continuous gave a %T", src)
	}
	t.Cleanup(st.Close)
	return st
}

// TestStreamWindowsPartitionPackets: over windows of unequal lengths every
// packet is counted once: the windows' sums match the time probed at one
// packet per 50 ms, each window holds what its length allows, and every
// packet to loopback is answered.
func TestStreamWindowsPartitionPackets(t *testing.T) {
	st := streamOf(t, []string{"127.0.0.1"}, func(*config.Settings) {})
	first := st.Next(context.Background()) // waits for the first packets
	begin := first.Start
	total := first.Results[0].Transmitted
	for _, d := range []time.Duration{300 * time.Millisecond, 1200 * time.Millisecond, 700 * time.Millisecond} {
		time.Sleep(d)
		rd := st.Next(context.Background())
		r := rd.Results[0]
		if !rd.Window || r.Code != probe.OK {
			t.Fatalf("window: %+v (err %v)", rd, r.Err)
		}
		// A window of length d decides d / 50 ms packets, give or take
		// one at each edge.
		want := int(rd.Duration / (50 * time.Millisecond))
		if r.Transmitted < want-2 || r.Transmitted > want+2 || r.Received != r.Transmitted || r.Loss != 0 {
			t.Errorf("window of %v: %d sent, %d received; want %d +/- 2, all received", rd.Duration, r.Transmitted, r.Received, want)
		}
		if r.RTT == nil || r.RTT.Max > 50 || len(r.RTT.Samples) != r.Received {
			t.Errorf("window of %v: RTT %+v", rd.Duration, r.RTT)
		}
		if rd.Packets != r.Transmitted {
			t.Errorf("Packets %d, the result says %d", rd.Packets, r.Transmitted)
		}
		total += r.Transmitted
	}
	// Every packet decided until now (sent until 200 ms + grace ago).
	elapsed := time.Since(begin) - 220*time.Millisecond
	if want := int(elapsed / (50 * time.Millisecond)); total < want-2 || total > want+2 {
		t.Errorf("%d packets over %v, want %d +/- 2", total, elapsed, want)
	}
}

// TestStreamPeek: Peek shows the window so far without taking it. Its
// packets and RTTs are the first ones of the report that follows, in
// order, and the report after a Peek holds every packet of the window.
func TestStreamPeek(t *testing.T) {
	st := streamOf(t, []string{"127.0.0.1"}, func(*config.Settings) {})
	st.Next(context.Background())
	time.Sleep(500 * time.Millisecond)
	a := st.Peek().Results[0]
	time.Sleep(300 * time.Millisecond)
	b := st.Peek().Results[0]
	rd := st.Next(context.Background())
	w := rd.Results[0]
	// One packet per 50 ms of the window so far, give or take one at each
	// edge.
	if want := int(a.Duration / (50 * time.Millisecond)); a.Code != probe.OK || a.Transmitted < want-2 || a.Transmitted > want+2 || a.Received != a.Transmitted {
		t.Fatalf("peek %v into the window: %+v (err %v); want %d +/- 2 sent, all answered", a.Duration, a, a.Err, want)
	}
	if b.Transmitted < a.Transmitted+4 || w.Transmitted < b.Transmitted || w.Code != probe.OK {
		t.Errorf("peeks %d then %d sent, the window %d (%v): want each at least the one before", a.Transmitted, b.Transmitted, w.Transmitted, w.Err)
	}
	if want := int(rd.Duration / (50 * time.Millisecond)); w.Transmitted < want-2 || w.Transmitted > want+2 {
		t.Errorf("the window of %v after the peeks: %d sent, want %d +/- 2", rd.Duration, w.Transmitted, want)
	}
	if a.RTT == nil || w.RTT == nil || len(w.RTT.Samples) < len(a.RTT.Samples) {
		t.Fatalf("RTTs: peek %+v, window %+v", a.RTT, w.RTT)
	}
	for i, v := range a.RTT.Samples {
		if w.RTT.Samples[i] != v {
			t.Errorf("RTT %d: the peek saw %v ms, the window has %v", i, v, w.RTT.Samples[i])
		}
	}
	if p := st.Peek().Results[0]; p.Transmitted > 2 {
		t.Errorf("a peek right after the report: %d packets, want the new window's (at most 2)", p.Transmitted)
	}
}

// TestStreamPortStates: TCP SYNs and UDP datagrams to a loopback port
// nobody listens on: every packet is answered (RST, port unreachable) and
// the port reads closed.
func TestStreamPortStates(t *testing.T) {
	for _, proto := range []config.Protocol{config.TCP, config.UDP} {
		t.Run(string(proto), func(t *testing.T) {
			port := testbin.ClosedPort(t, proto == config.UDP)
			st := streamOf(t, []string{"127.0.0.1"}, func(s *config.Settings) { s.Protocol, s.Port = proto, port })
			st.Next(context.Background())
			time.Sleep(time.Second)
			r := st.Next(context.Background()).Results[0]
			if r.Code != probe.OK || r.Transmitted < 17 || r.Transmitted > 23 || r.Received != r.Transmitted || r.PortState != probe.PortClosed {
				t.Errorf("%s to closed port %d: %+v (err %v); want about 20 sent, all answered, closed", proto, port, r, r.Err)
			}
		})
	}
}

// TestStreamEngineKilled: SIGKILL to the engine mid-window. That window
// fails with the reason and counts one restart; the engine is back within a
// second and the window after is complete again.
func TestStreamEngineKilled(t *testing.T) {
	st := streamOf(t, []string{"127.0.0.1"}, func(*config.Settings) {})
	st.Next(context.Background())
	time.Sleep(300 * time.Millisecond)
	pid := engineChild(t)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	rd := st.Next(context.Background())
	r := rd.Results[0]
	if rd.Restarts != 1 || r.Code != probe.Failed || r.Err == nil || !strings.Contains(r.Err.Error(), "packets in flight are not counted") {
		t.Fatalf("window with the kill: restarts %d, code %d, err %v", rd.Restarts, r.Code, r.Err)
	}
	time.Sleep(time.Second)
	rd = st.Next(context.Background())
	r = rd.Results[0]
	if want := int(rd.Duration / (50 * time.Millisecond)); rd.Restarts != 0 || r.Code != probe.OK || r.Transmitted < want-2 || r.Received != r.Transmitted {
		t.Fatalf("window after: restarts %d, %+v (err %v); want %d +/- 2 sent, all received", rd.Restarts, r, r.Err, want)
	}
	if pid2 := engineChild(t); pid2 == pid {
		t.Errorf("engine pid %d unchanged", pid)
	}
}

// engineChild returns the pid of this process's hping3 child.
func engineChild(t *testing.T) int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + p + "/comm")
			if strings.TrimSpace(string(comm)) == "hping3" {
				pid, _ := strconv.Atoi(p)
				return pid
			}
		}
	}
	t.Fatal("no hping3 child")
	return 0
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
	cfg := h.src.(*Stream).st.cfg

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

// A reload that changes nothing an engine probes (the same targets, in
// any order) leaves its session alone: no restart, no pause in sending.
func TestStreamReloadUnchangedKeepsTheEngine(t *testing.T) {
	net := newFakeNet(5 * time.Millisecond)
	h := newHarness(t, config.ModeContinuous, net, []string{"127.0.0.1", "127.0.0.2"}, fakeSettings())
	cfg := h.src.(*Stream).st.cfg
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
	st := fakeSetup(fakeConfig(t, config.ModeContinuous, []string{"moves.test", "gone.test"}, fakeSettings()), net, h.log)
	st.resolver = dns
	h.src = sourceOf(st)
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
