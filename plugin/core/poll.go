package core

import (
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Poll is the schedule of every front end that runs a round each
// poll_interval (Telegraf's execd mode with poll_interval, and the OTLP
// mode). It behaves as Telegraf does with its own inputs, so that both modes
// read the same in a log and on a dashboard:
//
//   - Rounds are due on a fixed grid: the first round's start, then every
//     interval after it. The grid never drifts by the rounds' durations.
//   - A round that takes no longer than the interval is followed by the
//     next one at the first grid point after its start. If that point has
//     already passed (the round started late, or it was a round Telegraf
//     asked for between two points), the next round starts at once: a poll
//     that fell due during a round is merged into one further round, as
//     Telegraf's requests are, never lost.
//   - A round that takes longer than the interval overran it. The polls
//     that fell due meanwhile are skipped, not made up: the next round
//     starts at the first grid point at or after the end, so rounds never
//     run back to back and the schedule keeps its phase. The overrun is
//     logged in one W! line per overrunning round, however many polls it
//     skipped.
type Poll struct {
	interval time.Duration
	anchor   time.Time
	log      *logger.Logger
}

// NewPoll returns the schedule of rounds every interval (> 0), whose first
// round starts at first.
func NewPoll(interval time.Duration, first time.Time, log *logger.Logger) *Poll {
	return &Poll{interval: interval, anchor: first, log: log}
}

// Next returns when the round after one that ran from start to end is due
// (possibly already past: then it is due at once) and whether that round
// overran the interval, which Next has then logged.
func (p *Poll) Next(start, end time.Time) (next time.Time, overran bool) {
	took := end.Sub(start)
	if took <= p.interval {
		k := max(start.Sub(p.anchor), 0)/p.interval + 1
		return p.anchor.Add(k * p.interval), false
	}
	p.log.Warnf("round took %v, longer than poll_interval %v: polls that fell due meanwhile were skipped (fewer targets, a smaller count or a longer poll_interval fix this)",
		took.Round(time.Millisecond), p.interval)
	since := max(end.Sub(p.anchor), 0)
	k := (since + p.interval - 1) / p.interval // the first grid point at or after end
	return p.anchor.Add(k * p.interval), true
}
