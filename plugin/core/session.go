package core

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/capture"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Engine watchdog. The engine answers every command within about a
// millisecond; one that has not answered for hangTimeout is hung (hping3's
// midnight bug can leave it inside a handler for a day) and is killed.
const (
	hangTimeout = time.Second
	// eventsPerPacket bounds what a sane engine reports: a send record, a
	// reply and a few duplicates or errors per packet. More is a flood.
	eventsPerPacket = 16
	eventsSlack     = 1024
	// hping3Ahead bounds the bursts of a session where hping3 captures:
	// 20 ms of sends delay its capture handlers by well under 1 ms.
	hping3Ahead = 20 * time.Millisecond
)

// session is one engine process and the packets it sends for a schedule's
// targets, from the process's start to its end: it reserves the source
// ports, starts the process and opens its captures, then sends what the
// schedule makes due, paced, matches every answer to its packet, closes
// packets into their targets' reports, and kills a process that hangs,
// floods or breaks its protocol. It ends when nothing is left to send
// (a round's last packet; in continuous mode, once told to drain) and
// every packet is decided, with a sync that makes sure the process has
// reported everything; or when ctx ends, or the process fails. A session
// value runs one session at a time, each run a new process.
type session struct {
	bin   string
	sh    *shared
	sched schedule
	// guard guards the targets' reports (target.nextReport) and err
	// against their reader in another goroutine (continuous mode's Next).
	guard *sync.Mutex

	sessionState // one engine process's, reset by each run
}

func newSession(bin string, sh *shared, sched schedule, guard *sync.Mutex) *session {
	return &session{bin: bin, sh: sh, sched: sched, guard: guard}
}

// sessionState is what a session holds while its engine process runs.
type sessionState struct {
	eng       engineProcess
	wire      *wire // the plugin's own captures; nil where hping3 captures
	fl        *flights
	queue     timeQueue[*target] // by when their next packet is due
	pace      pacer
	rules     policy    // the schedule's, for this run
	sent      int       // packets written to the engine process
	events    int       // records the process reported
	undecided int       // packets the end waits for (flight.waited)
	lastDone  time.Time // when the last packet was decided
	draining  bool
	syncSent  time.Time // zero: no sync asked yet
	gates     gates     // by flow: packets that may meet at the target
}

// run runs the session on targets (routed; those with err are left out)
// and returns whether the engine process started and why the session
// ended: nil when it ended as planned, else ctx's error or the process's
// failure. drain, when it fires, stops the sending: the session ends once
// the packets in flight are decided (continuous mode: addresses changed).
// onStart, when not nil, is told at once that the process started. The
// packets still open when it fails are s.fl.open(); when it ends as
// planned every packet is closed into its target's report.
func (s *session) run(ctx context.Context, targets []*target, drain <-chan struct{}, onStart func()) (started bool, err error) {
	s.sessionState = sessionState{fl: newFlights(), pace: s.sched.pace(), rules: s.sched.policy(), gates: gates{}}
	ports, err := reserveFor(targets, s.sh.log, &s.sh.portWarn)
	if err != nil {
		return false, err
	}
	defer ports.release()
	if s.eng, err = s.sh.start(s.bin); err != nil {
		return false, fmt.Errorf("starting the hping3 engine (%s exec): %w", s.bin, err)
	}
	defer s.eng.Close()
	if onStart != nil {
		onStart()
	}
	log := s.sh.log
	log.Debugf("started %s exec (pid %d) for %d targets", s.bin, s.eng.Pid(), len(targets))
	// The plugin's own captures first; hping3 captures only where they
	// cannot open.
	var rest map[string]bool
	s.wire, rest = s.sh.tap.openWire(targets, s.sh.ids.tag, ports, captureRingWait)
	defer s.wire.close()
	var theirs []*target
	for _, t := range targets {
		if rest[t.route.iface] {
			theirs = append(theirs, t)
		}
	}
	// Where hping3 captures, its handlers stamp the answers, and a long
	// burst of sends delays them: a session with any such interface sends
	// at most hping3Ahead ahead.
	if len(theirs) > 0 {
		s.pace.ahead = min(s.pace.ahead, hping3Ahead)
	}
	failed, err := listen(s.eng, s.bin, s.sh.ids.tag, theirs, ports)
	s.queue = timeQueue[*target]{at: func(t *target) time.Time { return t.due }}
	for _, t := range targets {
		if ferr := failed[t.route.iface]; ferr != nil {
			s.lock(func() { t.err = ferr })
			continue
		}
		s.queue.items = append(s.queue.items, t)
	}
	if err != nil {
		return true, err
	}
	if log.DebugEnabled() {
		for _, t := range s.queue.items {
			what := "probing"
			if t.hopOf != nil {
				what = fmt.Sprintf("path probe at TTL %d to", t.s.TTL)
			}
			log.Debugf("target %q: %s %s from %s on %s: %s, protocol %s, source port %d",
				t.name, what, t.ip, t.route.src, t.route.iface, s.sched.packets(t), t.s.Protocol, firstPort(t.flows))
		}
	}
	s.sched.begin(s.queue.items, time.Now())
	heap.Init(&s.queue)
	err = s.loop(ctx, drain)
	if n := s.eng.Unparsed(); n > 0 {
		log.Debugf("the hping3 engine captured %d packets whose text could not be read (ignored)", n)
	}
	if err == nil {
		for _, f := range s.fl.closeAll() {
			s.settle(f)
		}
	}
	return true, err
}

