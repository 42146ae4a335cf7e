package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

const (
	restartDelay = 200 * time.Millisecond
	// maxRestartDelay bounds the back-off of an engine process that fails
	// at once every time it starts (a missing capability, say).
	maxRestartDelay = 5 * time.Second
)

// errReplan ends a session on purpose: addresses or targets changed.
var errReplan = errors.New("target addresses changed")

// tclLane is the part of a Stream one hping3 binary runs: sessions one
// after another for the life of the Stream, on the steady schedule: a new
// one when addresses or its targets change, and after a failure,
// restartDelay later (doubling while the process keeps failing at once).
type tclLane struct {
	bin     string
	session *session
	sched   *steadySchedule
	guard   *sync.Mutex // the Stream's: guards plan and the targets' reports
	replans chan struct{}

	targets []*target // the targets of the running plan (path probes: their hops)
	// plan is what the next session takes (at start, and after a
	// reload); nil when it is the running one. Guarded by guard.
	plan *lanePlan

	restarts atomic.Int64 // process restarts after failures, not yet reported
	starts   atomic.Int64 // processes started, not yet reported
}

// lanePlan is what a lane's sessions probe.
type lanePlan struct {
	targets []*target
	probes  int     // targets and path probes, each one packet per period
	rate    float64 // packets/s: the lane's share of max_packet_rate
}

// newTclLane is the lane of an hping3 binary, whose first session takes
// plan.
func newTclLane(bin string, sh *shared, guard *sync.Mutex, plan lanePlan) *tclLane {
	sched := &steadySchedule{log: sh.log, period: map[*target]time.Duration{}}
	return &tclLane{bin: bin, sched: sched, session: newSession(bin, sh, sched, guard), guard: guard, replans: make(chan struct{}, 1), plan: &plan}
}

// offer makes p the lane's plan, taken by its next session, which it
// starts at once; unless p is the plan it runs (the same targets in
// another order, maybe): that session goes on. Called with guard held.
func (l *tclLane) offer(p lanePlan) {
	if l.plan == nil && l.sched.rate == p.rate && sameTargets(l.targets, p.targets) {
		return
	}
	l.plan = &p
	l.replan()
}

// replan ends the running session once its packets in flight are
// decided; the next one takes the plan and the addresses of the moment.
func (l *tclLane) replan() {
	select {
	case l.replans <- struct{}{}:
	default:
	}
}

// takeCounts returns the restarts and process starts since the last call.
func (l *tclLane) takeCounts() (restarts, starts int) {
	return int(l.restarts.Swap(0)), int(l.starts.Swap(0))
}

// runSessions runs sessions until ctx ends.
func (l *tclLane) runSessions(ctx context.Context) {
	delay := restartDelay
	for ctx.Err() == nil {
		began := time.Now()
		err := l.oneSession(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReplan) {
			delay = restartDelay
			continue
		}
		// A process that keeps failing at once backs off; one that ran
		// for a while starts again quickly.
		if time.Since(began) >= 2*time.Second {
			delay = restartDelay
		}
		l.session.sh.log.Errorf("the hping3 engine failed and starts again in %v: %v", delay, err)
		l.restarts.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRestartDelay)
	}
}

// oneSession routes the resolved targets and runs one session on them,
// until the process fails (the error), addresses change (errReplan) or
// ctx ends.
func (l *tclLane) oneSession(ctx context.Context) error {
	l.guard.Lock()
	if p := l.plan; p != nil {
		l.plan = nil
		l.targets = p.targets
		l.sched.plan(p)
	}
	live := routeAll(l.targets)
	l.guard.Unlock()
	for _, t := range l.targets {
		t.hopCount, t.routerTTL = 0, 0
	}
	if len(live) == 0 {
		// Nothing to probe until an address changes.
		select {
		case <-ctx.Done():
		case <-l.replans:
		}
		return errReplan
	}
	_, err := l.session.run(ctx, live, l.replans, func() { l.starts.Add(1) })
	switch {
	case err == nil:
		return errReplan
	case ctx.Err() == nil:
		l.lose(err)
	}
	return err
}

