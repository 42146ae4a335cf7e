// Package otlp is the OpenTelemetry front end: it records each round as OTLP
// gauges and exports them over gRPC to a Collector.
package otlp

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/round"
)

// Options configure the OTLP mode.
type Options struct {
	Endpoint     string        // overrides OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT when set
	PollInterval time.Duration // a round this often
	Log          *logger.Logger
}

// ShutdownBudget bounds how long Run spends, once ctx ends, exporting the
// last round and closing the connection: a Collector that is away must not
// hold up a service manager's stop (Telegraf and systemd wait 5 s or more
// before SIGKILL, and a round in flight is abandoned at once).
const ShutdownBudget = 4 * time.Second

// Run probes every PollInterval and exports each round until ctx ends. A
// round cut short by ctx is not exported: its results would only say
// "cancelled". Run returns an error only when the exporter cannot be set up.
func Run(ctx context.Context, r *round.Runner, opts Options) error {
	log := opts.Log
	poll := opts.PollInterval
	if poll <= 0 {
		poll = config.DefaultPollInterval
	}
	exp, err := newExporter(ctx, opts.Endpoint, poll)
	if err != nil {
		return err
	}
	status := newOutage(log)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(status.handle))
	p, err := newPipeline(newResource(ctx, log), exp, status)
	if err != nil {
		exp.Shutdown(context.Background())
		return err
	}

	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for n := 1; ; n++ {
		rd := r.Run(ctx)
		if ctx.Err() != nil {
			break
		}
		p.offer(rd)
		if rd.Duration > poll {
			log.Warnf("round took %v, longer than poll_interval %v: polls that fell due meanwhile were skipped (fewer targets, a smaller count or a longer poll_interval fix this)",
				rd.Duration.Round(time.Millisecond), poll)
		}
		log.Debugf("otlp: round %d: %d results, %d failed, %s; queued for export",
			n, len(rd.Results), rd.Failures, rd.Duration.Round(time.Millisecond))
		select {
		case <-ctx.Done():
		case <-ticker.C:
			continue
		}
		break
	}
	if err := p.close(ShutdownBudget); err != nil {
		log.Warnf("otlp: closing the exporter: %v", err)
	}
	return nil
}
