package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one target count measured with every tool.
type Row struct {
	P        Params
	Plugin   Sample
	Fping    []Sample // as given on the command line, one per variant
	Telegraf *Sample  // nil when Telegraf was not run
}

// Ideal is the shortest possible round: count-1 intervals, then the last
// reply's round trip.
func (r Row) Ideal() time.Duration {
	return time.Duration(r.P.Count-1)*r.P.Interval + r.Plugin.MaxRTT
}

// WritePlugin prints the plugin's own table.
func WritePlugin(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "targets\tround\tideal\tround/ideal\tfalse loss\tplugin CPU\tpeak RSS\ttotal CPU\thping3 runs\tmean probe\t")
	for _, r := range rows {
		p := r.Plugin
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f\t%d\t%s\t%s\t%s\t%d\t%s\t\n", r.P.Targets, ms(p.Wall), ms(r.Ideal()),
			ratio(p.Wall, r.Ideal()), p.FalseLoss, ms(p.SelfCPU), mib(p.PeakRSS), ms(p.TotalCPU), p.Processes, ms(p.MeanProbe))
	}
	tw.Flush()
}

// WriteOthers prints fping and Telegraf beside the plugin, with the ratios
// that matter on a noisy machine: the plugin's figures over theirs.
func WriteOthers(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "targets\ttool\tround\tfalse loss\tCPU\tpeak RSS\tplugin/tool round\tplugin/tool CPU\t")
	for _, r := range rows {
		others := append([]Sample(nil), r.Fping...)
		if r.Telegraf != nil {
			others = append(others, *r.Telegraf)
		}
		for _, o := range others {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%.2f\t%.2f\t\n", r.P.Targets, o.Tool, ms(o.Wall), o.FalseLoss,
				ms(o.TotalCPU), mib(o.PeakRSS), ratio(r.Plugin.Wall, o.Wall), ratio(r.Plugin.TotalCPU, o.TotalCPU))
		}
	}
	tw.Flush()
}

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