// loop is the send loop: it sends what is due, decides what is past its
// deadline, watches the engine and reads its records, until the session
// ends.
func (s *session) loop(ctx context.Context, drain <-chan struct{}) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	frames, captureEnded := s.wire.channels()
	for {
		now := time.Now()
		if err := s.sendDue(now); err != nil {
			return err
		}
		s.expire(now)
		if f := s.fl.oldestUnacked(); f != nil && now.Sub(f.given) > hangTimeout {
			return fmt.Errorf("the hping3 engine stopped answering (no send record for %v): killed", hangTimeout)
		}
		wake, err := s.end(now)
		if err != nil {
			return err
		}
		timer.Reset(max(time.Until(wake), 0))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-drain:
			s.draining, drain = true, nil
		case <-timer.C:
		case fs := <-frames:
			s.readWire(fs)
		case end := <-captureEnded:
			s.captureEnded(end)
		case evs, ok := <-s.eng.Events():
			if !ok {
				return s.eng.Err()
			}
			synced, err := s.read(evs)
			if synced || err != nil {
				return err
			}
		}
	}
}

// sendDue writes every packet whose slot has come (pacer.take) and asks
// the schedule when each target's next one is due.
func (s *session) sendDue(now time.Time) error {
	if s.queue.Len() == 0 || !s.pace.ready(s.queue.first().due, now) {
		return nil
	}
	for !s.draining && s.queue.Len() > 0 {
		t := s.queue.first()
		if t.err != nil { // its capture ended (captureEnded)
			heap.Pop(&s.queue)
			continue
		}
		if t.beyondPath() {
			s.advance(t, time.Time{}, now, false)
			continue
		}
		if t.due.After(now.Add(s.pace.ahead)) {
			break
		}
		if s.gates.holds(t) {
			s.hold(t, now)
			continue
		}
		slot, ok := s.pace.take(t.due, now)
		if !ok {
			break
		}
		n, _ := t.flow()
		f := s.fl.prepare(t, t.nextProbe(s.sh.ids), now)
		f.rec.Flow = n
		if err := s.eng.Send(f.id, &f.p); err != nil {
			return err
		}
		s.fl.file(f)
		s.gates.sent(f)
		s.sent++
		s.undecided++
		f.waited = true
		s.advance(t, slot, now, true)
	}
	return s.eng.Flush()
}

func (s *session) advance(t *target, slot, now time.Time, sent bool) {
	if s.sched.next(t, slot, now, sent) {
		heap.Fix(&s.queue, 0)
	} else {
		heap.Pop(&s.queue)
	}
}

// hold puts t, which its gate holds, back in the queue until it is
// released, or at the latest its timeout (and the pacer's ahead) from now.
func (s *session) hold(t *target, now time.Time) {
	t.due = now.Add(s.pace.ahead + t.s.Timeout + captureGrace)
	heap.Fix(&s.queue, 0)
}

// release makes targets that a gate held due now.
func (s *session) release(ts []*target, now time.Time) {
	for _, t := range ts {
		i := slices.Index(s.queue.items, t)
		if i < 0 || !t.due.After(now) {
			continue
		}
		t.due = now
		heap.Fix(&s.queue, i)
	}
}

