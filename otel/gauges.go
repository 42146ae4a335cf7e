package otel

import (
	"context"
	"sync"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/sdk/resource"
)

// gaugeSet is what the text exposition needs to write the plugin's gauges
// (the latest report's, the round's and the reloads') straight from the
// callbacks that observe them, where a reader of the meter provider would
// first aggregate every point through the SDK: at 10,000 targets that was
// 130,000 points a scrape, about half its CPU and 35 MB live while it ran.
// The callbacks are the ones the SDK's readers run (OTLP, the exporter's
// protobuf format), so the gauges' presence rules stay in one place
// (instruments.go, reload.go).
type gaugeSet struct {
	mu        sync.Mutex
	gauges    []gauge           // each gauge's family, in the order made
	index     map[any]int       // an instrument's gauge
	callbacks []metric.Callback // what observes them
	info      string            // target_info's line, from the resource
}

// gauge is one gauge's family in the text format.
type gauge struct {
	name, help string
}

// row is one series of a family: its labels, rendered, and its value.
type row struct {
	labels string
	value  float64
}

// learn returns m, which tells g every gauge and callback made with it
// from now on, and takes the resource for target_info.
func (g *gaugeSet) learn(m metric.Meter, res *resource.Resource) metric.Meter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := renderLabels(*res.Set()); l != badLabels {
		g.info = "target_info" + braced(l) + " 1\n"
	}
	return gaugeMeter{Meter: m, g: g}
}

// gaugeMeter is a meter of the provider's that tells its gaugeSet each
// gauge's family and each callback.
type gaugeMeter struct {
	metric.Meter
	g *gaugeSet
}

func (m gaugeMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	inst, err := m.Meter.Int64ObservableGauge(name, opts...)
	if err == nil {
		c := metric.NewInt64ObservableGaugeConfig(opts...)
		m.g.add(inst, name, c.Unit(), c.Description())
	}
	return inst, err
}

func (m gaugeMeter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	inst, err := m.Meter.Float64ObservableGauge(name, opts...)
	if err == nil {
		c := metric.NewFloat64ObservableGaugeConfig(opts...)
		m.g.add(inst, name, c.Unit(), c.Description())
	}
	return inst, err
}

func (m gaugeMeter) RegisterCallback(f metric.Callback, insts ...metric.Observable) (metric.Registration, error) {
	reg, err := m.Meter.RegisterCallback(f, insts...)
	if err == nil {
		m.g.mu.Lock()
		m.g.callbacks = append(m.g.callbacks, f)
		m.g.mu.Unlock()
	}
	return reg, err
}

func (g *gaugeSet) add(inst any, name, unit, help string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.index == nil {
		g.index = map[any]int{}
	}
	g.index[inst] = len(g.gauges)
	g.gauges = append(g.gauges, gauge{name: promName(name, unit, otlptranslator.MetricTypeGauge), help: help})
}

// observe runs every callback: target_info's line, and the gauges with
// their rows, one slice each. labels is the scrape's.
func (g *gaugeSet) observe(ctx context.Context, labels *labelCache) (info string, gauges []gauge, rows [][]row, errs []error) {
	g.mu.Lock()
	info, gauges, callbacks := g.info, g.gauges, g.callbacks
	o := &rowObserver{index: g.index, labels: labels, rows: make([][]row, len(gauges))}
	g.mu.Unlock()
	for _, f := range callbacks {
		if err := f(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return info, gauges, o.rows, errs
}

// rowObserver is the metric.Observer observe runs the callbacks with: each
// point becomes a row of its gauge's family, and a point observed again
// with the same attributes replaces the first, as the SDK's last-value
// aggregation keeps the last.
type rowObserver struct {
	embedded.Observer
	index  map[any]int
	labels *labelCache
	rows   [][]row
}

func (o *rowObserver) ObserveFloat64(inst metric.Float64Observable, v float64, opts ...metric.ObserveOption) {
	o.observe(inst, v, opts)
}

func (o *rowObserver) ObserveInt64(inst metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	o.observe(inst, float64(v), opts)
}

func (o *rowObserver) observe(inst any, v float64, opts []metric.ObserveOption) {
	g, ok := o.index[inst]
	if !ok {
		return // not made with the gauge meter: the exposition test says so
	}
	l := o.labels.of(metric.NewObserveConfig(opts).Attributes())
	if l.text == badLabels {
		o.labels.dropped++
		return
	}
	for _, at := range l.at {
		if at.family == g {
			o.rows[g][at.index].value = v
			return
		}
	}
	l.at = append(l.at, placed{family: g, index: len(o.rows[g])})
	o.rows[g] = append(o.rows[g], row{l.text, v})
}
