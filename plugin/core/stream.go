package core

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Continuous probing. One Tcl engine process per hping3 binary runs for the
// life of the Stream and sends every target one packet every interval, the
// targets' packets spread evenly over the interval. A packet is decided
// when its timeout (plus captureGrace) has passed since it went, or when it
// could not be sent: only then does it join its target's window, with every
// answer it had (its reply, duplicates, ICMP errors). A report (Next) takes
// every target's decided packets and measures them with probe.Measure, as a
// round does; a packet still inside its timeout waits for the next report,
// so each packet is counted in exactly one window.
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
	resolveEvery = time.Minute
	retryResolve = 10 * time.Second
	restartDelay = 200 * time.Millisecond
	// maxRestartDelay bounds the back-off of an engine that fails at once
	// every time it starts (a missing capability, say).
	maxRestartDelay = 5 * time.Second
	// firstWait bounds how long the first report waits for every target's
	// first decided packet.
	firstWait = 5 * time.Second
	// maxWindow bounds the packets a target keeps for its next report
	// (22 minutes at the highest rate, 100 packets/s; 36 hours at 1/s),
	// so that a front end that stops asking cannot exhaust memory.
	maxWindow = 1 << 17
	// streamAhead lets the packets due within it go in one write. The
	// engine's and the plugin's CPU are mostly wake-ups and writes per
	// send: 300 targets at 1 packet/s each took 2.2 s and 1.8 s of CPU in
	// 20 s with one write per packet, and 0.75 s and 0.8 s with 20 ms.
	// The rate cap still spaces the packets' slots 1/max_packet_rate
	// apart, so the rate holds over any 20 ms and more; a target's packets
	// are at most 20 ms from their schedule.
	streamAhead = 20 * time.Millisecond
)

// errReplan ends an engine session on purpose: addresses changed.
var errReplan = errors.New("target addresses changed")

// Stream is the Source of mode continuous.
type Stream struct {
	r      *Runner
	cancel context.CancelFunc
	done   sync.WaitGroup

	first bool // no report yet

	mu       sync.Mutex
	targets  []*streamTarget // one per job, in configuration order
	last     time.Time       // the previous report
	restarts int             // engine restarts since the previous report
	started  int             // engine processes started since the previous report
}

// streamTarget is one probe of the stream.
type streamTarget struct {
	job  job
	s    config.Settings
	tags map[string]string

	// Under Stream.mu.
	res     probe.Resolution
	done    []probe.Record // decided since the previous report
	pathErr error          // why it cannot be probed now (no route, no capture)
	lostErr error          // the engine failed with packets of it in flight
	lost    int            // packets then in flight
	dropped int            // decided packets dropped beyond maxWindow

	// The engine's own (its goroutine only).
	ip       netip.Addr
	path     path
	period   time.Duration
	due      time.Time
	payload  []byte // its probes' data, made once
	tcpPort  int
	udpPorts []int
	udpNext  int

	// Path probing (path = true): one streamTarget per TTL 1..max_hops,
	// each sending one packet per period, so that every period is one
	// sweep. hops lists them on their target (their windows are read
	// under Stream.mu with the target's), hopOf points back.
	hops  []*streamTarget
	hopOf *streamTarget
	// dist is the TTL at which the path last ended (probe.EndsPath; the
	// engine's goroutine only): higher TTLs are not sent while it holds.
	// A packet at dist that did not end the path makes it unknown again,
	// and the next sweep tries every TTL.
	dist int
}

// flight is one packet sent and not yet decided.
type flight struct {
	t          *streamTarget
	p          packet.Probe
	rec        probe.Record
	acked      bool
	dispatched time.Time
	id         int
	deadline   time.Time // once acked: Sent + timeout + captureGrace
}

