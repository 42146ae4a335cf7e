package core

import "time"

// catchUp is the fewest packets' worth of time a sender that woke late
// may make up at once: the rate holds over any window but for this burst,
// and a busy host's late wake-ups do not slow a session that the rate cap
// paces. Where ahead is long, a tenth of it may be made up (pacer.lag).
const catchUp = 2

// maxAhead bounds aheadOf.
const maxAhead = 100 * time.Millisecond

// aheadOf is how far ahead of their slots packets go in one write, in
// rounds and in continuous mode alike, for targets whose shortest period is
// shortest: a tenth of it, at most maxAhead, at least 1 ms. The CPU of the
// engine process and the plugin is mostly wake-ups (a wake-up of the
// sender wakes both). With the plugin's own capture the times are the
// kernel's, so a packet that goes early costs no accuracy. The rate cap
// still spaces the packets' slots 1/max_packet_rate apart: any window holds
// no more packets than the cap allows over the window plus ahead and a late
// sender's catch-up (pacer.lag), and a target's packets are never more
// than ahead early, so never closer than 9/10 of its period.
func aheadOf(shortest time.Duration) time.Duration {
	return max(min(shortest/10, maxAhead), time.Millisecond)
}

// pacer spaces an engine's sends 1/rate apart (its share of
// max_packet_rate). It is the one pacing rule of the Tcl engine, in rounds
// and in continuous mode alike.
type pacer struct {
	gap   time.Duration // 1/rate
	ahead time.Duration // packets due within this of now go in one write
	next  time.Time     // the earliest slot of the next packet
}

func newPacer(rate float64, ahead time.Duration) pacer {
	return pacer{gap: time.Duration(float64(time.Second) / rate), ahead: ahead}
}

// take gives a packet due at due its slot: the later of due and one gap
// after the previous packet's slot, but never more than lag before now (a
// sender that woke late does not make up more than that in a burst). ok
// is false when that slot is further than ahead from now: the packet
// waits, and the pacer is unchanged.
func (p *pacer) take(due, now time.Time) (slot time.Time, ok bool) {
	slot = later(due, p.next)
	if slot.After(now.Add(p.ahead)) {
		return slot, false
	}
	slot = later(slot, now.Add(-p.lag()))
	p.next = slot.Add(p.gap)
	return slot, true
}

// lag is how far behind now a late sender's slots may start: catchUp gaps,
// or a tenth of ahead when that is longer. A sender wakes once per burst of
// ahead, at the next slot, and the host wakes it late: in a round of
// 10,000 targets at 10,000 packets/s (bursts of 20 ms) by 0.7 ms a burst
// on average, which with only catchUp gaps to make up (0.2 ms) lengthened
// the round by 90 ms. Slots stay a gap apart whatever lag is: a window of
// sends holds at most the cap over the window, ahead and lag.
func (p *pacer) lag() time.Duration { return max(catchUp*p.gap, p.ahead/10) }

// ready reports whether a packet due at due has reached its slot: a burst
// starts only then, and takes what is due within ahead (take). Were any
// wake-up to take what just came within ahead, the sender would wake and
// write once per packet, however long ahead is.
func (p *pacer) ready(due, now time.Time) bool { return !later(due, p.next).After(now) }

// wake is when a packet due at due can next be taken.
func (p *pacer) wake(due time.Time) time.Time { return later(due, p.next) }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// timeQueue is a min-heap (for container/heap) of items ordered by a time:
// a session's targets by when their next packet is due, its packets by
// their deadlines.
type timeQueue[T any] struct {
	items []T
	at    func(T) time.Time
}

func (q *timeQueue[T]) Len() int           { return len(q.items) }
func (q *timeQueue[T]) Less(i, j int) bool { return q.at(q.items[i]).Before(q.at(q.items[j])) }
func (q *timeQueue[T]) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *timeQueue[T]) Push(x any)         { q.items = append(q.items, x.(T)) }
func (q *timeQueue[T]) Pop() any {
	n := len(q.items) - 1
	x := q.items[n]
	q.items = q.items[:n]
	return x
}

// first is the earliest item; the queue must not be empty.
func (q *timeQueue[T]) first() T { return q.items[0] }
