package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/execd"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Params describe one measured round.
type Params struct {
	Targets       int
	Count         int
	Interval      time.Duration
	Concurrency   int // 0: config.DefaultConcurrency
	MaxPacketRate int // 0: config.DefaultMaxPacketRate
	// Engine is how the plugin drives hping3: config.EngineTcl (one
	// `hping3 exec` for every target) or config.EngineCLI (one hping3 per
	// target, concurrency at once); "" is the plugin's default (auto).
	Engine config.Engine
	// Tcpdump: RunPluginOnce also captures c0 with tcpdump and compares
	// each target's average RTT with the capture's (WireCheck).
	Tcpdump bool
}

// PacketRate is the packet rate cap the round runs under.
func (p Params) PacketRate() int {
	if p.MaxPacketRate > 0 {
		return p.MaxPacketRate
	}
	return config.DefaultMaxPacketRate
}

// Sample is what one tool did in one round on the same targets.
type Sample struct {
	Tool      string
	Wall      time.Duration // the round, as the tool's user waits for it
	FalseLoss int           // targets with fewer replies than packets sent, or no result
	Lossy     []string      // the first few of them, for the report
	SelfCPU   time.Duration // the tool's own user+system time (for the plugin: without hping3)
	TotalCPU  time.Duration // including every process the tool started
	PeakRSS   int64         // KiB, the tool's own process: its VmHWM (see Watch)
	// Plugin only.
	ChildRSS  int64 // KiB, the largest hping3's VmHWM, read from outside by Watch; 0: not watched
	Processes int
	Failures  int
	MaxRTT    time.Duration // the slowest single reply: the RTT part of the ideal
	MeanProbe time.Duration // mean wall time of one target's probe (CLI: its hping3 process, start to result; Tcl: first packet sent to last reply or timeout)
}

// RunPlugin runs one round of the plugin's core in this process, which must
// already be in the client namespace, and encodes its lines as the execd front
// end does. It must run in a fresh process: the CPU and RSS figures are the
// process's own totals, and the hping3 processes' CPU is in its children's
// rusage (for the Tcl engine, the one hping3 exec process's); their memory
// is not (see Watch). The Sample's Tool names the engine the round ran on
// ("hping3-plugin tcl", "hping3-plugin cli"), as the plugin's "I! engine"
// line says; the plugin's warnings and errors go to stderr.
func RunPlugin(ctx context.Context, p Params) (Sample, error) {
	s := config.DefaultSettings()
	s.Count, s.Interval = p.Count, p.Interval
	if p.Concurrency > 0 {
		s.Concurrency = p.Concurrency
	}
	cfg := &config.Config{MaxPacketRate: p.PacketRate(), Engine: p.Engine,
		Groups: []config.Group{{Targets: Targets(p.Targets), Settings: s}}}
	if err := cfg.Validate(); err != nil {
		return Sample{}, err
	}
	var logs bytes.Buffer
	runner := core.New(cfg, logger.New(&logs, false))
	engine, err := EngineOf(logs.String())
	if err != nil {
		return Sample{}, err
	}
	if p.Engine != "" && p.Engine != config.EngineAuto && engine != p.Engine {
		return Sample{}, fmt.Errorf("asked for engine %s, the plugin chose %s", p.Engine, engine)
	}
	rd := runner.Run(ctx)
	_ = execd.Encode(rd) // the front end's share of the plugin's CPU
	for _, l := range strings.SplitAfter(logs.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "I! ") {
			os.Stderr.WriteString(l)
		}
	}
	if len(rd.Results) != p.Targets {
		return Sample{}, fmt.Errorf("%d results for %d targets", len(rd.Results), p.Targets)
	}
	out := Sample{Tool: PluginTool(engine), Wall: rd.Duration, Processes: rd.Processes, Failures: rd.Failures}
	var sum time.Duration
	ran := 0
	for _, r := range rd.Results {
		if r.Code != probe.OK || r.Received < p.Count {
			out.FalseLoss++
			if len(out.Lossy) < 5 {
				out.Lossy = append(out.Lossy, describe(r))
			}
		}
		if r.RTT != nil {
			out.MaxRTT = max(out.MaxRTT, time.Duration(r.RTT.Max*float64(time.Millisecond)))
		}
		if r.Ran {
			sum += r.Duration
			ran++
		}
	}
	if ran > 0 {
		out.MeanProbe = sum / time.Duration(ran)
	}
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		return out, err
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		return out, err
	}
	out.SelfCPU = cpu(&self)
	out.TotalCPU = out.SelfCPU + cpu(&kids)
	out.PeakRSS = SelfPeakRSS()
	if out.PeakRSS == 0 {
		out.PeakRSS = self.Maxrss // no /proc: at least the bench's own RSS, see Watch
	}
	return out, nil
}

// PluginTool names the plugin on one engine in the tables.
func PluginTool(e config.Engine) string { return "hping3-plugin " + string(e) }

// EngineOf reads the engine the plugin chose from its log: the one
// "I! engine tcl: ..." or "I! engine cli: ..." line it writes at start.
func EngineOf(log string) (config.Engine, error) {
	for _, l := range strings.Split(log, "\n") {
		rest, ok := strings.CutPrefix(l, "I! engine ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, ":")
		switch e := config.Engine(name); e {
		case config.EngineTcl, config.EngineCLI:
			return e, nil
		}
	}
	return "", fmt.Errorf("the plugin logged no engine line: %q", firstLines(log))
}

func describe(r probe.Result) string {
	if r.Code != probe.OK {
		return fmt.Sprintf("%s: %v", r.Target, r.Err)
	}
	d := fmt.Sprintf("%s: %d/%d received", r.Target, r.Received, r.Transmitted)
	if r.Late+r.Duplicates+r.Glitches > 0 {
		d += fmt.Sprintf(" (late %d, duplicates %d, glitches %d)", r.Late, r.Duplicates, r.Glitches)
	}
	return d
}

// cpu is the user plus system time of a rusage.
func cpu(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
