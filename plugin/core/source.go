package core

import (
	"context"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Source is what a long-running front end reads from the core: one report
// per Telegraf request, poll_interval tick or OTLP export. A Runner (mode
// rounds) probes every target once per report; a Stream (mode continuous)
// probes all the time and reports the window of packets decided since the
// previous report. Each is a Reloader too.
type Source interface {
	// Next returns the next report. A Runner runs a round and returns when
	// it ends or ctx does; a Stream returns its window at once.
	Next(ctx context.Context) Report
	// Targets is the number of probes (lines) of every report.
	Targets() int
	// Close stops whatever the source keeps running (a Stream's engine
	// processes).
	Close()
	// Continuous reports whether the reports are windows of a source that
	// probes all the time (a Stream), not rounds: a front end then keeps
	// no round running and waits for nothing between reports.
	Continuous() bool
}

// Reloader is a Source whose configuration can be replaced while it runs
// (the standalone modes' reload, a targets file that changed). Reload
// either takes cfg whole or refuses it with the reason, the old
// configuration running on.
type Reloader interface {
	Reload(cfg *config.Config) error
}

// Peeker is a Source that can say, between reports, what its next report
// would count now (a Stream: the packets decided so far in its window).
// WaitFirst does before the first report what Next would otherwise do at
// its start: wait, for a while, until the report can hold packets. A front
// end that takes reports under a lock its readers share calls it first,
// outside that lock.
type Peeker interface {
	Peek() Report
	WaitFirst(ctx context.Context)
}

// NewSource returns the Source of the long-running front ends for a
// validated configuration: a Stream in mode continuous (the default),
// which needs every group on the Tcl engine, else a Runner. --once and
// --site24x7 use New: one round.
func NewSource(cfg *config.Config, log *logger.Logger) Source {
	return sourceOf(newSetup(cfg, log))
}

// sourceOf is st's Source: continuous mode falls back to rounds, with a
// W!, when a group cannot run the Tcl engine.
func sourceOf(st *setup) Source {
	if st.cfg.Mode == config.ModeRounds {
		return newRunner(st)
	}
	if err := continuousNeeds(st.engines); err != nil {
		st.log.Warnf("%v: probing in rounds (set mode = \"rounds\" to say so)", err)
		return newRunner(st)
	}
	return newStream(st)
}
