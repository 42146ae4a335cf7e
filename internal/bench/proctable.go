package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// SteadyRow is one continuous run of the plugin and fping on the same targets.
type SteadyRow struct {
	P     Steady
	Tools []ProcSample // the plugin first, then fping
}

// ProcRow is one round of every tool as whole processes on the same targets.
type ProcRow struct {
	P     Params
	Tools []ProcSample // the plugin first
}

// WriteSteady prints the continuous runs: each tool's whole-tree CPU, per
// second of its run and per packet of the nominal rate, and the plugin's
// over fping's.
func WriteSteady(w io.Writer, rows []SteadyRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "targets\tpackets/s\ttool\trun\tpackets\tlost\tfailed\tcapture drops\tCPU\tCPU/s\tCPU/packet\tplugin alone\tpeak RSS\thping3 RSS\torphans\tplugin/tool CPU\t")
	for _, r := range rows {
		var plugin *ProcSample
		for i, s := range r.Tools {
			alone, child, drops := "-", "-", "-"
			if i == 0 {
				plugin = &r.Tools[0]
				drops = fmt.Sprint(s.CaptureDrops)
			}
			if s.PluginCPU >= 0 {
				alone = ms(s.PluginCPU)
			}
			if s.ChildRSS > 0 {
				child = mib(s.ChildRSS)
			}
			// Per packet of the nominal rate: the packets a tool reports
			// leave out those still open when it stops (the plugin's also
			// those after its last window), the CPU does not.
			perPacket := ratio(s.CPU, s.Wall) / r.P.Rate() * 1e6
			fmt.Fprintf(tw, "%d\t%.0f\t%s\t%.1f s\t%d\t%d\t%d\t%s\t%s\t%.1f%%\t%.1f µs\t%s\t%s\t%s\t%d\t%.2f\t\n",
				r.P.Targets, r.P.Rate(), s.Tool, s.Wall.Seconds(), s.Sent, s.Lost(), s.Failed, drops, ms(s.CPU),
				100*ratio(s.CPU, s.Wall), perPacket, alone, mib(s.PeakRSS), child, s.Orphans, cpuRatio(*plugin, s))
		}
	}
	tw.Flush()
}

// cpuRatio is the plugin's CPU per second of its run over the tool's: the
// runs last the same time give or take the stop, and this evens that out.
func cpuRatio(plugin, tool ProcSample) float64 {
	a, b := ratio(plugin.CPU, plugin.Wall), ratio(tool.CPU, tool.Wall)
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteProcRounds prints rounds measured as whole processes, with the
// plugin's wall time and CPU over each tool's.
func WriteProcRounds(w io.Writer, rows []ProcRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "targets\tpackets\ttool\twall\tfalse loss\tCPU\tpeak RSS\thping3 RSS\torphans\tplugin/tool wall\tplugin/tool CPU\t")
	for _, r := range rows {
		for _, s := range r.Tools {
			child := "-"
			if s.ChildRSS > 0 {
				child = mib(s.ChildRSS)
			}
			p := r.Tools[0]
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%.2f\t%.2f\t\n", r.P.Targets, packets(r.P), s.Tool,
				ms(s.Wall), s.FalseLoss, ms(s.CPU), mib(s.PeakRSS), child, s.Orphans, ratio(p.Wall, s.Wall), ratio(p.CPU, s.CPU))
		}
	}
	tw.Flush()
}

// WriteProcLossy lists the first lossy targets of a round that had any.
func WriteProcLossy(w io.Writer, label string, s ProcSample) {
	if len(s.Lossy) > 0 {
		fmt.Fprintf(w, "  %s, %s: %d targets short of replies, e.g. %s\n", label, s.Tool, s.FalseLoss, strings.Join(s.Lossy, "; "))
	}
}

// Machine names the machine a run was on: CPU model and count, kernel.
func Machine() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	model, n := "", 0
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			model, n = strings.TrimSpace(v), n+1
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d x %s, Linux %s", n, model, strings.TrimSpace(string(kernel)))
}

// LoadAverage is /proc/loadavg's three averages: how busy the machine was.
func LoadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
