package otel

import (
	"context"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
)

// scopeName is the instrumentation scope of every metric the plugin exports:
// this package's import path. It stays as it is whatever the package's path
// becomes: collectors and dashboards may select the plugin's data by scope,
// and docs/metrics.md documents this name.
const scopeName = "github.com/hping3-plugin/hping3-plugin/otel"

// pipeline exports rounds on its own goroutine so that probing never waits
// on a Collector. The round loop hands each finished round to offer, which
// never blocks: the round waits in a one-slot mailbox, and a newer round
// replaces one whose export has not started (a Collector slower than the
// poll interval loses rounds, not memory). The exporting goroutine collects
// the round through a ManualReader, so each round is exported exactly once.
// A replaced round loses only its gauges: the totals (counters.go) counted
// its packets when it was offered, and the next export carries them.
type pipeline struct {
	exp    sdkmetric.Exporter
	reader *sdkmetric.ManualReader
	rec    *recorder
	status *outage

	mu      sync.Mutex
	pending *core.Report
	wake    chan struct{} // one token: a round is pending
	quit    chan struct{} // closed by close: export what is pending, then stop
	done    chan struct{} // closed when the exporting goroutine returns

	exportCtx    context.Context // cancelled when the shutdown budget runs out
	cancelExport context.CancelFunc
}

// newReader is the OTLP exporter's reader: its temporality and its
// aggregations, and the totals with an exponential histogram, as deltas
// when the exporter's temporality preference says so
// (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
func newReader(exp sdkmetric.Exporter, t *totals) *sdkmetric.ManualReader {
	delta := exp.Temporality(sdkmetric.InstrumentKindCounter) == metricdata.DeltaTemporality
	return sdkmetric.NewManualReader(
		sdkmetric.WithTemporalitySelector(exp.Temporality),
		sdkmetric.WithAggregationSelector(exp.Aggregation),
		sdkmetric.WithProducer(&producer{t: t, exponential: true, delta: delta}))
}

func newPipeline(exp sdkmetric.Exporter, reader *sdkmetric.ManualReader, rec *recorder, status *outage) *pipeline {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{
		exp: exp, reader: reader, rec: rec, status: status,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		exportCtx: ctx, cancelExport: cancel,
	}
	go p.run()
	return p
}

// offer queues rd for export without waiting.
func (p *pipeline) offer(rd core.Report) {
	p.mu.Lock()
	if p.pending != nil {
		p.status.skipped()
	}
	p.pending = &rd
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // a token is already waiting
	}
}

func (p *pipeline) take() *core.Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	rd := p.pending
	p.pending = nil
	return rd
}

func (p *pipeline) run() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
			if rd := p.take(); rd != nil {
				p.export(*rd)
			}
		case <-p.quit:
			if rd := p.take(); rd != nil {
				p.export(*rd)
			}
			return
		}
	}
}

func (p *pipeline) export(rd core.Report) {
	if len(rd.Results) == 0 {
		return // nothing measured, nothing to send
	}
	// The gauges report rd from now on: to this collection, and to a
	// Prometheus scrape until the next export.
	p.rec.set(rd)
	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(p.exportCtx, &rm); err != nil {
		p.status.failed(err)
		return
	}
	stamp(&rm, rd.Start, rd.Start.Add(rd.Duration))
	if err := p.exp.Export(p.exportCtx, &rm); err != nil {
		p.status.failed(err)
		return
	}
	p.status.succeeded()
}

// stamp gives every point the time of its round rather than of its export:
// the start time is when the round began, the time when its last probe
// ended. A late export then still carries when the network looked like that.
// A cumulative counter or histogram keeps its start, when its series began
// counting (the start of the first round that had it), and ends with this
// round. Delta points keep the producer's times.
func stamp(rm *metricdata.ResourceMetrics, start, end time.Time) {
	for i := range rm.ScopeMetrics {
		for j := range rm.ScopeMetrics[i].Metrics {
			switch d := rm.ScopeMetrics[i].Metrics[j].Data.(type) {
			case metricdata.Gauge[int64]:
				for k := range d.DataPoints {
					d.DataPoints[k].StartTime, d.DataPoints[k].Time = start, end
				}
			case metricdata.Gauge[float64]:
				for k := range d.DataPoints {
					d.DataPoints[k].StartTime, d.DataPoints[k].Time = start, end
				}
			case metricdata.Sum[int64]:
				if d.Temporality == metricdata.CumulativeTemporality {
					for k := range d.DataPoints {
						d.DataPoints[k].Time = end
					}
				}
			case metricdata.Histogram[float64]:
				if d.Temporality == metricdata.CumulativeTemporality {
					for k := range d.DataPoints {
						d.DataPoints[k].Time = end
					}
				}
			case metricdata.ExponentialHistogram[float64]:
				if d.Temporality == metricdata.CumulativeTemporality {
					for k := range d.DataPoints {
						d.DataPoints[k].Time = end
					}
				}
			}
		}
	}
}

// close exports the round still pending, if any, and shuts the exporter
// down, giving up on whatever is unfinished after budget. The provider's
// shutdown is the caller's.
func (p *pipeline) close(budget time.Duration) error {
	deadline := time.Now().Add(budget)
	timer := time.AfterFunc(budget, p.cancelExport)
	defer timer.Stop()
	close(p.quit)
	<-p.done // an export in flight returns at the latest when the budget ends

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := p.exp.Shutdown(ctx)
	p.cancelExport()
	return err
}
