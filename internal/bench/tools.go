package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RunFping runs `fping -C count -p interval -q [extra...] targets` in the
// client namespace: one raw socket for every target, the practical floor.
func (l *Lab) RunFping(ctx context.Context, p Params, extra ...string) (Sample, error) {
	targets := Targets(p.Targets)
	args := append([]string{"-C", strconv.Itoa(p.Count), "-p", strconv.Itoa(int(p.Interval / time.Millisecond)), "-q"}, extra...)
	name := "fping " + strings.Join(args, " ")
	cmd := l.Command(ctx, "fping", append(args, targets...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	wall, peak, err := runWatched(cmd, "fping")
	// fping exits 1 when any target lost a packet: that is a result, not a failure.
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() > 1 {
		return Sample{}, fmt.Errorf("%s: %v: %s", name, err, firstLines(stderr.String()))
	}
	s := Sample{Tool: name, Wall: wall}
	s.addUsage(cmd.ProcessState.SysUsage(), peak)
	got := ParseFping(stderr.String(), p.Count)
	s.countLoss(targets, got, p.Count)
	return s, nil
}

// ParseFping reads fping -C output ("198.19.0.1 : 0.05 0.04 -"): replies
// received per target.
func ParseFping(out string, count int) map[string]int {
	got := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		host, rest, ok := strings.Cut(line, " : ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != count {
			continue
		}
		n := 0
		for _, v := range f {
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				n++
			}
		}
		got[strings.TrimSpace(host)] = n
	}
	return got
}

// RunTelegraf runs `telegraf --once` with inputs.ping (method "native") on
// the targets in the client namespace and times the whole process: Telegraf
// cannot be timed from outside any closer than that. dir holds the config.
func (l *Lab) RunTelegraf(ctx context.Context, telegraf, dir string, p Params) (Sample, error) {
	targets := Targets(p.Targets)
	conf := filepath.Join(dir, fmt.Sprintf("telegraf-%d.conf", p.Targets))
	if err := os.WriteFile(conf, []byte(TelegrafConfig(targets, p)), 0o644); err != nil {
		return Sample{}, err
	}
	cmd := l.Command(ctx, telegraf, "--config", conf, "--once")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	wall, peak, err := runWatched(cmd, "telegraf")
	if err != nil {
		return Sample{}, fmt.Errorf("telegraf --once: %v: %s", err, firstLines(stderr.String()))
	}
	s := Sample{Tool: "telegraf inputs.ping (native)", Wall: wall}
	s.addUsage(cmd.ProcessState.SysUsage(), peak)
	s.countLoss(targets, ParseTelegraf(stdout.String()), p.Count)
	return s, nil
}

// TelegrafConfig is inputs.ping set up like the plugin's probe: count
// packets interval apart, one second's wait for a reply.
func TelegrafConfig(targets []string, p Params) string {
	var b strings.Builder
	b.WriteString("[agent]\n  omit_hostname = true\n  quiet = true\n\n")
	b.WriteString("[[outputs.file]]\n  files = [\"stdout\"]\n  data_format = \"influx\"\n\n")
	b.WriteString("[[inputs.ping]]\n  method = \"native\"\n")
	fmt.Fprintf(&b, "  count = %d\n  ping_interval = %g\n  timeout = 1.0\n  urls = [", p.Count, p.Interval.Seconds())
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	return b.String()
}

// ParseTelegraf reads inputs.ping lines
// ("ping,url=198.19.0.1 packets_received=3i,... TS"): replies per url.
func ParseTelegraf(out string) map[string]int {
	got := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "ping,") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var url string
		for _, kv := range strings.Split(f[0], ",")[1:] {
			if v, ok := strings.CutPrefix(kv, "url="); ok {
				url = v
			}
		}
		for _, kv := range strings.Split(f[1], ",") {
			if v, ok := strings.CutPrefix(kv, "packets_received="); ok {
				if n, err := strconv.Atoi(strings.TrimSuffix(v, "i")); err == nil && url != "" {
					got[url] = n
				}
			}
		}
	}
	return got
}

// runWatched runs cmd (`ip netns exec`, which execs the tool in its own
// process) and returns its wall time and the VmHWM in KiB of the tool named
// name, read every 10 ms (0 when never read).
func runWatched(cmd *exec.Cmd, name string) (time.Duration, int64, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	stop := Watch(cmd.Process.Pid, name, "", 10*time.Millisecond)
	err := cmd.Wait()
	wall := time.Since(start)
	peak, _ := stop()
	return wall, peak, err
}

// addUsage takes the tool's CPU from its rusage and its peak RSS from peak
// (its VmHWM); ru_maxrss only when peak was never read, as it holds at
// least this bench's own RSS (see Watch).
func (s *Sample) addUsage(u any, peak int64) {
	if ru, ok := u.(*syscall.Rusage); ok {
		s.SelfCPU = cpu(ru)
		s.TotalCPU = s.SelfCPU
		s.PeakRSS = ru.Maxrss
	}
	if peak > 0 {
		s.PeakRSS = peak
	}
}

// countLoss counts targets with fewer than count replies (a missing target
// counts as lost).
func (s *Sample) countLoss(targets []string, got map[string]int, count int) {
	for _, t := range targets {
		if n, ok := got[t]; !ok || n < count {
			s.FalseLoss++
			if len(s.Lossy) < 5 {
				s.Lossy = append(s.Lossy, fmt.Sprintf("%s: %d/%d received", t, n, count))
			}
		}
	}
}

func firstLines(s string) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", 4)
	if len(lines) > 3 {
		lines = lines[:3]
	}
	return strings.Join(lines, " | ")
}
