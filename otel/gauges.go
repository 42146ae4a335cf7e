package otel

import (
	"context"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/sdk/resource"
)

// The text exposition writes the plugin's gauges (the latest report's, the
// round's and the reloads') straight from the callbacks that observe them,
// where a reader of the meter provider would first aggregate every point
// through the SDK: at 10,000 targets that was 130,000 points a scrape,
// about 40% of its CPU and 35 MB live while it ran. The callbacks are the
// same ones the SDK's readers run (OTLP, the exporter's protobuf format),
// so the gauges' presence rules stay in one place (instruments.go).

// gaugeMeter is the meter the gauges are made with: a meter of the
// provider's that also tells the text exposition each gauge's family and
// each callback.
type gaugeMeter struct {
	metric.Meter
	x *textExposition
}

// learn returns m, telling x every gauge and callback made with it from
// now on, and gives x the resource for target_info.
func (x *textExposition) learn(m metric.Meter, res *resource.Resource) metric.Meter {
	x.mu.Lock()
	defer x.mu.Unlock()
	if l := renderLabels(*res.Set()); l != badLabels {
		x.info = "target_info" + braced(l) + " 1\n"
	}
	return gaugeMeter{Meter: m, x: x}
}

func (m gaugeMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	g, err := m.Meter.Int64ObservableGauge(name, opts...)
	if err == nil {
		c := metric.NewInt64ObservableGaugeConfig(opts...)
		m.x.addGauge(g, name, c.Unit(), c.Description())
	}
	return g, err
}

func (m gaugeMeter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	g, err := m.Meter.Float64ObservableGauge(name, opts...)
	if err == nil {
		c := metric.NewFloat64ObservableGaugeConfig(opts...)
		m.x.addGauge(g, name, c.Unit(), c.Description())
	}
	return g, err
}

func (m gaugeMeter) RegisterCallback(f metric.Callback, insts ...metric.Observable) (metric.Registration, error) {
	reg, err := m.Meter.RegisterCallback(f, insts...)
	if err == nil {
		m.x.mu.Lock()
		m.x.callbacks = append(m.x.callbacks, f)
		m.x.mu.Unlock()
	}
	return reg, err
}

// gauge is one gauge's family in the text format.
type gauge struct {
	name, help string
}

func (x *textExposition) addGauge(inst any, name, unit, help string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gaugeIndex[inst] = len(x.gauges)
	x.gauges = append(x.gauges, gauge{name: x.name(name, unit, otlptranslator.MetricTypeGauge), help: help})
}

// rowObserver is the metric.Observer the text exposition runs the
// callbacks with: each point becomes a row of its gauge's family, and a
// point observed again with the same attributes replaces the first, as
// the SDK's last-value aggregation keeps the last. It is used under x.mu.
type rowObserver struct {
	embedded.Observer
	x    *textExposition
	rows [][]row // per gauge
}

func (o *rowObserver) ObserveFloat64(inst metric.Float64Observable, v float64, opts ...metric.ObserveOption) {
	o.observe(inst, v, opts)
}

func (o *rowObserver) ObserveInt64(inst metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	o.observe(inst, float64(v), opts)
}

func (o *rowObserver) observe(inst any, v float64, opts []metric.ObserveOption) {
	g, ok := o.x.gaugeIndex[inst]
	if !ok {
		return // not made with the gauge meter: the exposition test says so
	}
	attrs := metric.NewObserveConfig(opts).Attributes()
	l := o.x.labelsOf(attrs)
	if l.text == badLabels {
		o.x.dropped++
		return
	}
	for _, at := range l.rows {
		if at.gauge == g {
			o.rows[g][at.row].value = v
			return
		}
	}
	l.rows = append(l.rows, gaugeRow{gauge: g, row: len(o.rows[g])})
	o.rows[g] = append(o.rows[g], row{l.text, v})
}

// gaugeRow is where a label set's point of one gauge is among this
// scrape's rows.
type gaugeRow struct {
	gauge, row int
}

// observeGauges runs every callback into rows, one slice per gauge.
func (x *textExposition) observeGauges(ctx context.Context) ([][]row, []error) {
	o := &rowObserver{x: x, rows: make([][]row, len(x.gauges))}
	var errs []error
	for _, f := range x.callbacks {
		if err := f(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return o.rows, errs
}
