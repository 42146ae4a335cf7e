package otel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// textExposition writes /metrics in Prometheus' text format straight from
// what the plugin holds, where the OpenTelemetry exporter would first turn
// every point into a client_golang metric, then a protobuf message, then
// text: at 1000 targets that was most of a scrape's CPU. It writes what the
// exporter writes (the same names, labels, help and values; the test
// compares them): the gauges (of the latest report, the round's and the
// reloads') from the callbacks that observe them (gauges.go), target_info
// from the resource, the totals (counters and the classic buckets) from
// the series, each of which renders its labels once, and the Go and
// process collectors through client_golang.
//
// The protobuf format, which a Prometheus with native histograms asks
// for, is still the exporter's (prometheus.go, native.go).
type textExposition struct {
	totals  *totals
	runtime prometheus.Gatherer
	gauges  gaugeSet

	// The totals' names, built once.
	counterNames []string
	histName     string

	// mu makes one scrape collect at a time: the label cache is its own.
	// It is not held while writing, so a slow scraper holds up no other.
	mu     sync.Mutex
	labels labelCache
}

func newTextExposition(t *totals, runtime prometheus.Gatherer) *textExposition {
	x := &textExposition{totals: t, runtime: runtime}
	for _, c := range counterMetrics {
		x.counterNames = append(x.counterNames, promName(c.name, unitPacket, otlptranslator.MetricTypeMonotonicCounter))
	}
	x.histName = promName(nameRTTHistogram, unitSeconds, otlptranslator.MetricTypeHistogram)
	return x
}

// learn returns m, whose gauges (and their callbacks) the text format then
// writes, with res as target_info.
func (x *textExposition) learn(m metric.Meter, res *resource.Resource) metric.Meter {
	return x.gauges.learn(m, res)
}

// write writes the whole exposition to w. An error in one part (a
// callback that failed, a metric it cannot write) leaves that part out
// and is returned with the others once the rest is written, as promhttp's
// ContinueOnError does; an error of w ends it.
func (x *textExposition) write(ctx context.Context, w *bufWriter) error {
	info, gauges, rows, errs := x.collect(ctx)
	if info != "" {
		w.family("target_info", "Target metadata", "gauge")
		w.WriteString(info)
	}
	for i, g := range gauges {
		if len(rows[i]) == 0 { // the exporter writes no family without a series
			continue
		}
		w.family(g.name, g.help, "gauge")
		for _, r := range rows[i] {
			w.sample(g.name, "", r.labels, "", r.value)
		}
	}
	x.writeTotals(w)
	// What could be gathered is written, as promhttp's ContinueOnError.
	mfs, err := x.runtime.Gather()
	if err != nil {
		errs = append(errs, err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	return errors.Join(errs...)
}

// collect observes the gauges: target_info's line, and every gauge with
// its rows.
func (x *textExposition) collect(ctx context.Context) (info string, gauges []gauge, rows [][]row, errs []error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.labels.begin()
	info, gauges, rows, errs = x.gauges.observe(ctx, &x.labels)
	x.labels.end()
	if n := x.labels.dropped; n > 0 {
		errs = append(errs, fmt.Errorf("%d series left out: a tag name of only underscores is no Prometheus label name", n))
	}
	return info, gauges, rows, errs
}

// writeTotals writes the counters and the RTT histogram with classic
// buckets, as the totals' view holds them at this moment (with the window
// so far in the Prometheus mode of a continuous source): a copy, written
// with no lock held, so that a report is never held up by a slow scraper.
func (x *textExposition) writeTotals(w *bufWriter) {
	t := x.totals
	t.gather.RLock()
	points := slices.DeleteFunc(t.view(false), func(p *series) bool { return p.labels == badLabels })
	t.gather.RUnlock()
	if len(points) == 0 {
		return
	}
	for i, c := range counterMetrics {
		name := x.counterNames[i]
		w.family(name, c.description, "counter")
		for _, p := range points {
			w.sample(name, "", p.labels, "", float64(c.total(&p.packetCounts)))
		}
	}
	name := x.histName
	w.family(name, descriptionRTTHistogram, "histogram")
	for _, p := range points {
		var cum uint64
		for k := range p.classic.len() {
			cum += p.classic.at(k)
			w.sample(name, "_bucket", p.labels, t.le[k], float64(cum))
		}
		w.sample(name, "_sum", p.labels, "", p.sum)
		w.sample(name, "_count", p.labels, "", float64(p.count))
	}
}

// bufWriter is the exposition's writer: a buffered writer that keeps its
// first error, so that the code writing lines need not check each.
type bufWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newBufWriter(w io.Writer) *bufWriter {
	return &bufWriter{w: w, buf: make([]byte, 0, 64<<10)}
}

func (b *bufWriter) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	b.spill()
	return len(p), b.err
}

func (b *bufWriter) WriteString(s string) (int, error) {
	b.buf = append(b.buf, s...)
	b.spill()
	return len(s), b.err
}

func (b *bufWriter) WriteByte(c byte) error {
	b.buf = append(b.buf, c)
	return b.err
}

func (b *bufWriter) WriteRune(r rune) (int, error) {
	n := len(b.buf)
	b.buf = append(b.buf, string(r)...)
	return len(b.buf) - n, b.err
}

func (b *bufWriter) spill() {
	if len(b.buf) >= 60<<10 {
		b.Flush()
	}
}

// Flush writes what is buffered.
func (b *bufWriter) Flush() error {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	return b.err
}

// family writes a family's HELP and TYPE lines.
func (b *bufWriter) family(name, help, kind string) {
	b.buf = append(b.buf, "# HELP "...)
	b.buf = append(b.buf, name...)
	b.buf = append(b.buf, ' ')
	for i := 0; i < len(help); i++ {
		switch c := help[i]; c {
		case '\\':
			b.buf = append(b.buf, `\\`...)
		case '\n':
			b.buf = append(b.buf, `\n`...)
		default:
			b.buf = append(b.buf, c)
		}
	}
	b.buf = append(b.buf, "\n# TYPE "...)
	b.buf = append(b.buf, name...)
	b.buf = append(b.buf, ' ')
	b.buf = append(b.buf, kind...)
	b.buf = append(b.buf, '\n')
	b.spill()
}

// sample writes one line: name and suffix, the labels and an extra one
// (le), and the value as the text format writes a float.
func (b *bufWriter) sample(name, suffix, labels, extra string, v float64) {
	b.buf = append(b.buf, name...)
	b.buf = append(b.buf, suffix...)
	if labels != "" || extra != "" {
		b.buf = append(b.buf, '{')
		b.buf = append(b.buf, labels...)
		if labels != "" && extra != "" {
			b.buf = append(b.buf, ',')
		}
		b.buf = append(b.buf, extra...)
		b.buf = append(b.buf, '}')
	}
	b.buf = append(b.buf, ' ')
	b.buf = strconv.AppendFloat(b.buf, v, 'g', -1, 64)
	b.buf = append(b.buf, '\n')
	b.spill()
}
