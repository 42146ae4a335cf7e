package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Continuous probing. Per hping3 binary one lane (lane.go) runs one engine
// process at a time (a session: a new one after an address change or a
// failure) that sends every target one packet every interval, the
// targets' packets spread evenly over the interval. A packet is decided
// when its timeout (plus captureGrace) has passed since it went, or when
// it could not be sent: only then does it join its target's window, with
// every answer it had (its reply, duplicates, ICMP errors). A report
// (Next) takes every target's decided packets and measures them as a
// round does (target.measure); a packet still inside its timeout waits
// for the next report, so each packet is counted in exactly one window.
//
// Names are looked up at start, then again every resolveEvery (a name that
// did not resolve: every retryResolve). When a target's address changes,
// the lane stops sending, lets the packets in flight be decided, and
// starts again with the new addresses (new routes and captures): nothing is
// lost. When the engine process crashes, hangs or floods, it is killed:
// the packets then in flight are not counted, their targets' next window
// fails (result_code 2) with the reason, and the lane starts it again
// after restartDelay.
const (
	// firstWait bounds how long the first report waits for every target's
	// first decided packet.
	firstWait = 5 * time.Second
)

// How often continuous mode looks names up again: resolveEvery, and
// retryResolve while a name does not resolve. (Variables for the tests.)
var resolveEvery, retryResolve = time.Minute, 10 * time.Second

// Stream is the Source of mode continuous: its reports are windows.
type Stream struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup

	first     bool       // no report yet
	reloading sync.Mutex // one reload at a time

	// mu guards what follows and what a window reads of the targets
	// (their reports, addresses and err), which the lanes write.
	mu      sync.Mutex
	st      *setup           // the configuration of the moment (a reload replaces it)
	lanes   []*tclLane       // one per hping3 binary
	targets []*target        // one per job, in configuration order
	fresh   map[*target]bool // added by a reload, not reported yet
	last    time.Time        // the previous report
}

func newStream(st *setup) *Stream {
	s := &Stream{st: st, last: time.Now(), first: true, fresh: map[*target]bool{}}
	for i := range st.jobs {
		t := st.newTarget(i)
		t.addHops(pathLimit(t, 0))
		s.targets = append(s.targets, t)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.resolveAll(s.ctx)

	// One lane per hping3 binary, sharing the packet rate in proportion
	// to their targets and path probes, each one packet per period.
	s.mu.Lock()
	s.assign()
	s.mu.Unlock()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		// An address that changed: every lane starts again with the
		// addresses of the moment (there is one lane per hping3 binary,
		// one in almost every configuration).
		s.resolveLoop(s.ctx, func(*target) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, l := range s.lanes {
				l.replan()
			}
		})
	}()
	return s
}

// Targets is the number of probes of every report.
func (s *Stream) Targets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.targets)
}

// Continuous is true: a Stream's reports are windows.
func (s *Stream) Continuous() bool { return true }

// Close stops the lanes and the lookups, and waits for them.
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
	s.WaitFirst(ctx)
	s.mu.Lock()
	now := time.Now()
	st := s.st
	rd := Report{Start: s.last, Duration: now.Sub(s.last), Window: true,
		Results: make([]probe.Result, 0, len(s.targets)), Vantage: st.cfg.Vantage}
	for _, l := range s.lanes {
		restarts, starts := l.takeCounts()
		rd.Restarts += restarts
		rd.Processes += starts
	}
	words := windowWords(rd.Duration)
	for _, t := range s.targets {
		if s.fresh[t] {
			// New by a reload: it reports from its first decided packet
			// on, not as a failure for a window it was hardly in.
			if t.decided() == 0 && t.lost == 0 && t.err == nil && t.res.Code == probe.OK {
				continue
			}
			delete(s.fresh, t)
		}
		rd.Results = append(rd.Results, t.window(&rd, words, true))
		t.reset()
	}
	s.last = now
	s.mu.Unlock()
	rd.CaptureDrops = st.tap.takeDrops()
	rd.tally()
	if len(rd.Results) == len(st.jobs) {
		st.failures.record(rd.Results) // (its jobs' results, in their order)
	}
	return rd
}

// WaitFirst waits, before the first report only, as Next would (Peeker).
// Like Next, it is called from one goroutine.
func (s *Stream) WaitFirst(ctx context.Context) {
	if s.first {
		s.first = false
		s.awaitFirst(ctx)
	}
}

// Peek returns what the next report would count now, without taking it:
// each target's packets decided since the previous report, measured as
// Next measures them but without the path, and with nothing reset. A
// front end that shows totals between reports (a Prometheus scrape) adds
// it to what the reports gave; a target with nothing decided yet, or whose
// window has failed so far, has a result with Code not OK, as it would
// then. The Report has only Results, Start and Duration.
func (s *Stream) Peek() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	rd := Report{Start: s.last, Duration: now.Sub(s.last), Window: true, Results: make([]probe.Result, 0, len(s.targets))}
	words := windowWords(rd.Duration)
	for _, t := range s.targets {
		rd.Results = append(rd.Results, t.window(&rd, words, false))
	}
	return rd
}

