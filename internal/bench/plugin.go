package bench

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/execd"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
	"github.com/hping3-plugin/hping3-plugin/plugin/round"
)

// Params describe one measured round.
type Params struct {
	Targets       int
	Count         int
	Interval      time.Duration
	Concurrency   int // 0: config.DefaultConcurrency
	MaxPacketRate int // 0: config.DefaultMaxPacketRate
}

// Sample is what one tool did in one round on the same targets.
type Sample struct {
	Tool      string
	Wall      time.Duration // the round, as the tool's user waits for it
	FalseLoss int           // targets with fewer replies than packets sent, or no result
	Lossy     []string      // the first few of them, for the report
	SelfCPU   time.Duration // the tool's own user+system time (for the plugin: without hping3)
	TotalCPU  time.Duration // including every process the tool started
	PeakRSS   int64         // KiB, the tool's own process
	// Plugin only.
	Processes int
	Failures  int
	MaxRTT    time.Duration // the slowest single reply: the RTT part of the ideal
	MeanProbe time.Duration // mean wall time of one probe (one hping3 process, start to result)
}

// RunPlugin runs one round of the plugin's core in this process, which must
// already be in the client namespace, and encodes its lines as the execd front
// end does. It must run in a fresh process: the CPU and RSS figures are the
// process's own totals.
func RunPlugin(ctx context.Context, p Params) (Sample, error) {
	s := config.DefaultSettings()
	s.Count, s.Interval = p.Count, p.Interval
	if p.Concurrency > 0 {
		s.Concurrency = p.Concurrency
	}
	cfg := &config.Config{MaxPacketRate: config.DefaultMaxPacketRate,
		Groups: []config.Group{{Targets: Targets(p.Targets), Settings: s}}}
	if p.MaxPacketRate > 0 {
		cfg.MaxPacketRate = p.MaxPacketRate
	}
	if err := cfg.Validate(); err != nil {
		return Sample{}, err
	}
	runner := round.New(cfg, logger.New(io.Discard, false))
	rd := runner.Run(ctx)
	_ = execd.Encode(rd) // the front end's share of the plugin's CPU
	if len(rd.Results) != p.Targets {
		return Sample{}, fmt.Errorf("%d results for %d targets", len(rd.Results), p.Targets)
	}
	out := Sample{Tool: "hping3-plugin", Wall: rd.Duration, Processes: rd.Processes, Failures: rd.Failures}
	var sum time.Duration
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
		}
	}
	if rd.Processes > 0 {
		out.MeanProbe = sum / time.Duration(rd.Processes)
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
	out.PeakRSS = self.Maxrss
	return out, nil
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
