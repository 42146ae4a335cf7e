package otel

import (
	"context"
	"time"

	otelapi "go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// ShutdownBudget bounds how long Run spends, once ctx ends, exporting the
// last round and closing the connection: a Collector that is away must not
// hold up a service manager's stop (Telegraf and systemd wait 5 s or more
// before SIGKILL, and a round in flight is abandoned at once).
const ShutdownBudget = 4 * time.Second

// startOTLP sets up the OTLP export: its exporter, and its reader of the
// totals, which the meter provider gets.
func startOTLP(ctx context.Context, endpoint string, poll time.Duration, t *totals, log *logger.Logger) (sdkmetric.Exporter, *sdkmetric.ManualReader, *outage, error) {
	exp, err := newExporter(ctx, endpoint, poll)
	if err != nil {
		return nil, nil, nil, err
	}
	status := newOutage(log)
	otelapi.SetErrorHandler(otelapi.ErrorHandlerFunc(status.handle))
	return exp, newReader(exp, t), status, nil
}

// loop runs rounds on the schedule every polling mode shares (core.Poll,
// which also logs an overrun) until ctx ends, handing each finished round to
// offer, which never blocks. A round cut short by ctx is not offered. A
// continuous source's first report comes one poll after the start: at once
// it would cover no packet.
func loop(ctx context.Context, run func(context.Context) core.Report, offer func(core.Report), poll time.Duration, continuous bool, log *logger.Logger) {
	first := time.Duration(0) // rounds: the first one at once
	if continuous {
		first = poll
	}
	polls := core.NewPoll(poll, time.Now().Add(first), log)
	timer := time.NewTimer(first)
	defer timer.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		rd := run(ctx)
		if ctx.Err() != nil {
			return
		}
		next, _ := polls.Next(start, time.Now())
		offer(rd)
		log.Debugf("round %d: %d results, %d packets, %d failed, %s; handed to the front end",
			n, len(rd.Results), rd.Packets, rd.Failures, rd.Duration.Round(time.Millisecond))
		timer.Reset(time.Until(next))
	}
}