// window is t's result for the window rd (its start and length), measured
// from its packets decided in it, with the path when path is set. A name
// that does not resolve (now) has result_code 1 for the window.
func (t *target) window(rd *Report, words failureWords, path bool) probe.Result {
	r := probe.NewResult(probe.Target{Name: t.name, Tags: t.tags, Res: t.res}, *t.s, rd.Start)
	r.Duration = rd.Duration
	if r.Code == probe.OK {
		t.measure(&r, words, path)
	}
	return r
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
			if t.res.Code == probe.OK && t.err == nil && (t.decided() == 0 || len(t.hops) > 0 && t.hops[0].decided() == 0) {
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

// Reload replaces the Stream's configuration. The targets that stay (same
// name, settings and tags) keep their window and their packets in flight;
// the others leave, and new ones start. Each lane whose targets changed
// stops sending, lets its packets in flight be decided (into the windows
// of the targets that stay) and starts again with the new list, as after
// an address change.
func (s *Stream) Reload(cfg *config.Config) error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	cur := s.current()
	st, err := cur.renew(cfg)
	if err != nil {
		return err
	}
	if err := continuousNeeds(st.engines); err != nil {
		return err
	}

	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return errors.New("the source is closed")
	}
	old := map[string][]*target{}
	for _, t := range s.targets {
		k := cur.identify(t)
		old[k] = append(old[k], t)
	}
	s.mu.Unlock()
	var next, added []*target
	for i := range st.jobs {
		t := st.newTarget(i)
		k := st.identify(t)
		if ts := old[k]; len(ts) > 0 {
			old[k] = ts[1:]
			next = append(next, ts[0])
			continue
		}
		t.addHops(pathLimit(t, 0))
		next = append(next, t)
		added = append(added, t)
	}
	// New names are looked up before their first session.
	var wg sync.WaitGroup
	for _, t := range added {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resolve(s.ctx, t)
		}()
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range next {
		t.index = i
	}
	fresh := map[*target]bool{}
	for _, t := range next {
		if s.fresh[t] {
			fresh[t] = true
		}
	}
	for _, t := range added {
		fresh[t] = true
	}
	s.targets, s.st, s.fresh = next, st, fresh
	s.assign()
	return nil
}

// assign gives each lane (one per hping3 binary) its targets and its
// share of the packet rate, starting the lanes of new binaries; the lanes
// take them at their next session, which a replan starts. A lane left
// without targets idles. Called with s.mu held.
func (s *Stream) assign() {
	byBin := map[string][]*target{}
	var bins []string
	all := 0
	for _, t := range s.targets {
		bin := s.st.bin(t)
		if _, ok := byBin[bin]; !ok {
			bins = append(bins, bin)
		}
		byBin[bin] = append(byBin[bin], t)
		all += 1 + len(t.hops)
	}
	have := map[string]*tclLane{}
	for _, l := range s.lanes {
		have[l.bin] = l
	}
	plan := func(bin string) lanePlan {
		ts := byBin[bin]
		probes := 0
		for _, t := range ts {
			probes += 1 + len(t.hops)
		}
		return lanePlan{targets: ts, probes: probes, rate: rateShare(s.st.cfg.MaxPacketRate, probes, all)}
	}
	for _, l := range s.lanes {
		l.offer(plan(l.bin))
	}
	for _, bin := range bins {
		if have[bin] != nil {
			continue
		}
		l := newTclLane(bin, s.st.shared, &s.mu, plan(bin))
		s.lanes = append(s.lanes, l)
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			l.runSessions(s.ctx)
		}()
	}
}

// resolveAll looks every name up, bounded as rounds are.
func (s *Stream) resolveAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resolve(ctx, t)
		}()
	}
	wg.Wait()
}

// current is the configuration of the moment: a reload replaces it.
func (s *Stream) current() *setup {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// resolve looks t's name up and reports whether its address changed.
func (s *Stream) resolve(ctx context.Context, t *target) bool {
	res, err := s.current().lookup(ctx, t.name, *t.s)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := res.IP != t.res.IP || res.Code != t.res.Code
	t.res = res
	return changed
}

// resolveLoop looks names up again on their schedule and calls changed
// for a target whose address changed. It follows the targets of the
// moment: a reload adds and removes some.
func (s *Stream) resolveLoop(ctx context.Context, changed func(*target)) {
	next := map[*target]time.Time{}
	tick := time.NewTicker(min(time.Second, retryResolve))
	defer tick.Stop()
	for first := true; ; first = false {
		now := time.Now()
		if !first {
			select {
			case <-ctx.Done():
				return
			case now = <-tick.C:
			}
		}
		s.mu.Lock()
		targets := slices.Clone(s.targets)
		s.mu.Unlock()
		seen := make(map[*target]bool, len(targets))
		for _, t := range targets {
			seen[t] = true
			if _, err := netip.ParseAddr(t.name); err == nil {
				continue // a literal: never looked up
			}
			at, ok := next[t]
			switch {
			case !ok: // looked up when it was added
				next[t] = now.Add(s.resolveAfter(t))
				continue
			case now.Before(at):
				continue
			}
			if s.resolve(ctx, t) {
				changed(t)
			}
			next[t] = time.Now().Add(s.resolveAfter(t))
		}
		for t := range next {
			if !seen[t] {
				delete(next, t)
			}
		}
	}
}

func (s *Stream) resolveAfter(t *target) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.res.Code != probe.OK {
		return retryResolve
	}
	return resolveEvery
}
