package otel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Options configure the standalone modes: an OTLP export, a Prometheus
// endpoint, or both from the one meter provider.
type Options struct {
	// OTLP exports every report to a Collector over OTLP gRPC, to
	// Endpoint when set (else OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, else
	// DefaultEndpoint).
	OTLP     bool
	Endpoint string
	// Prometheus, when set, serves /metrics on its listener.
	Prometheus *Prometheus
	// Histogram configures the RTT histogram's buckets.
	Histogram Histogram
	// PollInterval: a report this often.
	PollInterval time.Duration
	Log          *logger.Logger
	// Reload re-reads the configuration and hands it to the source; it
	// returns why the new one is refused (the old one then keeps
	// running). Nil: no reload (POST /-/reload answers so).
	Reload func() error
	// Reloads asks for a reload: SIGHUP, or a targets file that changed.
	Reloads <-chan struct{}
}

// Prometheus configures the scrape endpoint.
type Prometheus struct {
	// Listener is bound by the caller before probing starts, so that an
	// address in use is refused with nothing sent.
	Listener net.Listener
	// WebConfig is the exporter-toolkit web configuration file (TLS,
	// basic auth); "" serves plain HTTP to anyone.
	WebConfig string
}

// Run reports every PollInterval until ctx ends: a round (mode rounds), or
// the window of packets decided since the previous report (mode
// continuous, a core.Stream). Each report is counted into the totals at
// once; OTLP exports it (a round cut short by ctx is not exported: its
// results would only say "cancelled"), and a Prometheus scrape reads the
// latest at any time, never waiting for probing, with the totals up to
// the scrape in mode continuous. Run returns an error only
// when an exporter or the endpoint cannot be set up or fails.
func Run(ctx context.Context, src core.Source, opts Options) error {
	log := opts.Log
	poll := opts.PollInterval
	if poll <= 0 {
		poll = config.DefaultPollInterval
	}
	totals := newTotals(opts.Histogram)
	var readers []sdkmetric.Option
	var (
		exp    sdkmetric.Exporter
		reader *sdkmetric.ManualReader
		status *outage
		web    *endpoint
		err    error
	)
	if opts.OTLP {
		if exp, reader, status, err = startOTLP(ctx, opts.Endpoint, poll, totals, log); err != nil {
			return err
		}
		readers = append(readers, sdkmetric.WithReader(reader))
	}
	if opts.Prometheus != nil {
		if web, err = newEndpoint(*opts.Prometheus, totals, log); err != nil {
			if exp != nil {
				exp.Shutdown(context.Background())
			}
			return err
		}
		readers = append(readers, sdkmetric.WithReader(web.exporter))
	}
	res := newResource(ctx, log)
	provider := sdkmetric.NewMeterProvider(append(readers,
		sdkmetric.WithResource(res),
		// Series are bounded by the configured targets, and stale ones are
		// dropped every round; the SDK's default limit of 2000 per
		// instrument would fold a large configuration into one overflow series.
		sdkmetric.WithCardinalityLimit(0))...)
	defer provider.Shutdown(context.Background())
	meter := provider.Meter(scopeName)
	if web != nil {
		meter = web.text.learn(meter, res) // the text format observes the gauges itself
	}
	rec, err := newRecorder(meter)
	if err != nil {
		return err
	}
	reloads, err := newReloads(meter, opts.Reload, rec.vantage, log)
	if err != nil {
		return err
	}
	var p *pipeline
	if opts.OTLP {
		p = newPipeline(exp, reader, rec, status)
	}
	// A scrape shows every packet decided up to it: the totals of the
	// reports, and the window so far of a continuous source. The report
	// then comes with the totals' lock held (take), so that no scrape sees
	// a window twice or not at all; the first report's wait for packets
	// comes before, outside it. OTLP exports the totals of each report.
	// (Set before the endpoint serves: a scrape reads totals.peek.)
	next := src.Next
	if pk, ok := src.(core.Peeker); ok && web != nil && src.Continuous() {
		totals.peek = pk.Peek
		next = func(ctx context.Context) core.Report {
			pk.WaitFirst(ctx)
			return totals.take(ctx, src.Next)
		}
	}
	var ready atomic.Bool
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if web != nil {
		go func() {
			if err := web.serve(&ready, reloads); !errors.Is(err, errServed) {
				cancel() // an endpoint nobody can scrape ends the run; close says why
			}
		}()
	}
	reloaded := make(chan struct{})
	go func() {
		reloads.run(runCtx, opts.Reloads)
		close(reloaded)
	}()

	offer := func(rd core.Report) {
		if totals.peek == nil { // (else take counted it)
			totals.add(&rd)
		}
		if p != nil {
			p.offer(rd) // the gauges are set as it is exported
		} else {
			rec.set(rd)
		}
		ready.Store(true)
	}
	loop(runCtx, next, offer, poll, src.Continuous(), log)
	cancel()
	<-reloaded // no reload runs on while the caller closes the source
	var errs []error
	if web != nil {
		if err := web.close(ShutdownBudget); err != nil {
			errs = append(errs, fmt.Errorf("prometheus endpoint: %w", err))
		}
	}
	if p != nil {
		if err := p.close(ShutdownBudget); err != nil {
			log.Warnf("otlp: closing the exporter: %v", err)
		}
	}
	return errors.Join(errs...)
}
