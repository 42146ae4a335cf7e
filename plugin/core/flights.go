package core

import (
	"container/heap"
	"maps"
	"slices"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// captureGrace is how long after a packet's timeout its answers are still
// read (config.CaptureGrace); the plugin's own capture hands a packet over
// up to captureRingWait after it arrived.
const (
	captureGrace    = config.CaptureGrace
	captureRingWait = 10 * time.Millisecond
)

// flight is one packet given to the engine, from then until it is closed:
// its record goes to its target's report, and answers are no longer
// matched to it.
type flight struct {
	t     *target
	p     packet.Probe
	rec   probe.Record
	id    int       // its send id: the engine reports the send under it
	given time.Time // when it was written to the engine
	// wire is the kernel's stamp of it leaving, from the plugin's own
	// capture; zero until seen (or where hping3 captures).
	wire  time.Time
	acked bool // the engine reported its send (or its failure)
	// answered: its first answer that settles it (target.settles) came
	// within the timeout.
	answered bool
	deadline time.Time // once sent: rec.Sent + timeout + captureGrace
	// waited: the session's end still waits for it (session.decided).
	waited bool
	closed bool
}

// settled reports whether f needs no more waiting for its target's
// measurement: answered in time, or not sent.
func (f *flight) settled() bool { return f.answered || f.rec.SendErr != nil }

// endsPath reports whether f, a path probe, found where its path ends: its
// answer settled it and ended the path (probe.EndsPath).
func (f *flight) endsPath() bool {
	if !f.answered {
		return false
	}
	for _, a := range f.rec.Answers {
		if probe.PathAnswer(a.Answer, f.p.Dst) {
			return probe.EndsPath(a.Answer, f.p.Dst)
		}
	}
	return false
}

// flights is a session's table of the packets it gave the engine and has
// not closed: by send id (for the engine's send records), by the key
// answers are looked up by, in the order written (the engine acknowledges
// in that order), and by deadline.
type flights struct {
	byID      map[int]*flight
	byKey     map[packet.Key][]*flight
	unacked   []*flight
	deadlines timeQueue[*flight]
	nextID    int
	// closed counts the packets closed since the tables were last made
	// anew (compact).
	closed int
}

func newFlights() *flights {
	return &flights{byID: map[int]*flight{}, byKey: map[packet.Key][]*flight{},
		deadlines: timeQueue[*flight]{at: func(f *flight) time.Time { return f.deadline }}}
}

// prepare makes the flight of a packet about to be written to the engine,
// with the next send id.
func (fs *flights) prepare(t *target, p packet.Probe, now time.Time) *flight {
	f := &flight{t: t, p: p, id: fs.nextID, given: now}
	fs.nextID++
	return f
}

// file adds a packet written to the engine to the table.
func (fs *flights) file(f *flight) {
	fs.byID[f.id] = f
	k := f.p.Key()
	fs.byKey[k] = append(fs.byKey[k], f)
	fs.unacked = append(fs.unacked, f)
}

// ack takes the engine's send record of packet id: its send time, or why
// it was not sent. It returns the packet, or nil when the engine was not
// given it (or reported it twice).
func (fs *flights) ack(ev tcl.Event, sendErr func(string) error) *flight {
	f := fs.byID[ev.ID]
	if f == nil || f.acked {
		return nil
	}
	f.acked = true
	if ev.Kind == tcl.SendFailed {
		f.rec.SendErr = sendErr(ev.Err)
		return f
	}
	if f.wire.IsZero() {
		f.rec.Sent = ev.At
	}
	f.deadline = ev.At.Add(f.t.s.Timeout + captureGrace)
	heap.Push(&fs.deadlines, f)
	return f
}

// oldestUnacked is the earliest packet written whose send the engine has
// not reported, or nil.
func (fs *flights) oldestUnacked() *flight {
	for len(fs.unacked) > 0 && fs.unacked[0].acked {
		fs.unacked = fs.unacked[1:]
	}
	if len(fs.unacked) == 0 {
		return nil
	}
	return fs.unacked[0]
}

// match files a captured packet under the packet it answers, if any
// (packet.Lookup, then packet.Answers). It returns that packet when this
// answer is the first to settle it in time.
func (fs *flights) match(c *packet.Captured, at time.Time) *flight {
	key, kind, ok := c.Lookup()
	if !ok {
		return nil
	}
	refs := fs.byKey[key]
	if kind == packet.UDPReply {
		// Only the ports tell: the flow's oldest packet the target has
		// not answered (its gate keeps one in flight at a time while the
		// target answers over UDP).
		refs = oldestUnanswered(refs)
	}
	for _, f := range refs {
		a, ok := packet.Answers(&f.p, c, kind)
		if !ok {
			continue
		}
		f.rec.Answers = append(f.rec.Answers, probe.TimedAnswer{Answer: a, At: at})
		if f.answered || f.rec.Sent.IsZero() || !f.t.settles(a) || at.Sub(f.rec.Sent) > f.t.s.Timeout {
			return nil
		}
		f.answered = true
		return f
	}
	return nil
}

// oldestUnanswered puts first the oldest of refs (one key's packets, in
// send order) whose target has not answered it.
func oldestUnanswered(refs []*flight) []*flight {
	for i, f := range refs {
		if !f.answered {
			if i == 0 {
				return refs
			}
			return append([]*flight{f}, refs...)
		}
	}
	return refs
}

// left takes c, a packet seen leaving by the plugin's own capture: if it
// is one of the table's probes (its key, source and IP id, which is unique
// to each probe), the kernel's stamp at becomes its send time. The
// capture hands a probe over before anything answering it, since both are
// read in order from one interface.
//
// again (loopback: its arriving copy) replaces a stamp it already had.
func (fs *flights) left(c *packet.Captured, at time.Time, again bool) {
	k, ok := c.ProbeKey()
	if !ok {
		return
	}
	for _, f := range fs.byKey[k] {
		if f.p.IPID == c.IP.ID && f.p.Src == c.IP.Src && (f.wire.IsZero() != again) {
			f.wire = at
			if f.rec.SendErr == nil {
				f.rec.Sent = at
			}
			return
		}
	}
}

// expired pops the next packet whose deadline is at or before now, or nil.
func (fs *flights) expired(now time.Time) *flight {
	if fs.deadlines.Len() == 0 || fs.deadlines.first().deadline.After(now) {
		return nil
	}
	return heap.Pop(&fs.deadlines).(*flight)
}

// nextDeadline is the earliest deadline of a packet not yet expired.
func (fs *flights) nextDeadline() (time.Time, bool) {
	if fs.deadlines.Len() == 0 {
		return time.Time{}, false
	}
	return fs.deadlines.first().deadline, true
}

// close removes f: answers are no longer matched to it.
func (fs *flights) close(f *flight) {
	if f.closed {
		return
	}
	f.closed = true
	delete(fs.byID, f.id)
	k := f.p.Key()
	refs := fs.byKey[k]
	for i, g := range refs {
		if g == f {
			refs = append(refs[:i], refs[i+1:]...)
			break
		}
	}
	if len(refs) == 0 {
		delete(fs.byKey, k)
	} else {
		fs.byKey[k] = refs
	}
	if fs.closed++; fs.closed > 2*len(fs.byID)+compactFloor {
		fs.compact()
	}
}

// compactFloor is how many packets a session closes at least before its
// tables are made anew.
const compactFloor = 1024

// compact makes the tables anew, holding only the open packets. A Go map
// keeps the room of the keys it deleted: with every key new (an ICMP
// sequence number, an IP id), the table by key of 10,000 packets in flight
// held 3 to 4 times what a copy holds, about 6 MB against 2. Made anew
// after twice as many closes as packets open, it costs a copy of the open
// ones every 2 s at 10,000 packets/s.
func (fs *flights) compact() {
	// Copied into maps sized for what they hold: maps.Clone would keep
	// the old room.
	byID := make(map[int]*flight, len(fs.byID))
	maps.Copy(byID, fs.byID)
	byKey := make(map[packet.Key][]*flight, len(fs.byKey))
	maps.Copy(byKey, fs.byKey)
	fs.byID, fs.byKey, fs.closed = byID, byKey, 0
}

// closeAll closes every packet still open and returns them in send id
// order: the end of a session, after which no answer is matched. The
// tables are emptied at once; closing 30,000 packets one by one (a round
// of 10,000 targets) took about 20 ms.
func (fs *flights) closeAll() []*flight {
	out := fs.open()
	for _, f := range out {
		f.closed = true
	}
	clear(fs.byID)
	clear(fs.byKey)
	return out
}

// open lists the packets not closed, in send id order.
func (fs *flights) open() []*flight {
	out := make([]*flight, 0, len(fs.byID))
	for _, f := range fs.byID {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *flight) int { return a.id - b.id })
	return out
}
