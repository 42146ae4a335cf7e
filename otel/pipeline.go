package otel

import (
	"context"
	"errors"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

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
// A replaced round loses only its gauges: offer tallies every round's
// packets and RTT samples, and the next export adds the tally to the
// cumulative counters and the histogram.
type pipeline struct {
	exp      sdkmetric.Exporter
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
	rec      *recorder
	status   *outage

	mu      sync.Mutex
	pending *core.Report
	tally   *tally        // the packets of every round offered since the last take
	since   time.Time     // start of the first round counted: the cumulative points' start
	wake    chan struct{} // one token: a round is pending
	quit    chan struct{} // closed by close: export what is pending, then stop
	done    chan struct{} // closed when the exporting goroutine returns

	exportCtx    context.Context // cancelled when the shutdown budget runs out
	cancelExport context.CancelFunc
}

func newPipeline(res *resource.Resource, exp sdkmetric.Exporter, status *outage) (*pipeline, error) {
	reader := sdkmetric.NewManualReader(
		sdkmetric.WithTemporalitySelector(exp.Temporality),
		sdkmetric.WithAggregationSelector(exp.Aggregation))
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(reader),
		// Series are bounded by the configured targets, and stale ones are
		// dropped every round; the SDK's default limit of 2000 per
		// instrument would fold a large configuration into one overflow series.
		sdkmetric.WithCardinalityLimit(0),
		sdkmetric.WithView(views()...))
	rec, err := newRecorder(provider.Meter(scopeName))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{
		exp: exp, reader: reader, provider: provider, rec: rec, status: status, tally: &tally{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		exportCtx: ctx, cancelExport: cancel,
	}
	go p.run()
	return p, nil
}

// offer queues rd for export without waiting.
func (p *pipeline) offer(rd core.Report) {
	p.mu.Lock()
	if p.pending != nil {
		p.status.skipped()
	}
	p.tally.add(&rd)
	p.pending = &rd
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // a token is already waiting
	}
}

func (p *pipeline) take() (*core.Report, *tally) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rd, t := p.pending, p.tally
	p.pending, p.tally = nil, &tally{}
	return rd, t
}

func (p *pipeline) run() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
			if rd, t := p.take(); rd != nil {
				p.export(*rd, t)
			}
		case <-p.quit:
			if rd, t := p.take(); rd != nil {
				p.export(*rd, t)
			}
			return
		}
	}
}

func (p *pipeline) export(rd core.Report, t *tally) {
	if p.since.IsZero() || rd.Start.Before(p.since) {
		p.since = rd.Start // rounds are offered in order: this is the first
	}
	// Counted before anything can fail: a failed export's packets are in
	// the next export's cumulative values.
	p.rec.count(t)
	if len(rd.Results) == 0 {
		return // nothing measured, nothing to send
	}
	p.rec.set(rd)
	var rm metricdata.ResourceMetrics
	err := p.reader.Collect(p.exportCtx, &rm)
	p.rec.set(core.Report{}) // hold no results between rounds
	if err != nil {
		p.status.failed(err)
		return
	}
	stamp(&rm, rd.Start, rd.Start.Add(rd.Duration), p.since)
	if err := p.exp.Export(p.exportCtx, &rm); err != nil {
		p.status.failed(err)
		return
	}
	p.status.succeeded()
}

// stamp gives every point the time of its round rather than of its export:
// the start time is when the round began, the time when its last probe
// ended. A late export then still carries when the network looked like that.
// A cumulative counter or histogram holds every packet from the start of
// the first round (since) to the end of this one: since is its start, the
// same for every instrument. (The SDK's own start is when each instrument
// was made, which may come after the first packets: a continuous stream
// probes from before the export is set up.) Delta points keep the SDK's
// times.
func stamp(rm *metricdata.ResourceMetrics, start, end, since time.Time) {
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
						d.DataPoints[k].StartTime, d.DataPoints[k].Time = since, end
					}
				}
			case metricdata.ExponentialHistogram[float64]:
				if d.Temporality == metricdata.CumulativeTemporality {
					for k := range d.DataPoints {
						d.DataPoints[k].StartTime, d.DataPoints[k].Time = since, end
					}
				}
			}
		}
	}
}

// close exports the round still pending, if any, and shuts the exporter
// down, giving up on whatever is unfinished after budget.
func (p *pipeline) close(budget time.Duration) error {
	deadline := time.Now().Add(budget)
	timer := time.AfterFunc(budget, p.cancelExport)
	defer timer.Stop()
	close(p.quit)
	<-p.done // an export in flight returns at the latest when the budget ends

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := errors.Join(p.provider.Shutdown(ctx), p.exp.Shutdown(ctx))
	p.cancelExport()
	return err
}