// lose counts every packet still in flight when the process failed as
// lost to err: not counted, its target's next window fails with the
// reason. A path probe's lost packet is not counted either, and its
// target's path is measured from the rest.
func (l *tclLane) lose(err error) {
	open := l.session.fl.open()
	l.guard.Lock()
	defer l.guard.Unlock()
	for _, f := range open {
		if t := f.t; t.hopOf == nil {
			t.lost++
			t.lostErr = err
		}
	}
}

// sameTargets reports whether a and b hold the same targets, in any order.
func sameTargets(a, b []*target) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[*target]bool, len(a))
	for _, t := range a {
		in[t] = true
	}
	for _, t := range b {
		if !in[t] {
			return false
		}
	}
	return true
}

// steadySchedule is continuous mode's: every target one packet per
// period, the targets spread evenly over it.
type steadySchedule struct {
	log    *logger.Logger
	rate   float64                   // packets/s of the plan it runs
	ahead  time.Duration             // streamAhead of its targets
	period map[*target]time.Duration // one packet this often, path probes as their target
}

// steadyPolicy: continuous mode sends no last packet, closes each packet
// at its deadline, and drains when told to or when a capture ends.
var steadyPolicy = policy{ending: "before starting again with the new addresses"}

func (ss *steadySchedule) pace() pacer    { return newPacer(ss.rate, ss.ahead) }
func (ss *steadySchedule) policy() policy { return steadyPolicy }

// plan sets every target's period: interval, or longer when the targets
// together would exceed the plan's rate (packets/s) at their intervals.
func (ss *steadySchedule) plan(p *lanePlan) {
	need := 0.0
	for _, t := range p.targets {
		need += t.s.Rate() * float64(1+len(t.hops))
	}
	stretch := 1.0
	if need > p.rate {
		stretch = need / p.rate
		// Path probes are planned at max_hops per sweep: the most a sweep
		// sends, before a target's hop count is known.
		ss.log.Warnf("mode continuous: %d targets and %d path probes (one per TTL up to max_hops) at their intervals would send %.0f packets/s, more than max_packet_rate allows here (%.0f/s): each target's interval is stretched %.2f times",
			len(p.targets), p.probes-len(p.targets), need, p.rate, stretch)
	}
	clear(ss.period)
	for _, t := range p.targets {
		period := time.Duration(float64(t.s.Interval) * stretch)
		ss.period[t] = period
		for _, h := range t.hops {
			ss.period[h] = period
		}
	}
	ss.rate, ss.ahead = p.rate, streamAhead(p.targets, ss.period)
}

// streamAhead is aheadOf the targets' shortest period. 300 targets at 1
// packet/s each took 2.2 s (engine) and 1.8 s (plugin) of CPU in 20 s with
// one write per packet, and 0.75 s and 0.8 s with 20 ms.
func streamAhead(targets []*target, period map[*target]time.Duration) time.Duration {
	shortest := time.Duration(math.MaxInt64)
	for _, t := range targets {
		shortest = min(shortest, period[t])
	}
	return aheadOf(shortest)
}

func (ss *steadySchedule) packets(t *target) string {
	return fmt.Sprintf("one packet every %v", ss.period[t])
}

// begin spreads the targets evenly over their period from now.
func (ss *steadySchedule) begin(targets []*target, now time.Time) {
	for i, t := range targets {
		t.due = now.Add(time.Duration(float64(ss.period[t]) * float64(i) / float64(len(targets))))
	}
}

// next: a period after this packet was due, and at least interval after
// it really went. A path probe past its path's end skips this sweep.
func (ss *steadySchedule) next(t *target, slot, now time.Time, sent bool) bool {
	if !sent {
		t.due = t.due.Add(ss.period[t])
		return true
	}
	t.due = later(t.due.Add(ss.period[t]), now.Add(t.s.Interval))
	return true
}
