package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Continuous probing. Per hping3 binary one Tcl engine process at a time
// (a session: a new one after an address change or a failure) sends every
// target one packet every interval, the targets' packets spread evenly over
// the interval. A packet is decided
// when its timeout (plus captureGrace) has passed since it went, or when it
// could not be sent: only then does it join its target's window, with every
// answer it had (its reply, duplicates, ICMP errors). A report (Next) takes
// every target's decided packets and measures them as a round does
// (target.measure); a packet still inside its timeout waits for the next
// report, so each packet is counted in exactly one window.
//
// Names are looked up at start, then again every resolveEvery (a name that
// did not resolve: every retryResolve). When a target's address changes,
// the engine stops sending, lets the packets in flight be decided, and
// starts again with the new addresses (new routes and captures): nothing is
// lost. When the engine crashes, hangs or floods, it is killed: the packets
// then in flight are not counted, their targets' next window fails
// (result_code 2) with the reason, and the engine starts again after
// restartDelay.
const (
	restartDelay = 200 * time.Millisecond
	// maxRestartDelay bounds the back-off of an engine that fails at once
	// every time it starts (a missing capability, say).
	maxRestartDelay = 5 * time.Second
	// firstWait bounds how long the first report waits for every target's
	// first decided packet.
	firstWait = 5 * time.Second
	// maxAhead bounds streamAhead.
	maxAhead = 100 * time.Millisecond
)

// streamAhead is how far ahead of their slots the packets go in one write:
// a tenth of the shortest period, at most maxAhead. The CPU of the engine
// and the plugin is mostly wake-ups (a wake-up of the sender wakes both):
// 300 targets at 1 packet/s each took 2.2 s and 1.8 s of CPU in 20 s with
// one write per packet, and 0.75 s and 0.8 s with 20 ms. With the
// plugin's own capture the times are the kernel's, so a packet that goes
// early costs no accuracy. The rate cap still spaces the packets' slots
// 1/max_packet_rate apart: any window holds no more packets than the cap
// allows over the window plus streamAhead, and a target's packets are
// never more than streamAhead early, so never closer than 9/10 of its
// period.
func streamAhead(targets []*target) time.Duration {
	ahead := maxAhead
	for _, t := range targets {
		ahead = min(ahead, t.period/10)
	}
	return max(ahead, time.Millisecond)
}

// errReplan ends an engine session on purpose: addresses changed.
var errReplan = errors.New("target addresses changed")

// Stream is the Source of mode continuous.
type Stream struct {
	r      *Runner // the configuration of the moment (a reload replaces it)
	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup

	first     bool       // no report yet
	reloading sync.Mutex // one reload at a time

	mu       sync.Mutex
	engines  []*tclStream // one per hping3 binary
	targets  []*target    // one per job, in configuration order
	last     time.Time    // the previous report
	restarts int          // engine restarts since the previous report
	started  int          // engine processes started since the previous report
}

func newStream(r *Runner) *Stream {
	s := &Stream{r: r, last: time.Now(), first: true}
	for i := range r.jobs {
		t := r.newTarget(i)
		if t.s.Path {
			for h := 1; h <= t.s.MaxHops; h++ {
				t.addHop(h)
			}
		}
		s.targets = append(s.targets, t)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.resolveAll(s.ctx)

	// One engine per hping3 binary, sharing the packet rate in proportion
	// to their targets and path probes, each one packet per period.
	s.mu.Lock()
	s.assign(r)
	s.mu.Unlock()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		// An address that changed: every engine starts again with the
		// addresses of the moment (there is one engine per hping3 binary,
		// one in almost every configuration).
		s.resolveLoop(s.ctx, func(*target) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, c := range s.engines {
				select {
				case c.replan <- struct{}{}:
				default:
				}
			}
		})
	}()
	return s
}

// newEngine is the engine of one hping3 binary, without targets yet.
func (s *Stream) newEngine(r *Runner, bin string) *tclStream {
	c := &tclStream{st: s, replan: make(chan struct{}, 1), session: session{bin: bin, start: r.start, clock: r.clock, log: r.log, ids: r.ids,
		closeAtDeadline: true, mu: &s.mu, ending: "before starting again with the new addresses"}}
	c.sched, c.udpRing, c.drain = c, c.ring, c.replan
	c.onStart = func() {
		s.mu.Lock()
		s.started++
		s.mu.Unlock()
	}
	return c
}