func newStream(r *Runner) *Stream {
	s := &Stream{r: r, last: time.Now(), first: true}
	for _, j := range r.jobs {
		g := r.cfg.Groups[j.group]
		t := &streamTarget{job: j, s: g.Settings, tags: r.cfg.Tags(j.group)}
		if g.Settings.Path && r.engines[j.group].tcl {
			for h := 1; h <= g.Settings.MaxHops; h++ {
				hs := g.Settings
				hs.TTL = h
				t.hops = append(t.hops, &streamTarget{job: j, s: hs, hopOf: t})
			}
		}
		s.targets = append(s.targets, t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.resolveAll(ctx)

	// One engine per hping3 binary, sharing the packet rate in proportion
	// to their targets.
	byBin := map[string][]*streamTarget{}
	var bins []string
	for _, t := range s.targets {
		bin := r.engines[t.job.group].bin
		if byBin[bin] == nil {
			bins = append(bins, bin)
		}
		byBin[bin] = append(byBin[bin], t)
		byBin[bin] = append(byBin[bin], t.hops...)
	}
	all := 0 // targets and path probes, each one packet per period
	for _, ts := range byBin {
		all += len(ts)
	}
	replans := map[string]chan struct{}{}
	for _, bin := range bins {
		e := &streamEngine{s: s, bin: bin, targets: byBin[bin], replan: make(chan struct{}, 1),
			rate: max(1, float64(r.cfg.MaxPacketRate)*float64(len(byBin[bin]))/float64(all))}
		replans[bin] = e.replan
		e.plan(r.log)
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			e.run(ctx)
		}()
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		s.resolveLoop(ctx, func(t *streamTarget) {
			select {
			case replans[r.engines[t.job.group].bin] <- struct{}{}:
			default:
			}
		})
	}()
	return s
}

// Targets is the number of probes of every report.
func (s *Stream) Targets() int { return len(s.targets) }

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
	rd := Report{Start: s.last, Duration: now.Sub(s.last), Window: true,
		Results: make([]probe.Result, len(s.targets)), Restarts: s.restarts, Processes: s.started, Vantage: s.r.cfg.Vantage}
	for i, t := range s.targets {
		rd.Results[i] = t.window(rd.Start, rd.Duration)
		t.done, t.lostErr, t.lost, t.dropped = nil, nil, 0, 0
		for _, h := range t.hops {
			h.done, h.lostErr, h.lost, h.dropped = nil, nil, 0, 0
		}
	}
	s.last, s.restarts, s.started = now, 0, 0
	s.mu.Unlock()
	rd.tally()
	s.r.failures.record(rd.Results)
	return rd
}