// expire decides the packets past their deadline: unanswered, they are
// lost; without a last packet (continuous mode) every packet closes at
// its deadline.
func (s *session) expire(now time.Time) {
	for f := s.fl.expired(now); f != nil; f = s.fl.expired(now) {
		s.release(s.gates.expired(f), now)
		if !s.rules.finite {
			s.close(f)
		}
		s.decided(f)
	}
}

// decided takes f off what the session's end waits for, once.
func (s *session) decided(f *flight) {
	if f.waited {
		f.waited = false
		s.undecided--
	}
}

// end is the session's end: once nothing is left to send, every packet
// written is acknowledged and decided, and captureGrace has passed since
// the last was decided (its duplicates may follow it), it asks the engine
// to sync; an engine that does not answer within hangTimeout is killed.
// It returns when the loop must wake next.
func (s *session) end(now time.Time) (time.Time, error) {
	if !s.syncSent.IsZero() {
		if now.Sub(s.syncSent) > hangTimeout {
			return now, fmt.Errorf("the hping3 engine did not answer for %v %s: killed", hangTimeout, s.rules.ending)
		}
		return s.syncSent.Add(hangTimeout), nil
	}
	wake := now.Add(hangTimeout)
	if !s.draining && s.queue.Len() > 0 {
		wake = s.pace.wake(s.queue.first().due)
	}
	if d, ok := s.nextDeadline(); ok && d.Before(wake) {
		wake = d
	}
	unacked := s.fl.oldestUnacked()
	if unacked != nil {
		if hung := unacked.given.Add(hangTimeout + time.Millisecond); hung.Before(wake) {
			wake = hung
		}
	}
	if (s.draining || (s.rules.finite && s.queue.Len() == 0)) && unacked == nil && s.undecided == 0 {
		if last := s.lastDone.Add(captureGrace); now.Before(last) {
			if last.Before(wake) {
				wake = last
			}
			return wake, nil
		}
		s.syncSent = now
		return now.Add(hangTimeout), s.eng.Sync(1)
	}
	return wake, nil
}

// nextDeadline is the earliest deadline the loop must wake for: in a round
// a packet answered in time needs none.
func (s *session) nextDeadline() (time.Time, bool) {
	for {
		d, ok := s.fl.nextDeadline()
		if !ok || !s.rules.finite || !s.fl.deadlines.first().settled() {
			return d, ok
		}
		heap.Pop(&s.fl.deadlines)
	}
}

// read takes one batch of the engine's records. It returns synced when the
// engine answered the end's sync, and an error when it broke its protocol.
func (s *session) read(evs []tcl.Event) (synced bool, err error) {
	if limit := eventsSlack + eventsPerPacket*s.sent; s.events+len(evs) > limit {
		return false, fmt.Errorf("the hping3 engine flooded: more than %d records for %d packets: killed", limit, s.sent)
	}
	s.events += len(evs)
	now := time.Now()
	for _, ev := range evs {
		switch ev.Kind {
		case tcl.Sent, tcl.SendFailed:
			f := s.fl.ack(ev, func(msg string) error { return tcl.SendError(s.bin, msg) })
			if f == nil {
				return false, fmt.Errorf("the hping3 engine reported send %d, which it was not given", ev.ID)
			}
			if ev.Kind == tcl.SendFailed {
				// Not sent: decided at once.
				s.release(s.gates.expired(f), now)
				s.decided(f)
				s.lastDone = now
				if !s.rules.finite {
					s.close(f)
				}
			}
		case tcl.Captured:
			if f := s.fl.match(ev.Packet, ev.At); f != nil {
				s.answered(f, now)
			}
		case tcl.Synced:
			if s.syncSent.IsZero() {
				return false, fmt.Errorf("the hping3 engine answered out of turn")
			}
			return true, nil
		default:
			return false, fmt.Errorf("the hping3 engine answered out of turn")
		}
	}
	return false, nil
}

