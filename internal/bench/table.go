package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// Row is one target count measured with every tool.
type Row struct {
	P        Params   // Engine unset: each plugin Sample names its own
	Plugin   []Sample // one per engine measured ("hping3-plugin tcl", "hping3-plugin cli")
	Fping    []Sample // as given on the command line, one per variant
	Telegraf *Sample  // nil when Telegraf was not run
}

// Ideal is the shortest possible round of s: count-1 intervals, then the
// last reply's round trip.
func (r Row) Ideal(s Sample) time.Duration {
	return time.Duration(r.P.Count-1)*r.P.Interval + s.MaxRTT
}

// Floor is the shortest round under the packet rate cap too: the longer of
// count-1 intervals and every packet at the cap (targets x count /
// max_packet_rate), then the last reply's round trip.
func (r Row) Floor(s Sample) time.Duration {
	send := time.Duration(r.P.Count-1) * r.P.Interval
	paced := time.Duration(int64(r.P.Targets) * int64(r.P.Count) * int64(time.Second) / int64(r.P.PacketRate()))
	return max(send, paced) + s.MaxRTT
}

// plugin returns the row's sample of the plugin on engine e, if measured.
func (r Row) plugin(e config.Engine) (Sample, bool) {
	for _, s := range r.Plugin {
		if s.Tool == PluginTool(e) {
			return s, true
		}
	}
	return Sample{}, false
}

// WritePlugin prints the plugin's own table: one line per engine and row.
func WritePlugin(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "targets\tpackets\tengine\tround\tideal\tfloor\tround/floor\tfalse loss\tplugin CPU\ttotal CPU\tpeak RSS\thping3 RSS\thping3 runs\tmean probe\t")
	for _, r := range rows {
		for _, p := range r.Plugin {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.2f\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t\n", r.P.Targets, packets(r.P),
				strings.TrimPrefix(p.Tool, "hping3-plugin "), ms(p.Wall), ms(r.Ideal(p)), ms(r.Floor(p)), ratio(p.Wall, r.Floor(p)),
				p.FalseLoss, ms(p.SelfCPU), ms(p.TotalCPU), mib(p.PeakRSS), mib(p.ChildRSS), p.Processes, ms(p.MeanProbe))
		}
	}
	tw.Flush()
}

// WriteOthers prints every tool side by side, the plugin's engines first,
// with the ratios that matter on a noisy machine: each engine's round and
// total CPU over the tool's ("-" when that engine was not measured).
func WriteOthers(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "targets\tpackets\ttool\tround\tfalse loss\tCPU self\tCPU total\tpeak RSS\ttcl/tool round\ttcl/tool CPU\tcli/tool round\tcli/tool CPU\t")
	for _, r := range rows {
		tools := append(append([]Sample(nil), r.Plugin...), r.Fping...)
		if r.Telegraf != nil {
			tools = append(tools, *r.Telegraf)
		}
		for _, o := range tools {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t", r.P.Targets, packets(r.P), o.Tool, ms(o.Wall), o.FalseLoss,
				ms(o.SelfCPU), ms(o.TotalCPU), mib(o.PeakRSS))
			for _, e := range []config.Engine{config.EngineTcl, config.EngineCLI} {
				if p, ok := r.plugin(e); ok {
					fmt.Fprintf(tw, "%.2f\t%.2f\t", ratio(p.Wall, o.Wall), ratio(p.TotalCPU, o.TotalCPU))
				} else {
					fmt.Fprint(tw, "-\t-\t")
				}
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
}

// packets is a row's count and interval, as "3 x 200ms".
func packets(p Params) string { return fmt.Sprintf("%d x %v", p.Count, p.Interval) }

// WriteSweep prints false loss and round time against the bounds.
func WriteSweep(w io.Writer, points []Params, samples []Sample) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\tmax_packet_rate\tinterval\tround\tfalse loss\tplugin CPU\ttotal CPU\t")
	for i, s := range samples {
		p := points[i]
		rate := "default"
		if p.MaxPacketRate > 0 {
			rate = fmt.Sprint(p.MaxPacketRate)
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%d\t%s\t%s\t\n", p.Concurrency, rate, p.Interval, ms(s.Wall), s.FalseLoss, ms(s.SelfCPU), ms(s.TotalCPU))
	}
	tw.Flush()
}

// WriteLossy lists the first lossy targets of every sample that had any.
func WriteLossy(w io.Writer, label string, s Sample) {
	if len(s.Lossy) > 0 {
		fmt.Fprintf(w, "  %s, %s: %d targets short of replies, e.g. %s\n", label, s.Tool, s.FalseLoss, strings.Join(s.Lossy, "; "))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Ints reads a bench flag's comma-separated counts ("1000,10000"); what is
// not a number is left out.
func Ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}
