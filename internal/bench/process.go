package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// The whole-process mode runs the plugin as its users do, the real binary
// built from the tree, inside the lab's client namespace, and measures it
// from outside as a whole process tree (Tree): wall time from start to
// exit, and the CPU of the plugin and every hping3 it ran. fping and
// Telegraf are measured the same way, right after it, on the same targets.

// Steady is one continuous run: Targets lab targets, one packet each every
// Interval, for Duration, a report requested every Report.
type Steady struct {
	Targets       int
	Interval      time.Duration
	Duration      time.Duration
	Report        time.Duration
	MaxPacketRate int // the plugin's max_packet_rate; 0: its default
	// TCP: SYNs to port TCPPort instead of ICMP echo requests. The lab's
	// target answers each with an RST (nobody listens); fping has no TCP.
	TCP bool
}

// TCPPort is the port the TCP runs probe: closed in the lab's target.
const TCPPort = 9

// RateKey is the top-level max_packet_rate line of a plugin configuration,
// "" for the default.
func RateKey(rate int) string {
	if rate <= 0 {
		return ""
	}
	return fmt.Sprintf("max_packet_rate = %d\n", rate)
}

// Rate is the packet rate of the run.
func (s Steady) Rate() float64 { return float64(s.Targets) / s.Interval.Seconds() }

// ProcSample is what one tool's whole process tree did in one run.
type ProcSample struct {
	Tool     string
	Wall     time.Duration // start to exit
	CPU      time.Duration // user + system of the whole tree (Tree)
	Orphans  int           // processes left running when the tool exited
	Sent     int           // packets the tool reported sent
	Received int           // and answered
	Failed   int           // results with an error (plugin: result_code other than 0)
	Reports  int           // windows written (plugin, continuous)
	// FalseLoss is the number of targets short of replies (rounds).
	FalseLoss int
	Lossy     []string
	// PluginCPU is the plugin process's own user + system time, without its
	// hping3, read from /proc/PID/stat (10 ms ticks) just before it was
	// stopped; -1 when not read. The rest of CPU is hping3's.
	PluginCPU time.Duration
	PeakRSS   int64 // KiB, the tool's own VmHWM
	ChildRSS  int64 // KiB, the largest hping3's VmHWM (plugin)
	Engine    config.Engine
	Wire      *WireCheck // the RTTs against tcpdump's (Params.Tcpdump)
	// CaptureDrops is what the plugin's reports said its capture dropped
	// (capture_drops of its hping3_round lines, continuous); -1: not read.
	CaptureDrops int
}

// Lost is the packets sent and not answered.
func (s ProcSample) Lost() int { return s.Sent - s.Received }

