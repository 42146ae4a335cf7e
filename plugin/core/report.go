package core

import (
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Report is the outcome of one round, or in continuous mode (Window) of one
// window: every packet decided since the previous report.
type Report struct {
	Start     time.Time      // when the round (window) began; the timestamp of its lines
	Duration  time.Duration  // wall time of the whole round (the window's length)
	Results   []probe.Result // one per distinct target, in configuration order
	Processes int            // hping3 processes started
	Failures  int            // results whose Code is not probe.OK

	// Window is true for a continuous window: Results cover exactly the
	// packets decided in [Start, Start+Duration), each counted in one
	// window only, so sums over windows are the totals.
	Window bool
	// Packets is the number of packets the results count as sent, path
	// probes included.
	Packets int
	// Restarts counts the engine restarts in the window (after a crash, a
	// hang, a flood or a broken protocol, the packets then in flight are
	// not counted, and the targets that had some fail in this window with
	// the reason; or after a lost sync at the end of a session).
	Restarts int
	// Stamps counts the packets sent by the clock that timed them: the
	// kernel's (the plugin's own capture), hping3's send stamp standing in
	// for a probe the capture did not see leave, or hping3's alone (no
	// capture of the plugin's own there, or the CLI engine).
	Stamps probe.Stamps
	// CaptureDrops counts the packets the kernel dropped from the plugin's
	// captures since the previous report (their rings were full).
	CaptureDrops int
	// Vantage is the configured vantage, "" when none: the self-metrics
	// carry it as the results do.
	Vantage string
}

// tally counts rd's failures and the packets its results sent, path probes
// included: the same for a round and a window.
func (rd *Report) tally() {
	for i := range rd.Results {
		r := &rd.Results[i]
		if r.Code != probe.OK {
			rd.Failures++
		}
		rd.Packets += r.Transmitted
		rd.Stamps.Add(r.Stamps)
		if r.Path != nil {
			rd.Packets += r.Path.Sent
		}
	}
}