// Targets is the number of probes of every report.
func (s *Stream) Targets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.targets)
}

// Continuous is true: a Stream's reports are windows.
func (s *Stream) Continuous() bool { return true }

// Close stops the engines and the lookups, and waits for them.
func (s *Stream) Close() {
	s.cancel()
	s.done.Wait()
}

// Next returns the window since the previous report: every packet decided
// in it, measured per target. The first report waits, up to firstWait,
// until the first packets can have been decided (a period and a timeout
// after the start): a request that comes right at start would otherwise
// report every target as having no packet.
func (s *Stream) Next(ctx context.Context) Report {
	if s.first {
		s.first = false
		s.awaitFirst(ctx)
	}
	s.mu.Lock()
	now := time.Now()
	run := s.r
	rd := Report{Start: s.last, Duration: now.Sub(s.last), Window: true,
		Results: make([]probe.Result, 0, len(s.targets)), Restarts: s.restarts, Processes: s.started, Vantage: run.cfg.Vantage}
	words := windowWords(rd.Duration)
	for _, t := range s.targets {
		if t.fresh {
			// New by a reload: it reports from its first decided packet
			// on, not as a failure for a window it was hardly in.
			if len(t.done) == 0 && t.lost == 0 && t.err == nil && t.res.Code == probe.OK {
				continue
			}
			t.fresh = false
		}
		r := probe.NewResult(probe.Target{Name: t.name, Tags: t.tags, Res: t.res}, t.s, rd.Start)
		r.Duration = rd.Duration
		// A name that does not resolve (now): result_code 1 for the window.
		if r.Code == probe.OK {
			t.measure(&r, words)
		}
		rd.Results = append(rd.Results, r)
		t.reset()
	}
	s.last, s.restarts, s.started = now, 0, 0
	s.mu.Unlock()
	rd.CaptureDrops = run.clock.takeDrops()
	rd.tally()
	if len(rd.Results) == len(run.jobs) {
		run.failures.record(rd.Results) // (its jobs' results, in their order)
	}
	return rd
}

// windowWords words a window's failures.
func windowWords(length time.Duration) failureWords {
	return failureWords{
		noPacket: func(t *target) error {
			return fmt.Errorf("no packet of this target was decided in this window of %v: a packet is decided %v after it went (its timeout)",
				length.Round(time.Millisecond), t.s.Timeout)
		},
		lost: func(t *target) error {
			return fmt.Errorf("%w; %d packets in flight are not counted, and the engine was started again", t.lostErr, t.lost)
		},
	}
}