// PluginConfig writes the TOML settings of one table probing targets (a
// file, as a user would: one --target flag each would make as many
// tables): top-level keys top, then the table with its keys table.
func PluginConfig(dir, top string, targets []string, table string) (string, error) {
	var b strings.Builder
	b.WriteString(top)
	b.WriteString("[[inputs.hping3]]\n  targets = [")
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	b.WriteString(table)
	path := filepath.Join(dir, fmt.Sprintf("plugin-%d.conf", len(targets)))
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// RunSteadyPlugin runs the plugin binary bin in its default Telegraf execd
// mode, mode continuous, on p.Targets lab targets for p.Duration. Like
// Telegraf with signal = "STDIN" it writes a line to the plugin's stdin
// every p.Report and once more at the end, waits for that window, then
// stops the plugin with SIGTERM (as Telegraf does), so that it stops and
// reaps its hping3 and their time is counted. dir holds the settings.
func (l *Lab) RunSteadyPlugin(ctx context.Context, bin, dir string, p Steady) (ProcSample, error) {
	targets := Targets(p.Targets)
	table := fmt.Sprintf("  interval = %q\n", p.Interval.String())
	if p.TCP {
		table += fmt.Sprintf("  protocol = \"tcp\"\n  port = %d\n", TCPPort)
	}
	conf, err := PluginConfig(dir, RateKey(p.MaxPacketRate), targets, table)
	if err != nil {
		return ProcSample{}, err
	}
	cmd := l.Command(ctx, bin, "--config", conf, "--mode", "continuous")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return ProcSample{}, err
	}
	windows := make(chan struct{}, 64)
	out := &lineWriter{windows: windows}
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	tree, err := StartTree(cmd)
	if err != nil {
		return ProcSample{}, err
	}
	pid := cmd.Process.Pid // `ip netns exec` execs the plugin: its pid
	stopWatch := Watch(pid, "", "hping3", 100*time.Millisecond)

	start := time.Now()
	requests := 0
	request := func() error {
		requests++
		_, err := io.WriteString(stdin, "\n")
		return err
	}
	var werr error
	for at := p.Report; at < p.Duration && werr == nil; at += p.Report {
		time.Sleep(time.Until(start.Add(at)))
		werr = request()
	}
	if werr == nil {
		time.Sleep(time.Until(start.Add(p.Duration)))
		werr = request()
	}
	// Wait for the last window (it returns at once), then stop.
	seen := 0
	timeout := time.After(5 * time.Second)
wait:
	for seen < requests && werr == nil {
		select {
		case <-windows:
			seen++
		case <-timeout:
			break wait
		}
	}
	pluginCPU := time.Duration(-1)
	if c, ok := ticksCPU(pid); ok {
		pluginCPU = c
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	u, err := tree.Wait()
	stdin.Close()
	own, child := stopWatch()
	counts := out.total // cmd.Wait has copied all of stdout
	tool := "hping3-plugin (continuous)"
	if p.TCP {
		tool = "hping3-plugin (continuous, tcp)"
	}
	s := ProcSample{Tool: tool, Wall: u.Wall, CPU: u.CPU, Orphans: u.Orphans,
		Sent: counts.sent, Received: counts.received, Failed: counts.failed, Reports: counts.windows,
		PluginCPU: pluginCPU, PeakRSS: own, ChildRSS: child, CaptureDrops: counts.drops}
	s.Engine, _ = EngineOf(stderr.String())
	writeProblems(stderr.String())
	if err != nil {
		return s, fmt.Errorf("hping3-plugin, %d targets: %v: %s", p.Targets, err, firstLines(stderr.String()))
	}
	if werr != nil {
		return s, fmt.Errorf("hping3-plugin, %d targets: writing a request: %v: %s", p.Targets, werr, firstLines(stderr.String()))
	}
	if seen < requests {
		return s, fmt.Errorf("hping3-plugin, %d targets: %d windows for %d requests", p.Targets, seen, requests)
	}
	return s, nil
}

// RunSteadyFping runs `fping -l -p INTERVAL -i 1 -Q REPORT` on the same
// targets for p.Duration and stops it with SIGINT (its own way to stop,
// printing the totals): every target once per interval, 1 ms apart, quiet
// but for a summary every report period, as the plugin's windows. (fping
// 5.1 prints every reply with -l even when given -q; -Q is its quiet loop.)
func (l *Lab) RunSteadyFping(ctx context.Context, p Steady) (ProcSample, error) {
	targets := Targets(p.Targets)
	args := []string{"-l", "-p", strconv.Itoa(int(p.Interval / time.Millisecond)), "-i", "1",
		"-Q", strconv.Itoa(max(1, int(p.Report/time.Second)))}
	name := "fping " + strings.Join(args, " ")
	cmd := l.Command(ctx, "fping", append(args, targets...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	tree, err := StartTree(cmd)
	if err != nil {
		return ProcSample{}, err
	}
	stopWatch := Watch(cmd.Process.Pid, "fping", "", 100*time.Millisecond)
	time.Sleep(p.Duration)
	_ = cmd.Process.Signal(syscall.SIGINT)
	u, err := tree.Wait()
	own, _ := stopWatch()
	s := ProcSample{Tool: name, Wall: u.Wall, CPU: u.CPU, Orphans: u.Orphans, PluginCPU: -1, PeakRSS: own}
	// fping exits 1 when a target lost a packet: a result, not a failure.
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() > 1 {
		return s, fmt.Errorf("%s: %v: %s", name, err, firstLines(stderr.String()))
	}
	totals := ParseFpingLoop(stderr.String())
	for _, t := range targets {
		c, ok := totals[t]
		if !ok {
			s.Failed++
			continue
		}
		s.Sent += c[0]
		s.Received += c[1]
	}
	return s, nil
}

// ParseFpingLoop reads fping's loop summaries
// ("198.19.0.1 : xmt/rcv/%loss = 20/20/0%, min/avg/max = ..."): per target
// the last one, the totals fping prints as it stops, as {sent, received}.
func ParseFpingLoop(out string) map[string][2]int {
	got := map[string][2]int{}
	for _, line := range strings.Split(out, "\n") {
		host, rest, ok := strings.Cut(line, " : xmt/rcv/%loss = ")
		if !ok {
			continue
		}
		f := strings.SplitN(strings.SplitN(rest, ",", 2)[0], "/", 3)
		if len(f) != 3 {
			continue
		}
		xmt, err1 := strconv.Atoi(f[0])
		rcv, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			got[strings.TrimSpace(host)] = [2]int{xmt, rcv}
		}
	}
	return got
}

// RunPluginOnce runs `hping3-plugin --once` (one round of p: count packets
// interval apart) on the lab targets as a whole process: the round as its
// user waits for it, start-up included, and the CPU of the plugin and its
// hping3. dir holds the settings.
func (l *Lab) RunPluginOnce(ctx context.Context, bin, dir string, p Params) (ProcSample, error) {
	targets := Targets(p.Targets)
	top := RateKey(p.MaxPacketRate)
	if p.Engine != "" {
		top += fmt.Sprintf("engine = %q\n", p.Engine)
	}
	conf, err := PluginConfig(dir, top, targets, fmt.Sprintf("  count = %d\n  interval = %q\n", p.Count, p.Interval.String()))
	if err != nil {
		return ProcSample{}, err
	}
	var stopDump func() (int, error)
	pcap := filepath.Join(dir, "round.pcap")
	if p.Tcpdump {
		if stopDump, err = l.tcpdump(ctx, pcap); err != nil {
			return ProcSample{}, err
		}
	}
	cmd := l.Command(ctx, bin, "--once", "--config", conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	tree, err := StartTree(cmd)
	if err != nil {
		if stopDump != nil {
			stopDump()
		}
		return ProcSample{}, err
	}
	stopWatch := Watch(cmd.Process.Pid, "", "hping3", 20*time.Millisecond)
	u, err := tree.Wait()
	own, child := stopWatch()
	drops, dumpErr := 0, error(nil)
	if stopDump != nil {
		drops, dumpErr = stopDump()
	}
	writeProblems(stderr.String())
	s := ProcSample{Tool: "hping3-plugin --once", Wall: u.Wall, CPU: u.CPU, Orphans: u.Orphans, PluginCPU: -1,
		PeakRSS: own, ChildRSS: child}
	s.Engine, _ = EngineOf(stderr.String())
	if err != nil {
		return s, fmt.Errorf("hping3-plugin --once, %d targets: %v: %s", p.Targets, err, firstLines(stderr.String()))
	}
	per := parsePluginLines(stdout.String())
	if p.Tcpdump {
		if dumpErr != nil {
			return s, dumpErr
		}
		w, err := checkWire(pcap, per, drops)
		os.Remove(pcap)
		if err != nil {
			return s, err
		}
		s.Wire = &w
	}
	for _, t := range targets {
		c, ok := per[t]
		s.Sent += c.sent
		s.Received += c.received
		s.Failed += c.failed
		if !ok || c.failed > 0 || c.received < p.Count {
			s.FalseLoss++
			if len(s.Lossy) < 5 {
				s.Lossy = append(s.Lossy, fmt.Sprintf("%s: %d/%d received, result_code %d", t, c.received, c.sent, c.code))
			}
		}
	}
	return s, nil
}

// FromSample turns an fping or Telegraf round (RunFping, RunTelegraf: whole
// processes without children) into a ProcSample.
func FromSample(s Sample) ProcSample {
	return ProcSample{Tool: s.Tool, Wall: s.Wall, CPU: s.TotalCPU, FalseLoss: s.FalseLoss, Lossy: s.Lossy,
		PluginCPU: -1, PeakRSS: s.PeakRSS}
}

// lineCounts is what the plugin's line protocol said.
type lineCounts struct {
	sent, received, failed, windows int
	drops                           int // capture_drops of the hping3_round lines
	code                            int
	average                         float64 // average_response_ms, the last line's that had one
	averaged                        bool    // a line had one
}

// lineWriter is the plugin's stdout in continuous mode: it adds up the
// packets of its hping3 lines and signals windows once per report (its
// hping3_round line). cmd.Wait copies into it from one goroutine.
type lineWriter struct {
	windows chan<- struct{}
	partial []byte
	total   lineCounts
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if strings.HasPrefix(line, "hping3_round") {
			w.total.windows++
			w.total.drops += roundDrops(line)
			select {
			case w.windows <- struct{}{}:
			default:
			}
			continue
		}
		if c, _, ok := parsePluginLine(line); ok {
			w.total.sent += c.sent
			w.total.received += c.received
			w.total.failed += c.failed
		}
	}
}

// roundDrops is the capture_drops field of an hping3_round line (0
// without one).
func roundDrops(line string) int {
	_, fields, _ := splitLine(line)
	for _, kv := range fields {
		if v, ok := strings.CutPrefix(kv, "capture_drops="); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(v, "i"))
			return n
		}
	}
	return 0
}

