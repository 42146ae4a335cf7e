package hardening

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// fastHPing3 answers like hping3 at once: header, a reply per packet, the
// statistics, exit 0.
const fastHPing3 = `package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	count, ip := 1, ""
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-c":
			count, _ = strconv.Atoi(args[i+1])
			i++
		case "--":
			ip = args[i+1]
			i++
		}
	}
	fmt.Printf("HPING %s (lo %s): icmp mode set, 28 headers + 0 data bytes\n", ip, ip)
	for seq := 0; seq < count; seq++ {
		fmt.Printf("len=28 ip=%s ttl=64 id=%d icmp_seq=%d rtt=0.1 ms\n", ip, seq, seq)
	}
	fmt.Fprintf(os.Stderr, "\n--- %s hping statistic ---\n%d packets transmitted, %d packets received, 0%% packet loss\nround-trip min/avg/max = 0.1/0.1/0.1 ms\n", ip, count, count)
}
`

// buildFastHPing3 compiles fastHPing3 into dir.
func buildFastHPing3(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "fast.go")
	if err := os.WriteFile(src, []byte(fastHPing3), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hping3-fast")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}
	return bin
}

// soakRounds is how many rounds TestSoak runs: 10,000 with HPING3_SOAK=1
// (make soak), fewer otherwise, so every CI run still checks for growth.
func soakRounds() int {
	if os.Getenv("HPING3_SOAK") != "" {
		return 10000
	}
	return 1000
}

// TestSoak runs many rounds in process against a fast stand-in and checks
// that goroutines, open files and resident memory stay flat.
func TestSoak(t *testing.T) {
	if testing.Short() && !testbin.InCI() {
		t.Skip("soak: not in -short")
	}
	n := soakRounds()
	dir := testbin.OpenDir(t)
	cfg := oneTarget(t, buildFastHPing3(t, dir), "127.0.0.1", "127.0.0.2")
	runner := core.New(cfg, logger.Discard())
	check := func(i int, rd core.Report) {
		for _, r := range rd.Results {
			if r.Code != probe.OK || r.Received != 2 {
				t.Fatalf("round %d: %s: code %d received %d err %v", i, r.Target, r.Code, r.Received, r.Err)
			}
		}
	}
	soakRuns(t, runner, n, check, "rounds of 2 targets")
}

// rss returns this process's resident set size in bytes.
func rss(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestTclSoak runs rounds on the real Tcl engine (a fresh hping3 exec per
// round) against loopback and checks that goroutines, open files, child
// processes and resident memory stay flat.
func TestTclSoak(t *testing.T) {
	testbin.RequireRoot(t)
	bin := testbin.RequireTool(t, "hping3")
	n := soakRounds() / 10
	cfg := oneTarget(t, bin, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	cfg.Engine = config.EngineTcl
	for _, p := range []config.Protocol{config.ICMP, config.TCP, config.UDP} {
		g := cfg.Groups[0]
		g.Settings.Protocol = p
		if p != config.ICMP {
			g.Settings.Port = 9
		}
		cfg.Groups = append(cfg.Groups, g)
	}
	cfg.Groups = cfg.Groups[1:]
	runner := core.New(cfg, logger.Discard())
	check := func(i int, rd core.Report) {
		for _, r := range rd.Results {
			if r.Code != probe.OK || r.Received != 2 {
				t.Fatalf("round %d: %s %s: code %d received %d err %v", i, r.Protocol, r.Target, r.Code, r.Received, r.Err)
			}
		}
	}
	soakRuns(t, runner, n, check, "Tcl-engine rounds of 9 probes")
}

// soakRuns runs n rounds, the first tenth to warm up, and fails when the
// goroutines, descriptors, children or resident memory of the rest grew.
func soakRuns(t *testing.T, runner *core.Runner, n int, check func(int, core.Report), what string) {
	t.Helper()
	ctx := context.Background()
	warm := n / 10
	for i := 0; i < warm; i++ {
		check(i, runner.Run(ctx))
	}
	runtime.GC()
	before, rss0 := take(), rss(t)
	start := time.Now()
	for i := warm; i < n; i++ {
		check(i, runner.Run(ctx))
	}
	took := time.Since(start)
	runtime.GC()
	after := checkNoLeak(t, before, 2)
	rss1 := rss(t)
	t.Logf("%d %s (%d measured) in %v (%.1f ms per round): goroutines %d -> %d, fds %d -> %d, children %d -> %d, RSS %.1f -> %.1f MB",
		n, what, n-warm, took.Round(time.Millisecond), float64(took.Milliseconds())/float64(n-warm),
		before.goroutines, after.goroutines, before.fds, after.fds, len(before.children), len(after.children),
		float64(rss0)/(1<<20), float64(rss1)/(1<<20))
	if rss1 > rss0+20<<20 {
		t.Errorf("resident memory grew by %.1f MB over %d rounds", float64(rss1-rss0)/(1<<20), n-warm)
	}
}
