package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// sendAhead lets a round's packets due within this window go in one write:
// the sender wakes at most about once per this interval.
const sendAhead = 200 * time.Microsecond

// tclRound is the part of a round one Tcl engine process runs: every target
// whose group uses one hping3 binary, count packets each. Its schedule:
// every target is due at once, so the rate cap spaces their first packets
// 1/rate apart, and each next packet is due interval after the previous
// one really went, so the targets keep that order and spacing. A round
// then lasts max((count-1) x interval, packets / rate) plus the slowest
// reply. It ends when every packet is answered or past its timeout, 20 ms
// after the last answer (captureGrace).
type tclRound struct {
	session
	targets []*target       // the configured targets
	results []*probe.Result // theirs
	live    []*target       // the targets and path probes the session sends for
}

func newTclRound(bin string, start startEngine, clock *kernelClock, log *logger.Logger, ids *identity) *tclRound {
	rd := &tclRound{session: session{bin: bin, start: start, clock: clock, log: log, ids: ids, finite: true, ending: "at the end of the round",
		// One UDP source port per packet.
		udpRing: func(t *target) int { return t.s.Count }}}
	rd.sched = rd
	return rd
}

// roundWords words a round's failures.
var roundWords = failureWords{
	noPacket: func(*target) error { return errors.New("the hping3 engine sent no packet") },
	lost:     func(t *target) error { return t.lostErr },
}

// begin: every target is due at once; path probes in TTL order, so that
// every target's lower TTLs go before any higher one and the answer that
// ends a path is mostly back before the TTLs past it are due, and they are
// not sent.
func (rd *tclRound) begin(targets []*target, now time.Time) {
	for _, t := range targets {
		t.due = now
		if t.hopOf != nil {
			t.due = now.Add(time.Duration(t.s.TTL))
		}
	}
}

// next: at least interval after this packet really went. A path probe past
// its path's end sends none of the rest.
func (rd *tclRound) next(t *target, slot, now time.Time, sent bool) bool {
	if !sent {
		return false
	}
	t.left--
	if t.left == 0 {
		return false
	}
	t.due = later(slot, now).Add(t.s.Interval)
	return true
}

func (rd *tclRound) packets(t *target) string { return fmt.Sprintf("%d packets", t.s.Count) }

// pathLimit is the highest TTL a round's path probes of a target try: the
// hop count the previous round found (hopCount), else max_hops. A path
// that grew longer shows as a target not reached, and the next round tries
// max_hops again.
func pathLimit(t *target, hopCount int) int {
	if !t.s.Path {
		return 0
	}
	if hopCount > 0 {
		return min(hopCount, t.s.MaxHops)
	}
	return t.s.MaxHops
}

// probe probes every resolved target of the round and fills their
// Results. It returns whether an engine process was started.
func (rd *tclRound) probe(ctx context.Context) bool {
	rd.live = routeAll(rd.targets)
	for _, t := range rd.live {
		t.left = t.s.Count
	}
	started := false
	if len(rd.live) > 0 {
		var err error
		started, err = rd.session.run(ctx, rd.live)
		switch {
		case err == nil:
		case !started:
			for _, t := range rd.live {
				t.err = err
			}
		case ctx.Err() != nil:
			rd.failed(errors.New("probe cancelled: the plugin is stopping"))
		default:
			rd.failed(err)
		}
	}
	for i, t := range rd.targets {
		r := rd.results[i]
		if r.Code != probe.OK {
			continue
		}
		r.Ran = started
		t.measure(r, roundWords)
		if first, end := t.span(); !first.IsZero() {
			r.Start, r.Duration = first, end.Sub(first)+r.DNS
		}
	}
	return started
}

// failed takes an engine failure: a target (or path probe) it had not
// finished, with a packet not sent or not answered, is not measured in
// this round and fails with the reason (a target's path is then left out);
// the others keep what they measured.
func (rd *tclRound) failed(err error) {
	unfinished := map[*target]bool{}
	for _, t := range rd.live {
		// One that could not be probed (no capture) keeps its reason.
		unfinished[t] = t.err == nil && t.left > 0
	}
	open := rd.fl.open()
	for _, f := range open {
		if !f.settled() {
			unfinished[f.t] = true
		}
	}
	for _, f := range open {
		if !unfinished[f.t] {
			rd.close(f)
		}
	}
	for t, ok := range unfinished {
		if ok {
			t.done, t.lostErr = nil, err
		}
	}
}

// span is when t's packets went and when the last was decided: its
// target's reply, or its timeout.
func (t *target) span() (first, end time.Time) {
	for _, rec := range t.done {
		if rec.Sent.IsZero() {
			continue
		}
		if first.IsZero() {
			first = rec.Sent
		}
		done := rec.Sent.Add(t.s.Timeout)
		for _, a := range rec.Answers {
			if probe.IsReply(a.Answer, t.ip, t.s.Protocol) {
				if a.At.Sub(rec.Sent) <= t.s.Timeout {
					done = a.At
				}
				break
			}
		}
		end = later(end, done)
	}
	return first, end
}