// readWire takes a batch of the plugin's own captures: probes leaving
// (their kernel stamp replaces the engine's) and answers arriving. On
// loopback a packet is stamped again as it arrives, and the answers are
// read arriving: so is the probe, its arriving copy's stamp replacing its
// leaving one, as a capture on loopback (tcpdump's) shows only that copy.
func (s *session) readWire(fs []capture.Frame) {
	now := time.Now()
	for _, fr := range fs {
		if fr.Outgoing {
			s.fl.left(fr.Packet, fr.At, false)
			continue
		}
		if fr.Loopback {
			s.fl.left(fr.Packet, fr.At, true)
		}
		if f := s.fl.match(fr.Packet, fr.At); f != nil {
			s.answered(f, now)
		}
	}
}

// captureEnded takes a capture of the plugin's own that ended (its
// interface went down or away): the other interfaces' targets keep their
// numbers. In continuous mode the session stops sending, and once its
// packets in flight are decided the next one starts with the kernel's
// routes then; in a round the targets probed through it fail with the
// reason and send nothing more.
func (s *session) captureEnded(end ringEnded) {
	if !s.rules.finite {
		s.sh.log.Errorf("%v: probing starts again, with the routes of the moment, once the packets in flight are decided (those through %s are lost)", end.err, end.iface)
		s.draining = true
		return
	}
	s.sh.log.Errorf("%v: the targets probed through %s fail this round", end.err, end.iface)
	s.lock(func() {
		for _, t := range s.queue.items {
			if t.route.iface == end.iface {
				t.err = end.err
			}
		}
	})
}

// answered takes a packet's first answer in time. A path probe's answer
// may end its path: TTLs past it are not sent any more.
func (s *session) answered(f *flight, now time.Time) {
	a := f.rec.Answers[len(f.rec.Answers)-1]
	s.release(s.gates.answered(f, a.Answer, a.At), now)
	if h := f.t.hopOf; h != nil {
		switch {
		case !f.endsPath():
			h.routerTTL = max(h.routerTTL, f.p.TTL) // a router's time exceeded
		case h.hopCount == 0 || f.p.TTL < h.hopCount:
			h.hopCount = f.p.TTL
		}
	}
	if s.rules.finite {
		s.decided(f)
		s.lastDone = now
	}
}

// close takes a packet out of the flights, no answer is matched to it any
// more, and settles it.
func (s *session) close(f *flight) {
	if f.closed {
		return
	}
	s.fl.close(f)
	s.settle(f)
}

// settle moves a closed packet's record into its target's report. A path
// probe at its path's end that did not end it this time makes the end
// unknown again: the next packets try every TTL.
func (s *session) settle(f *flight) {
	f.rec.Clock = probe.ClockEngine
	if s.wire != nil && s.wire.ifaces[f.t.route.iface] {
		f.rec.Clock = probe.ClockFallback
		if !f.wire.IsZero() {
			f.rec.Clock = probe.ClockKernel
		}
	}
	if s.sh.log.DebugEnabled() {
		s.debugPacket(f)
	}
	if h := f.t.hopOf; h != nil && f.p.TTL == h.hopCount && !f.endsPath() {
		h.hopCount, h.routerTTL = 0, 0
	}
	s.lock(func() { f.t.keep(f.rec, f.p.Dst) })
}

// debugPacket logs a packet's RTT, for checking the plugin's clock
// against a capture of one's own: one line per packet answered in time.
func (s *session) debugPacket(f *flight) {
	if f.rec.Sent.IsZero() {
		return
	}
	for _, a := range f.rec.Answers {
		if !probe.IsReply(a.Answer, f.p.Dst, f.t.s.Protocol) {
			continue
		}
		if rtt := a.At.Sub(f.rec.Sent); rtt <= f.t.s.Timeout {
			k := f.p.Key()
			s.sh.log.Debugf("packet %s %s %d/%d ipid %d: rtt %.6f ms (%s clock)", f.p.Dst, f.t.s.Protocol, k.A, k.B, f.p.IPID,
				float64(rtt)/float64(time.Millisecond), clockNames[f.rec.Clock])
		}
		return
	}
}

// clockNames name a packet's clock in the debug log and the docs.
var clockNames = map[probe.Clock]string{probe.ClockKernel: "kernel", probe.ClockFallback: "hping3-send", probe.ClockEngine: "hping3"}

func (s *session) lock(f func()) {
	s.guard.Lock()
	defer s.guard.Unlock()
	f()
}

func firstPort(flows []flow) int {
	if len(flows) == 0 {
		return 0
	}
	return flows[0].port
}