// splitLine is a line of the line protocol cut into its measurement and
// tags ("hping3,k=v,...") and its fields ("k=v"), ok false when it has no
// fields. Tag and field values here are plain lab addresses and numbers,
// so no escaping is undone.
func splitLine(line string) (tags, fields []string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil, nil, false
	}
	return strings.Split(f[0], ","), strings.Split(f[1], ","), true
}

// parsePluginLines sums the plugin's hping3 lines per target tag.
func parsePluginLines(out string) map[string]lineCounts {
	per := map[string]lineCounts{}
	for _, line := range strings.Split(out, "\n") {
		c, target, ok := parsePluginLine(line)
		if !ok {
			continue
		}
		t := per[target]
		t.sent += c.sent
		t.received += c.received
		t.failed += c.failed
		t.code = max(t.code, c.code)
		if c.averaged {
			t.average, t.averaged = c.average, true
		}
		per[target] = t
	}
	return per
}

// parsePluginLine reads one hping3 line of the line protocol ("hping3,...,
// target=198.19.0.1 packets_transmitted=3i,packets_received=3i,...,
// result_code=0i TS"): its packets and whether it failed. Tag values here
// are plain lab addresses, so no escaping is undone.
func parsePluginLine(line string) (c lineCounts, target string, ok bool) {
	if !strings.HasPrefix(line, "hping3,") {
		return c, "", false
	}
	tags, fields, ok := splitLine(line)
	if !ok {
		return c, "", false
	}
	for _, kv := range tags[1:] {
		if v, found := strings.CutPrefix(kv, "target="); found {
			target = v
		}
	}
	for _, kv := range fields {
		k, v, found := strings.Cut(kv, "=")
		if !found {
			continue
		}
		if k == "average_response_ms" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				c.average, c.averaged = f, true
			}
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(v, "i"))
		if err != nil {
			continue
		}
		switch k {
		case "packets_transmitted":
			c.sent = n
		case "packets_received":
			c.received = n
		case "result_code":
			c.code = n
			if n != 0 {
				c.failed = 1
			}
		}
	}
	return c, target, target != ""
}

// ticksCPU is a process's own user + system time from /proc/PID/stat
// (clock ticks of 10 ms), without its children's.
func ticksCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}

// writeProblems copies the plugin's warnings and errors to stderr.
func writeProblems(log string) {
	for _, l := range strings.SplitAfter(log, "\n") {
		if l != "" && !strings.HasPrefix(l, "I! ") {
			os.Stderr.WriteString(l)
		}
	}
}
