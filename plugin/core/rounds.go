package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// roundAhead is aheadOf the targets' shortest interval. A round is paced
// by max_packet_rate, one slot per packet: writing one packet per slot
// woke the sender, the engine and its event loop once per packet (1000
// targets x 3: 7,858 writes, 8,572 pselect6 in hping3 and half the CPU in
// the kernel).
func roundAhead(targets []*target) time.Duration {
	shortest := time.Duration(math.MaxInt64)
	for _, t := range targets {
		shortest = min(shortest, t.s.Interval)
	}
	return aheadOf(shortest)
}

// ttlStep spaces a round's path probes' first packets by their TTL: only
// their order counts, so one nanosecond a TTL.
const ttlStep = time.Nanosecond

// tclRound is the part of a round one Tcl engine process runs: every
// target whose group uses one hping3 binary, count packets each, in one
// session on the round's schedule.
type tclRound struct {
	targets []*target       // the configured targets
	results []*probe.Result // theirs
	sched   *roundSchedule
	session *session
	live    []*target // the targets and path probes the session sends for
}

func newTclRound(bin string, sh *shared) *tclRound {
	sched := &roundSchedule{left: map[*target]int{}}
	// No other goroutine reads a round's targets while it runs: the
	// guard is its own.
	return &tclRound{sched: sched, session: newSession(bin, sh, sched, &sync.Mutex{})}
}

// roundSchedule is a round's: every target is due at once, so the rate
// cap spaces their first packets 1/rate apart, and each next packet is due
// interval after the previous one really went, so the targets keep that
// order and spacing. A round then lasts max((count-1) x interval,
// packets / rate) plus the slowest reply. Its session ends when every
// packet is answered or past its timeout, captureGrace after the last
// answer.
type roundSchedule struct {
	rate  float64         // packets/s: the round's share of max_packet_rate
	ahead time.Duration   // roundAhead of its targets (runTcl)
	left  map[*target]int // packets still to send
}

// roundPolicy: a round sends a last packet, keeps each packet open until
// the session ends (a reply after the timeout is counted late while the
// round lasts; a packet answered in time holds it up no longer), and a
// capture that ends fails the targets probed through it.
var roundPolicy = policy{finite: true, ending: "at the end of the round"}

func (rs *roundSchedule) pace() pacer    { return newPacer(rs.rate, rs.ahead) }
func (rs *roundSchedule) policy() policy { return roundPolicy }

// begin: every target is due at once; path probes in TTL order, so that
// every target's lower TTLs go before any higher one and the answer that
// ends a path is mostly back before the TTLs past it are due, and they
// are not sent.
func (rs *roundSchedule) begin(targets []*target, now time.Time) {
	for _, t := range targets {
		t.due = now
		if t.hopOf != nil {
			t.due = now.Add(time.Duration(t.s.TTL) * ttlStep)
		}
	}
}

// next: at least interval after this packet really went. A path probe past
// its path's end sends none of the rest.
func (rs *roundSchedule) next(t *target, slot, now time.Time, sent bool) bool {
	if !sent {
		return false
	}
	rs.left[t]--
	if rs.left[t] == 0 {
		return false
	}
	t.due = later(slot, now).Add(t.s.Interval)
	return true
}

func (rs *roundSchedule) packets(t *target) string { return fmt.Sprintf("%d packets", t.s.Count) }

// roundWords words a round's failures.
var roundWords = failureWords{
	noPacket: func(*target) error { return errors.New("the hping3 engine sent no packet") },
	lost:     func(t *target) error { return t.lostErr },
}

// runRound probes every resolved target of the round and fills their
// Results. It returns whether an engine process was started.
func (rd *tclRound) runRound(ctx context.Context) bool {
	rd.live = routeAll(rd.targets)
	for _, t := range rd.live {
		rd.sched.left[t] = t.s.Count // (what failed reads, even before begin)
	}
	started := false
	if len(rd.live) > 0 {
		var err error
		started, err = rd.session.run(ctx, rd.live, nil, nil)
		switch {
		case err == nil:
		case !started:
			for _, t := range rd.live {
				t.err = err
			}
		case ctx.Err() != nil:
			rd.failed(errStopping)
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
		t.measure(r, roundWords, true)
		if first, end := t.tally.First, t.tally.End; !first.IsZero() {
			r.Start, r.Duration = first, end.Sub(first)+r.DNS
		}
	}
	return started
}

// failed takes an engine process's failure: a target (or path probe) it
// had not finished, with a packet not sent or not answered, is not
// measured in this round and fails with the reason (a target's path is
// then left out); the others keep what they measured.
func (rd *tclRound) failed(err error) {
	unfinished := map[*target]bool{}
	for _, t := range rd.live {
		// One that could not be probed (no capture) keeps its reason.
		unfinished[t] = t.err == nil && rd.sched.left[t] > 0
	}
	open := rd.session.fl.open()
	for _, f := range open {
		if !f.settled() {
			unfinished[f.t] = true
		}
	}
	for _, f := range open {
		if !unfinished[f.t] {
			rd.session.close(f)
		}
	}
	for t, ok := range unfinished {
		if ok {
			t.tally, t.done, t.lostErr = probe.Tally{}, nil, err
		}
	}
}