// awaitFirst waits until every target that can be probed has a decided
// packet, or firstWait has passed.
func (s *Stream) awaitFirst(ctx context.Context) {
	deadline := time.Now().Add(firstWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		s.mu.Lock()
		waiting := false
		for _, t := range s.targets {
			if t.res.Code == probe.OK && t.pathErr == nil && len(t.done) == 0 {
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

// window measures t's decided packets (under Stream.mu).
func (t *streamTarget) window(start time.Time, length time.Duration) probe.Result {
	r := probe.NewResult(probe.Target{Name: t.job.target, Tags: t.tags, Res: t.res}, t.s, start)
	r.Duration = length
	if r.Code != probe.OK {
		return r // its name does not resolve (now): result_code 1 for the window
	}
	probe.Measure(&r, t.done, t.s)
	var sendErr error
	for _, rec := range t.done {
		if rec.SendErr != nil {
			sendErr = rec.SendErr
			break
		}
	}
	switch {
	case t.dropped > 0:
		r.Code, r.Err = probe.Failed, fmt.Errorf("%d packets decided since the previous report (%v ago) were more than the %d kept for it: the oldest %d are not counted; report more often",
			len(t.done)+t.dropped, length.Round(time.Second), maxWindow, t.dropped)
	case t.lostErr != nil:
		r.Code, r.Err = probe.Failed, fmt.Errorf("%w; %d packets in flight are not counted, and the engine was started again", t.lostErr, t.lost)
	case sendErr != nil:
		r.Code, r.Err = probe.Failed, sendErr
	case t.pathErr != nil && r.Transmitted == 0:
		r.Code, r.Err = probe.Failed, t.pathErr
	case r.Transmitted == 0:
		r.Code, r.Err = probe.Failed, fmt.Errorf("no packet of this target was decided in this window of %v: a packet is decided %v after it went (its timeout)",
			length.Round(time.Millisecond), t.s.Timeout)
	}
	if len(t.hops) > 0 && r.Code == probe.OK {
		byTTL := make([][]probe.Record, len(t.hops))
		for i, h := range t.hops {
			byTTL[i] = h.done
		}
		target, _ := netip.ParseAddr(r.IP)
		r.Path = probe.MeasurePath(byTTL, target, t.s)
	}
	return r
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

// resolve looks t's name up and reports whether its address changed.
func (s *Stream) resolve(ctx context.Context, t *streamTarget) bool {
	release, err := s.r.sched.acquireDNS(ctx)
	if err != nil {
		return false
	}
	res := probe.Resolve(ctx, s.r.resolver, t.job.target, t.s.DNSTimeout)
	release()
	if ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := res.IP != t.res.IP || res.Code != t.res.Code
	t.res = res
	return changed
}

// resolveLoop looks names up again on their schedule and calls changed
// for a target whose address changed.
func (s *Stream) resolveLoop(ctx context.Context, changed func(*streamTarget)) {
	next := make([]time.Time, len(s.targets))
	now := time.Now()
	for i, t := range s.targets {
		if _, err := netip.ParseAddr(t.job.target); err == nil {
			continue // a literal: never looked up
		}
		next[i] = now.Add(s.resolveAfter(t))
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
		for i, t := range s.targets {
			if next[i].IsZero() || now.Before(next[i]) {
				continue
			}
			if s.resolve(ctx, t) {
				changed(t)
			}
			next[i] = time.Now().Add(s.resolveAfter(t))
		}
	}
}

func (s *Stream) resolveAfter(t *streamTarget) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.res.Code != probe.OK {
		return retryResolve
	}
	return resolveEvery
}

// streamEngine is one engine process and the targets it probes, restarted
// whenever it fails.
type streamEngine struct {
	s       *Stream
	bin     string
	targets []*streamTarget
	rate    float64
	replan  chan struct{}
}

// plan sets every target's period: interval, or longer when the targets
// together would exceed the packet rate at their intervals.
func (e *streamEngine) plan(log interface{ Warnf(string, ...any) }) {
	need := 0.0
	for _, t := range e.targets {
		need += t.s.Rate()
	}
	stretch := 1.0
	if need > e.rate {
		stretch = need / e.rate
		targets, hops := 0, 0
		for _, t := range e.targets {
			if t.hopOf == nil {
				targets++
			} else {
				hops++
			}
		}
		// Path probes are planned at max_hops per sweep: the most a sweep
		// sends, before a target's distance is known.
		log.Warnf("mode continuous: %d targets and %d path probes (one per TTL up to max_hops) at their intervals would send %.0f packets/s, more than max_packet_rate allows here (%.0f/s): each target's interval is stretched %.2f times",
			targets, hops, need, e.rate, stretch)
	}
	for _, t := range e.targets {
		t.period = time.Duration(float64(t.s.Interval) * stretch)
	}
}

// run runs engine sessions until ctx ends.
func (e *streamEngine) run(ctx context.Context) {
	delay := restartDelay
	for ctx.Err() == nil {
		began := time.Now()
		err := e.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReplan) || err == nil {
			delay = restartDelay
			continue
		}
		e.s.r.log.Errorf("the hping3 engine failed and starts again in %v: %v", delay, err)
		e.s.mu.Lock()
		e.s.restarts++
		e.s.mu.Unlock()
		// An engine that keeps failing at once backs off; one that ran
		// for a while starts again quickly.
		if time.Since(began) < 2*time.Second {
			delay = min(2*delay, maxRestartDelay)
		} else {
			delay = restartDelay
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// session is one engine process: it routes the resolved targets, reserves
// their source ports, starts the engine, opens the captures and sends until
// the engine fails (the error), addresses change (errReplan) or ctx ends.
func (e *streamEngine) session(ctx context.Context) error {
	s := e.s
	log := s.r.log
	// Route what resolved.
	rt := newRouter()
	var live []*streamTarget
	s.mu.Lock()
	for _, t := range e.targets {
		t.pathErr = nil
		if t.hopOf != nil || t.res.Code != probe.OK {
			continue // path probes go where their target goes
		}
		t.ip, _ = netip.ParseAddr(t.res.IP)
		if t.path, t.pathErr = rt.route(t.ip, t.s.Interface); t.pathErr != nil {
			continue
		}
		live = append(live, t)
		t.dist = 0
		for _, h := range t.hops {
			h.ip, h.path, h.pathErr = t.ip, t.path, nil
			live = append(live, h)
		}
	}
	s.mu.Unlock()
	if len(live) == 0 {
		// Nothing to probe until an address changes.
		select {
		case <-ctx.Done():
		case <-e.replan:
		}
		return errReplan
	}

	// Source ports for the life of the session: one per TCP target, and
	// for UDP a ring per target long enough that a port is used again
	// only after its previous packet was decided.
	tcpN, udpN := 0, 0
	for _, t := range live {
		switch t.s.Protocol {
		case config.TCP:
			tcpN++ // a path probe's TTL too, as in a round (batch.build)
		case config.UDP:
			udpN += udpRing(t)
		}
	}
	var blocks []*portBlock
	defer func() {
		for _, b := range blocks {
			b.release()
		}
	}()
	var tcpBlock, udpBlock *portBlock
	for _, want := range []struct {
		n    int
		typ  int
		into **portBlock
	}{{tcpN, syscall.SOCK_STREAM, &tcpBlock}, {udpN, syscall.SOCK_DGRAM, &udpBlock}} {
		if want.n == 0 {
			continue
		}
		b, err := reservePorts(want.typ, want.n)
		if err != nil {
			return fmt.Errorf("reserving source ports: %w", err)
		}
		blocks = append(blocks, b)
		*want.into = b
	}
	tcpNext, udpNext := 0, 0
	for _, t := range live {
		t.payload = probePayload(t.s)
		switch {
		case t.s.Protocol == config.TCP:
			t.tcpPort = tcpBlock.ports[tcpNext]
			tcpNext++
		case t.s.Protocol == config.UDP:
			n := udpRing(t)
			t.udpPorts, t.udpNext = udpBlock.ports[udpNext:udpNext+n], 0
			udpNext += n
		}
	}

	eng, err := tcl.Start(e.bin)
	if err != nil {
		return fmt.Errorf("starting the hping3 engine (%s exec): %w", e.bin, err)
	}
	defer eng.Close()
	s.mu.Lock()
	s.started++
	s.mu.Unlock()
	log.Debugf("started %s exec (pid %d) for %d targets, continuously", e.bin, eng.Pid(), len(live))
	paths := make([]capturePath, len(live))
	for i, t := range live {
		paths[i] = capturePath{t.path, t.s.Protocol == config.ICMP}
	}
	failed, err := openCaptures(eng, e.bin, s.r.ids.icmpID, paths, tcpBlock, udpBlock)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		s.mu.Lock()
		kept := live[:0]
		for _, t := range live {
			if ferr := failed[t.path.iface]; ferr != nil {
				t.pathErr = ferr
				continue
			}
			kept = append(kept, t)
		}
		live = kept
		s.mu.Unlock()
	}
	return e.probe(ctx, eng, live)
}

// udpRing is how many source ports a UDP target cycles through.
func udpRing(t *streamTarget) int {
	return int((t.s.Timeout+captureGrace)/t.period) + 2
}

// probe sends every live target one packet per period until the engine
// fails, addresses change or ctx ends.
func (e *streamEngine) probe(ctx context.Context, eng *tcl.Process, live []*streamTarget) error {
	s := e.s
	byID := map[int]*flight{}
	byKey := map[packet.Key][]*flight{}
	var unacked []*flight // in the order written: the engine acknowledges in this order
	deadlines := &timeQueue[*flight]{at: func(f *flight) time.Time { return f.deadline }}
	nextID, sent, events := 0, 0, 0
	draining := false

	// decide moves a flight into its target's window.
	decide := func(f *flight) {
		if h := f.t.hopOf; h != nil && f.p.TTL == h.dist && !f.endsPath() {
			h.dist = 0 // the target is not at dist any more: sweep every TTL
		}
		delete(byID, f.id)
		key := f.p.Key()
		refs := byKey[key]
		for i, g := range refs {
			if g == f {
				refs = append(refs[:i], refs[i+1:]...)
				break
			}
		}
		if len(refs) == 0 {
			delete(byKey, key)
		} else {
			byKey[key] = refs
		}
		s.mu.Lock()
		if t := f.t; len(t.done) >= maxWindow {
			half := len(t.done) / 2
			t.dropped += half
			t.done = append(t.done[:0], t.done[half:]...)
		}
		f.t.done = append(f.t.done, f.rec)
		s.mu.Unlock()
	}
	// lose counts every flight still undecided as lost to err.
	lose := func(err error) error {
		s.mu.Lock()
		for _, f := range byID {
			f.t.lost++
			f.t.lostErr = err
		}
		s.mu.Unlock()
		return err
	}

	// Targets spread evenly over their period from now.
	start := time.Now()
	q := &timeQueue[*streamTarget]{at: func(t *streamTarget) time.Time { return t.due }}
	for i, t := range live {
		t.due = start.Add(time.Duration(float64(t.period) * float64(i) / float64(len(live))))
		heap.Push(q, t)
	}
	gap := time.Duration(float64(time.Second) / e.rate)
	var nextSlot time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		// Send what is due.
		for !draining && q.Len() > 0 {
			t := q.first()
			if h := t.hopOf; h != nil && h.dist > 0 && t.s.TTL > h.dist {
				// Beyond the target: not sent this sweep.
				t.due = t.due.Add(t.period)
				heap.Fix(q, 0)
				continue
			}
			slot := later(t.due, nextSlot)
			if slot.After(now.Add(streamAhead)) {
				break
			}
			slot = later(slot, now.Add(-catchUp*gap))
			f := e.build(t, nextID)
			nextID++
			if err := eng.Send(f.id, &f.p); err != nil {
				return lose(err)
			}
			f.dispatched = now
			byID[f.id] = f
			byKey[f.p.Key()] = append(byKey[f.p.Key()], f)
			unacked = append(unacked, f)
			sent++
			nextSlot = slot.Add(gap)
			// The next packet a period after this one was due, and at
			// least interval after this one really went.
			t.due = later(t.due.Add(t.period), now.Add(t.s.Interval))
			heap.Fix(q, 0)
		}
		if err := eng.Flush(); err != nil {
			return lose(err)
		}
		// Decide what is past its deadline.
		for deadlines.Len() > 0 && !deadlines.first().deadline.After(now) {
			decide(heap.Pop(deadlines).(*flight))
		}
		for len(unacked) > 0 && unacked[0].acked {
			unacked = unacked[1:]
		}
		if len(unacked) > 0 && now.Sub(unacked[0].dispatched) > hangTimeout {
			eng.Close()
			return lose(fmt.Errorf("the hping3 engine stopped answering (no send record for %v): killed", hangTimeout))
		}
		if draining && len(byID) == 0 {
			return errReplan
		}

		wake := now.Add(hangTimeout)
		if !draining && q.Len() > 0 {
			wake = later(q.first().due, nextSlot)
		}
		if deadlines.Len() > 0 && deadlines.first().deadline.Before(wake) {
			wake = deadlines.first().deadline
		}
		if len(unacked) > 0 {
			if hung := unacked[0].dispatched.Add(hangTimeout + time.Millisecond); hung.Before(wake) {
				wake = hung
			}
		}
		timer.Reset(max(time.Until(wake), 0))

		select {
		case <-ctx.Done():
			return nil
		case <-e.replan:
			draining = true
		case <-timer.C:
		case evs, ok := <-eng.Events():
			if !ok {
				return lose(eng.Err())
			}
			// A sane engine reports a send record, a reply and a few
			// duplicates or errors per packet.
			if events += len(evs); events > eventsSlack+eventsPerPacket*sent {
				eng.Close()
				return lose(fmt.Errorf("the hping3 engine flooded: more than %d records for %d packets: killed", events, sent))
			}
			for _, ev := range evs {
				switch ev.Kind {
				case tcl.Sent, tcl.SendFailed:
					f := byID[ev.ID]
					if f == nil || f.acked {
						eng.Close()
						return lose(fmt.Errorf("the hping3 engine reported send %d, which it was not given", ev.ID))
					}
					f.acked = true
					if ev.Kind == tcl.SendFailed {
						f.rec.SendErr = tcl.SendError(e.bin, ev.Err)
						decide(f)
						continue
					}
					f.rec.Sent = ev.At
					f.deadline = ev.At.Add(f.t.s.Timeout + captureGrace)
					heap.Push(deadlines, f)
				case tcl.Captured:
					if f := e.match(ev, byKey); f != nil && f.endsPath() {
						if h := f.t.hopOf; h != nil && (h.dist == 0 || f.p.TTL < h.dist) {
							h.dist = f.p.TTL
						}
					}
				default:
					eng.Close()
					return lose(fmt.Errorf("the hping3 engine answered out of turn"))
				}
			}
		}
	}
}

// build makes t's next packet, with send id id.
func (e *streamEngine) build(t *streamTarget, id int) *flight {
	port := t.tcpPort
	if t.s.Protocol == config.UDP {
		port = t.udpPorts[t.udpNext]
		t.udpNext = (t.udpNext + 1) % len(t.udpPorts)
	}
	return &flight{t: t, p: newProbe(e.s.r.ids, t.path.src, t.ip, t.s, t.payload, port), id: id}
}

// match files a captured packet under the flight it answers, if any, and
// returns that flight.
func (e *streamEngine) match(ev tcl.Event, byKey map[packet.Key][]*flight) *flight {
	f, _, _ := fileAnswer(byKey, ev, func(f *flight) (*packet.Probe, *probe.Record) { return &f.p, &f.rec })
	return f
}

// endsPath reports whether f's first answer of its hop (probe.PathAnswer)
// came in time and ended its path (probe.EndsPath): for a path probe, that
// no higher TTL goes further.
func (f *flight) endsPath() bool {
	if f.rec.Sent.IsZero() {
		return false
	}
	for _, a := range f.rec.Answers {
		if probe.PathAnswer(a.Answer, f.p.Dst) {
			return probe.EndsPath(a.Answer, f.p.Dst) && a.At.Sub(f.rec.Sent) <= f.t.s.Timeout
		}
	}
	return false
}
