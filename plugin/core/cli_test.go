package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

type span struct {
	ip          string
	base, count int
	start, end  int64
}

func readSpans(t *testing.T, log string) []span {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	byPid := map[string]*span{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l) // start|end PID IP BASE COUNT NS
		if len(f) != 6 {
			t.Fatalf("bad log line %q", l)
		}
		s := byPid[f[1]]
		if s == nil {
			s = &span{ip: f[2]}
			s.base, _ = strconv.Atoi(f[3])
			s.count, _ = strconv.Atoi(f[4])
			byPid[f[1]] = s
		}
		ns, _ := strconv.ParseInt(f[5], 10, 64)
		if f[0] == "start" {
			s.start = ns
		} else {
			s.end = ns
		}
	}
	var out []span
	for _, s := range byPid {
		if s.start == 0 || s.end == 0 {
			t.Fatalf("unfinished stand-in run %+v", s)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// TestSchedulerBounds runs 30 probes through a stand-in hping3 and checks,
// from the stand-in's own log, the scheduler's promises: at most
// `concurrency` processes at once, never two on one target, and disjoint
// source ports for processes that overlap.
func TestSchedulerBounds(t *testing.T) {
	bin, log := standIn(t, "0.2")
	s := config.DefaultSettings()
	// The stand-in's 0.2 s must fit before the plugin's SIGINT, due when
	// the last packet (20 ms after the header) is Timeout old.
	s.HPing3, s.Count, s.Interval, s.Timeout, s.Concurrency = bin, 3, 10*time.Millisecond, 500*time.Millisecond, 4
	var targets []string
	for i := 1; i <= 24; i++ {
		targets = append(targets, fmt.Sprintf("127.0.0.%d", i))
	}
	targets = append(targets, "localhost", "127.0.0.1") // "localhost" is 127.0.0.1 too; the repeat is dropped
	other := s
	other.Concurrency = 2
	cfg := &config.Config{MaxPacketRate: 1000, Groups: []config.Group{
		{Targets: targets, Settings: s},
		{Targets: []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}, Settings: other},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	rd := New(cfg, logger.New(&stderr, false)).Run(context.Background())
	if len(rd.Results) != 30 || rd.Processes != 30 {
		t.Fatalf("%d results, %d processes; want 30 and 30", len(rd.Results), rd.Processes)
	}
	if !strings.Contains(stderr.String(), `W! target "127.0.0.1" is listed twice`) {
		t.Errorf("no warning for the repeated target: %q", stderr.String())
	}
	for _, r := range rd.Results {
		if r.Code != probe.OK || r.Received != 3 {
			t.Errorf("%s: code %d received %d err %v", r.Target, r.Code, r.Received, r.Err)
		}
	}
	spans := readSpans(t, log)
	if len(spans) != 30 {
		t.Fatalf("%d stand-in runs logged, want 30", len(spans))
	}
	maxAt := 0
	for i, a := range spans {
		at := 1
		for j, b := range spans {
			if i == j || b.start > a.start || b.end <= a.start {
				continue
			}
			at++ // b runs when a starts
			if a.ip == b.ip {
				t.Errorf("two processes on %s at once", a.ip)
			}
			if a.base <= b.base+b.count-1 && b.base <= a.base+a.count-1 {
				t.Errorf("overlapping processes share source ports: %d+%d and %d+%d", a.base, a.count, b.base, b.count)
			}
		}
		maxAt = max(maxAt, at)
	}
	// The global bound is the largest group bound (4); the 2-bound group
	// can only lower it.
	if maxAt > 4 || maxAt < 2 {
		t.Errorf("at most %d processes ran at once; want 2..4", maxAt)
	}
}

// TestSchedulerRateCap: with a total cap of 150 packets/s and 100 packets/s
// per target, only one probe may run at a time.
func TestSchedulerRateCap(t *testing.T) {
	bin, log := standIn(t, "0.1")
	s := config.DefaultSettings()
	s.HPing3, s.Count, s.Interval, s.Timeout, s.Concurrency = bin, 2, 10*time.Millisecond, 300*time.Millisecond, 8
	cfg := &config.Config{MaxPacketRate: 150, Groups: []config.Group{{Targets: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, Settings: s}}}
	rd := New(cfg, logger.Discard()).Run(context.Background())
	spans := readSpans(t, log)
	if len(spans) != 4 || len(rd.Results) != 4 || rd.Failures != 0 {
		t.Fatalf("%d probes ran, %d results, %d failures; want 4, 4, 0", len(spans), len(rd.Results), rd.Failures)
	}
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			t.Errorf("probes %d and %d overlap under a rate cap that allows one", i-1, i)
		}
	}
}

// TestRunCancel: a cancelled round ends promptly, every target still has a
// result, and the stand-in processes are gone.
func TestRunCancel(t *testing.T) {
	bin, _ := standIn(t, "30")
	s := config.DefaultSettings()
	s.HPing3, s.Count, s.Interval, s.Concurrency = bin, 2, 100*time.Millisecond, 2
	cfg := &config.Config{MaxPacketRate: 1000, Groups: []config.Group{{Targets: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, Settings: s}}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rd := New(cfg, logger.Discard()).Run(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled round took %v", took)
	}
	if len(rd.Results) != 3 || rd.Failures != 3 {
		t.Fatalf("results %d failures %d", len(rd.Results), rd.Failures)
	}
	for _, r := range rd.Results {
		if r.Code != probe.Failed || !strings.Contains(r.Err.Error(), "cancelled") {
			t.Errorf("%s: %d %v", r.Target, r.Code, r.Err)
		}
	}
	if n := countProcs(t, bin); n != 0 {
		t.Errorf("%d stand-in processes left", n)
	}
}

// countProcs counts processes whose command line mentions path.
func countProcs(t *testing.T, path string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmd), path) {
			n++
		}
	}
	return n
}

// standIn writes the stand-in hping3 into a temp dir and returns its path
// and the path of the log it appends to.
func standIn(t *testing.T, sleep string) (bin, log string) {
	t.Helper()
	src, err := os.ReadFile("testdata/stand-in-hping3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	text := strings.NewReplacer("@LOG@", log, "@SLEEP@", sleep).Replace(string(src))
	bin = filepath.Join(dir, "hping3")
	if err := os.WriteFile(bin, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}
