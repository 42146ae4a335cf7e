// Command soak probes lab targets in continuous mode for a long time and
// checks that the plugin's core stays flat: its resident memory, goroutines
// and file descriptors, and its engine's (the one hping3 exec's) memory and
// CPU (`make soak-continuous`; needs root, ip and hping3). It builds the
// bench's lossless namespace lab, runs itself with -worker inside the
// client namespace, and there reads the core's windows (core.NewSource,
// mode continuous, as the Telegraf and OTLP front ends do) every -report,
// printing one row of figures every -sample. It exits 1 when a figure grew,
// the engine restarted, or a window failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/bench"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

func main() {
	var (
		worker   = flag.Bool("worker", false, "run the soak here (inside the lab's client namespace)")
		targets  = flag.Int("targets", 300, "lab targets")
		duration = flag.Duration("duration", time.Hour, "how long to probe")
		report   = flag.Duration("report", 10*time.Second, "time between reports (Telegraf's interval)")
		interval = flag.Duration("interval", time.Second, "time between one target's packets")
		sample   = flag.Duration("sample", time.Minute, "time between rows of figures")
	)
	flag.Parse()
	if *worker {
		os.Exit(soak(*targets, *duration, *report, *interval, *sample))
	}
	lab, err := bench.NewLab()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	self, err := os.Executable()
	if err != nil {
		lab.Close()
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	cmd := lab.Command(ctx, self, append([]string{"-worker"}, os.Args[1:]...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	stop()
	lab.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// row is one sample of the figures.
type row struct {
	at                   time.Duration
	packets, lost, fails int
	restarts             int
	goroutines, fds      int
	rss, heap            int64 // bytes
	engine               int   // pid
	engineRSS            int64 // bytes
	selfCPU, engineCPU   time.Duration
}

func soak(n int, duration, every, interval, sampleEvery time.Duration) int {
	core.OneProcessor() // as the plugin binary does
	s := config.DefaultSettings()
	s.Interval = interval
	cfg := &config.Config{MaxPacketRate: config.DefaultMaxPacketRate, Engine: config.EngineTcl, Mode: config.ModeContinuous,
		Groups: []config.Group{{Targets: bench.Targets(n), Settings: s}}}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	src := core.NewSource(cfg, logger.New(os.Stderr, false))
	defer src.Close()
	if !src.Continuous() {
		fmt.Fprintf(os.Stderr, "soak: the core gave a %T, not a continuous Stream\n", src)
		return 1
	}
	fmt.Printf("continuous soak: %d targets, one packet every %v each (%.0f packets/s), a report every %v, for %v\n",
		n, interval, float64(n)/interval.Seconds(), every, duration)
	fmt.Printf("%8s %9s %5s %5s %8s %10s %4s %8s %8s %10s %12s %12s\n",
		"minute", "packets", "lost", "fails", "restarts", "goroutines", "fds", "RSS MiB", "heap MiB", "engine MiB", "plugin CPU%", "engine CPU%")
	ctx := context.Background()
	start := time.Now()
	var rows []row
	cur := row{}
	failed := 0
	next := start.Add(every)
	nextSample := start.Add(sampleEvery)
	for time.Since(start) < duration {
		time.Sleep(time.Until(next))
		next = next.Add(every)
		rd := src.Next(ctx)
		if !rd.Window {
			fmt.Fprintln(os.Stderr, "soak: the report is not a continuous window")
			return 1
		}
		cur.packets += rd.Packets
		cur.restarts += rd.Restarts
		for _, r := range rd.Results {
			if r.Code != probe.OK {
				cur.fails++
				if failed < 10 {
					fmt.Fprintf(os.Stderr, "soak: %v: %s: result_code %d: %v\n", time.Since(start).Round(time.Second), r.Target, r.Code, r.Err)
				}
				failed++
				continue
			}
			cur.lost += r.Transmitted - r.Received
		}
		if time.Now().Before(nextSample) {
			continue
		}
		nextSample = nextSample.Add(sampleEvery)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		cur.at = time.Since(start)
		cur.goroutines, cur.fds = runtime.NumGoroutine(), countFDs()
		cur.rss, cur.heap = bench.VmRSS(os.Getpid()), int64(ms.HeapAlloc)
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		cur.selfCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if es := engines(); len(es) == 1 {
			cur.engine = es[0]
			cur.engineRSS, cur.engineCPU = bench.VmRSS(es[0]), cpuOf(es[0])
		} else {
			fmt.Fprintf(os.Stderr, "soak: %d hping3 children %v, want one engine\n", len(es), es)
		}
		prev := row{}
		if len(rows) > 0 {
			prev = rows[len(rows)-1]
		}
		span := cur.at - prev.at
		engCPU := cur.engineCPU - prev.engineCPU
		if cur.engine != prev.engine {
			engCPU = cur.engineCPU // a new engine: its CPU so far
		}
		fmt.Printf("%8.1f %9d %5d %5d %8d %10d %4d %8.1f %8.1f %10.1f %12.2f %12.2f\n",
			cur.at.Minutes(), cur.packets, cur.lost, cur.fails, cur.restarts, cur.goroutines, cur.fds,
			mib(cur.rss), mib(cur.heap), mib(cur.engineRSS),
			100*float64(cur.selfCPU-prev.selfCPU)/float64(span), 100*float64(engCPU)/float64(span))
		rows = append(rows, cur)
		cur = row{}
	}
	return verdict(rows)
}

// verdict compares the first rows after warm-up (the first tenth, at least
// one row) with the last and returns the exit status.
func verdict(rows []row) int {
	if len(rows) < 3 {
		fmt.Println("soak: fewer than 3 samples: nothing to compare")
		return 1
	}
	warm := max(1, len(rows)/10)
	first, last := rows[warm], rows[len(rows)-1]
	quarter := max(1, (len(rows)-warm)/4)
	// cpu is the engine's CPU per second over rows from..to (each against
	// the row before it, one engine process throughout).
	cpu := func(from, to int) float64 {
		var c, d time.Duration
		for i := max(from, 1); i <= to; i++ {
			if rows[i].engine == rows[i-1].engine {
				c += rows[i].engineCPU - rows[i-1].engineCPU
				d += rows[i].at - rows[i-1].at
			}
		}
		if d == 0 {
			return 0
		}
		return float64(c) / float64(d)
	}
	early, late := cpu(warm+1, warm+quarter), cpu(len(rows)-quarter, len(rows)-1)
	packets, lost, fails, restarts := 0, 0, 0, 0
	for _, r := range rows {
		packets += r.packets
		lost += r.lost
		fails += r.fails
		restarts += r.restarts
	}
	fmt.Printf("\nafter warm-up (%v) to the end (%v): RSS %.1f -> %.1f MiB, heap %.1f -> %.1f MiB, goroutines %d -> %d, fds %d -> %d, engine RSS %.1f -> %.1f MiB, engine CPU %.2f%% -> %.2f%% (first and last quarter)\n",
		first.at.Round(time.Second), last.at.Round(time.Second), mib(first.rss), mib(last.rss), mib(first.heap), mib(last.heap),
		first.goroutines, last.goroutines, first.fds, last.fds, mib(first.engineRSS), mib(last.engineRSS), 100*early, 100*late)
	fmt.Printf("%d packets, %d lost (the lab loses none: false loss), %d failed results, %d engine restarts\n", packets, lost, fails, restarts)
	var bad []string
	if last.rss > first.rss+5<<20 {
		bad = append(bad, fmt.Sprintf("RSS grew %.1f MiB", mib(last.rss-first.rss)))
	}
	if last.goroutines > first.goroutines+2 {
		bad = append(bad, fmt.Sprintf("goroutines grew %d -> %d", first.goroutines, last.goroutines))
	}
	if last.fds > first.fds+2 {
		bad = append(bad, fmt.Sprintf("descriptors grew %d -> %d", first.fds, last.fds))
	}
	if last.engineRSS > first.engineRSS+2<<20 {
		bad = append(bad, fmt.Sprintf("the engine's RSS grew %.1f MiB", mib(last.engineRSS-first.engineRSS)))
	}
	if late > early*1.25+0.002 {
		bad = append(bad, fmt.Sprintf("the engine's CPU grew %.2f%% -> %.2f%%", 100*early, 100*late))
	}
	if restarts > 0 || fails > 0 {
		bad = append(bad, fmt.Sprintf("%d engine restarts, %d failed results", restarts, fails))
	}
	if len(bad) > 0 {
		fmt.Println("NOT FLAT: " + strings.Join(bad, "; "))
		return 1
	}
	fmt.Println("flat")
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// engines lists this process's hping3 children.
func engines() []int {
	var out []int
	files, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + s + "/comm")
			if strings.TrimSpace(string(comm)) == "hping3" {
				if pid, err := strconv.Atoi(s); err == nil {
					out = append(out, pid)
				}
			}
		}
	}
	return out
}

// cpuOf is a process's user and system time (/proc/PID/stat, in clock
// ticks of 10 ms).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
