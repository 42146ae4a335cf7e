package core

import (
	"context"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Source is what a long-running front end reads from the core (each one a
// Reloader too): one report
// per Telegraf request, poll_interval tick or OTLP export. A Runner
// (mode "rounds") probes every target once per report; a Stream (mode
// "continuous") probes all the time and reports the window of packets
// decided since the previous report.
type Source interface {
	// Next returns the next report. A Runner runs a round and returns when
	// it ends or ctx does; a Stream returns its window at once.
	Next(ctx context.Context) Report
	// Targets is the number of probes (lines) of every report.
	Targets() int
	// Close stops whatever the source keeps running (a Stream's engine).
	Close()
	// Continuous reports whether the reports are windows of a source that
	// probes all the time (a Stream), not rounds: a front end then keeps
	// no round running and waits for nothing between reports.
	Continuous() bool
}

// Next runs one round: a Runner is the Source of mode "rounds".
func (r *Runner) Next(ctx context.Context) Report { return r.Run(ctx) }

// Close does nothing: a Runner keeps nothing running between rounds.
func (r *Runner) Close() {}

// Continuous is false: a Runner's reports are rounds.
func (r *Runner) Continuous() bool { return false }

// NewSource returns the Source of the long-running front ends: a Stream in
// mode continuous (the default), which needs every group on the Tcl
// engine, else a Runner. --once and --site24x7 use New: one round.
func NewSource(cfg *config.Config, log *logger.Logger) Source {
	return sourceOf(New(cfg, log))
}

// sourceOf is r's configuration's Source, r itself in mode rounds.
func sourceOf(r *Runner) Source {
	if r.cfg.Mode == config.ModeRounds {
		return &rounds{r: r}
	}
	for gi, e := range r.engines {
		if !e.tcl {
			r.log.Warnf("mode continuous needs the tcl engine (hping3's Tcl API), which inputs.hping3[%d] cannot use: probing in rounds (set mode = \"rounds\" to say so)", gi)
			return &rounds{r: r}
		}
	}
	return newStream(r)
}