// awaitFirst waits until every target that can be probed has a decided
// packet (and its first path probe one), or firstWait has passed.
func (s *Stream) awaitFirst(ctx context.Context) {
	deadline := time.Now().Add(firstWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		s.mu.Lock()
		waiting := false
		for _, t := range s.targets {
			// With path probes, its first hop too: it goes first in every
			// sweep, and on a one-hop path it is the path's end.
			if t.res.Code == probe.OK && t.err == nil && (len(t.done) == 0 || len(t.hops) > 0 && len(t.hops[0].done) == 0) {
				waiting = true
				break
			}
		}
		s.mu.Unlock()
		if !waiting {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// tclStream is the part of a Stream one hping3 binary runs, and its
// schedule: every target one packet per period, the targets spread evenly
// over it. It runs sessions one after another for the life of the Stream:
// a new one when addresses change, and after a failure, restartDelay
// later (doubling while the engine keeps failing at once).
type tclStream struct {
	session
	st      *Stream
	targets []*target // the configured targets (path probes: their hops)
	probes  int       // targets and path probes, each one packet per period
	replan  chan struct{}
	rate    float64 // packets/s of the plan the sessions run
	// pending is the targets and rate the next session takes (at start,
	// and after a reload); guarded by st.mu.
	pending *enginePlan
}

// enginePlan is what an engine's next session probes.
type enginePlan struct {
	targets []*target
	probes  int
	rate    float64 // packets/s: the engine's share of max_packet_rate
}

// plan sets every target's period: interval, or longer when the targets
// together would exceed rate (packets/s) at their intervals.
func (c *tclStream) plan(rate float64) {
	need := 0.0
	for _, t := range c.targets {
		need += t.s.Rate() * float64(1+len(t.hops))
	}
	stretch := 1.0
	if need > rate {
		stretch = need / rate
		// Path probes are planned at max_hops per sweep: the most a sweep
		// sends, before a target's hop count is known.
		c.log.Warnf("mode continuous: %d targets and %d path probes (one per TTL up to max_hops) at their intervals would send %.0f packets/s, more than max_packet_rate allows here (%.0f/s): each target's interval is stretched %.2f times",
			len(c.targets), c.probes-len(c.targets), need, rate, stretch)
	}
	for _, t := range c.targets {
		t.period = time.Duration(float64(t.s.Interval) * stretch)
		for _, h := range t.hops {
			h.period = t.period
		}
	}
	c.rate = rate
	c.pace = newPacer(rate, streamAhead(c.targets))
	c.planned = 0 // the session limits the new pace's ahead afresh
}

func (c *tclStream) packets(t *target) string {
	return fmt.Sprintf("one packet every %v", t.period)
}

// ring is how many source ports a UDP target cycles through: a port is
// used again only after its previous packet was decided.
func (c *tclStream) ring(t *target) int {
	return int((t.s.Timeout+captureGrace)/t.period) + 2
}

// begin spreads the targets evenly over their period from now.
func (c *tclStream) begin(targets []*target, now time.Time) {
	for i, t := range targets {
		t.due = now.Add(time.Duration(float64(t.period) * float64(i) / float64(len(targets))))
	}
}

// next: a period after this packet was due, and at least interval after
// it really went. A path probe past its path's end skips this sweep.
func (c *tclStream) next(t *target, slot, now time.Time, sent bool) bool {
	if !sent {
		t.due = t.due.Add(t.period)
		return true
	}
	t.due = later(t.due.Add(t.period), now.Add(t.s.Interval))
	return true
}

// runSessions runs sessions until ctx ends.
func (c *tclStream) runSessions(ctx context.Context) {
	delay := restartDelay
	for ctx.Err() == nil {
		began := time.Now()
		err := c.oneSession(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReplan) {
			delay = restartDelay
			continue
		}
		// An engine that keeps failing at once backs off; one that ran
		// for a while starts again quickly.
		if time.Since(began) >= 2*time.Second {
			delay = restartDelay
		}
		c.log.Errorf("the hping3 engine failed and starts again in %v: %v", delay, err)
		c.st.mu.Lock()
		c.st.restarts++
		c.st.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRestartDelay)
	}
}

// oneSession routes the resolved targets and runs one session on them,
// until the engine fails (the error), addresses change (errReplan) or ctx
// ends.
func (c *tclStream) oneSession(ctx context.Context) error {
	c.st.mu.Lock()
	if p := c.pending; p != nil {
		c.pending = nil
		c.targets, c.probes = p.targets, p.probes
		c.plan(p.rate)
	}
	live := routeAll(c.targets)
	c.st.mu.Unlock()
	for _, t := range c.targets {
		t.hopCount = 0
	}
	if len(live) == 0 {
		// Nothing to probe until an address changes.
		select {
		case <-ctx.Done():
		case <-c.replan:
		}
		return errReplan
	}
	_, err := c.session.run(ctx, live)
	switch {
	case err == nil:
		return errReplan
	case ctx.Err() == nil:
		c.lose(err)
	}
	return err
}

// lose counts every packet still in flight when the engine failed as lost
// to err: not counted, its target's next window fails with the reason. A
// path probe's lost packet is not counted either, and its target's path is
// measured from the rest.
func (c *tclStream) lose(err error) {
	open := c.fl.open()
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	for _, f := range open {
		if t := f.t; t.hopOf == nil {
			t.lost++
			t.lostErr = err
		}
	}
}
