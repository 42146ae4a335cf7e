package core

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// slotAhead is the ahead these tests give a round: about one packet per
// write, so that each send stamp is its packet's slot and the spacing the
// pacer plans can be read off the wire (runTcl gives a round roundAhead,
// whose bursts TestSessionRateCap bounds).
const slotAhead = 200 * time.Microsecond

// runRound probes n loopback addresses in one Tcl-engine round and returns
// it, so a test can read every packet's send time (the engine's own stamp).
func runRound(t *testing.T, n int, s config.Settings, rate float64) *tclRound {
	t.Helper()
	bin := requireHping3(t)
	log := logger.Discard()
	rd := newTclRound(bin, &shared{log: log, start: startTcl, tap: newWireTap(log), ids: newIdentity()})
	rd.sched.rate, rd.sched.ahead = rate, slotAhead
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		tg := probe.Target{Name: ip, Res: probe.Resolution{IP: ip}}
		r := probe.NewResult(tg, s, time.Now())
		rd.targets = append(rd.targets, &target{index: i, name: ip, s: &s, destination: destination{res: tg.Res}, keepRecords: true})
		rd.results = append(rd.results, &r)
	}
	start := time.Now()
	if !rd.runRound(context.Background()) {
		t.Fatal("no engine ran")
	}
	t.Logf("%d targets x %d packets, interval %v, rate cap %v/s: round took %v", n, s.Count, s.Interval, rate, time.Since(start))
	for _, r := range rd.results {
		if r.Code != probe.OK || r.Received != s.Count {
			t.Fatalf("%s: code %d (%v), %d/%d received", r.Target, r.Code, r.Err, r.Received, r.Transmitted)
		}
	}
	return rd
}

// sendTimes returns every packet's send stamp, sorted, and each target's.
func sendTimes(rd *tclRound) (all []time.Time, per [][]time.Time) {
	for _, tg := range rd.targets {
		var ts []time.Time
		for _, rec := range tg.done {
			ts = append(ts, rec.Sent)
		}
		per = append(per, ts)
		all = append(all, ts...)
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	return all, per
}

// A send is stamped by the kernel as the probe leaves (by hping3 when its
// send returns, where the test cannot capture), and a busy host can delay
// hping3's send (the other packages' tests run beside these): a spacing
// may come out short of its plan by stampSlack, and long by lateSlack.
const (
	stampSlack = 5 * time.Millisecond
	lateSlack  = 50 * time.Millisecond
)

// TestPacingIntervalAndStart: without the rate cap binding, each target's
// packets go exactly interval apart, and the targets' first packets go
// back to back at the cap's spacing (1 ms at 1000/s): no target waits
// longer than the rate requires, so a round lasts (count-1) x interval plus
// that start and the slowest reply.
func TestPacingIntervalAndStart(t *testing.T) {
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = 4, 100*time.Millisecond, 300*time.Millisecond
	rd := runRound(t, 10, s, 1000)
	all, per := sendTimes(rd)
	for i, ts := range per {
		for k := 1; k < len(ts); k++ {
			if d := ts[k].Sub(ts[k-1]); d < s.Interval-stampSlack || d > s.Interval+lateSlack {
				t.Errorf("target %d: packets %d and %d sent %v apart, want %v", i, k-1, k, d, s.Interval)
			}
		}
	}
	// Ten first packets at 1000/s: 9 ms from the first to the tenth.
	if d := all[9].Sub(all[0]); d < 9*time.Millisecond-stampSlack || d > 9*time.Millisecond+lateSlack {
		t.Errorf("the ten first packets took %v, want 9ms at 1000/s", d)
	}
}

// TestPacingKeepsTheRateCap: 20 targets at 10 packets/s each ask for 200
// packets/s; with max_packet_rate 100 no 200 ms carry more than 20 sends
// (+1 for the window's edges, +2 for the burst a late sender may make up:
// catchUp), and each target's packets are spaced by the
// cap (20 targets / 100 per s = 200 ms), never closer than the interval.
func TestPacingKeepsTheRateCap(t *testing.T) {
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = 5, 100*time.Millisecond, 300*time.Millisecond
	const rate = 100
	rd := runRound(t, 20, s, rate)
	all, per := sendTimes(rd)
	for i := range all {
		for j := i; j < len(all) && all[j].Sub(all[i]) < 200*time.Millisecond; j++ {
			if n := j - i + 1; n > 2*rate/10+1+catchUp {
				t.Fatalf("%d sends within 200ms from %v: more than the cap of %d/s allows", n, all[i].Format("15:04:05.000"), rate)
			}
		}
	}
	// The first packet can leave late (hping3's first send is its
	// slowest) and the sender then makes up catchUp packets' time: the
	// span is 990 ms less at most that.
	if span := all[len(all)-1].Sub(all[0]); span < 990*time.Millisecond-catchUp*time.Second/rate-stampSlack {
		t.Errorf("100 packets at 100/s went out in %v, want at least 990ms less %d packets' catch-up", span, catchUp)
	}
	// A sender that woke late may make up catchUp packets' time (10 ms
	// each at 100/s), so a target's next packet may go that much before
	// the cap's 200 ms (seen in CI: 194.5 ms); never before its interval.
	early := catchUp * time.Second / rate
	for i, ts := range per {
		for k := 1; k < len(ts); k++ {
			if d := ts[k].Sub(ts[k-1]); d < 200*time.Millisecond-early-stampSlack || d < s.Interval || d > 200*time.Millisecond+lateSlack {
				t.Errorf("target %d: packets %d and %d sent %v apart, want the cap's 200ms (at most %v early after a late send)", i, k-1, k, d, early)
			}
		}
	}
}

// TestPacerTake holds the pacing rule itself, without an engine: slots go
// 1/rate apart from the first packet's due time; a packet due later than
// ahead from now waits; a sender that woke late makes up at most catchUp
// packets' time in a burst, then keeps the spacing.
func TestPacerTake(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	p := newPacer(100, 20*time.Millisecond) // a slot every 10 ms
	for _, c := range []struct {
		name     string
		due, now time.Time
		slot     time.Time
		ok       bool
	}{
		{"the first packet goes when due", ms(0), ms(0), ms(0), true},
		{"the next one a gap later, though due at once", ms(0), ms(0), ms(10), true},
		{"within ahead of now it goes in the same write", ms(0), ms(0), ms(20), true},
		{"past ahead it waits", ms(0), ms(0), ms(30), false},
		{"it goes once its slot is within ahead", ms(0), ms(10), ms(30), true},
		{"a packet due later than the next slot keeps its due time", ms(100), ms(90), ms(100), true},
		// The sender slept from 100 ms to 300 ms: twenty slots passed.
		// It makes up two (the slots of 280 and 290 ms), not twenty.
		{"a late sender makes up catchUp slots", ms(110), ms(300), ms(280), true},
		{"then the spacing holds", ms(110), ms(300), ms(290), true},
		{"and again", ms(110), ms(300), ms(300), true},
		{"up to ahead", ms(110), ms(300), ms(310), true},
	} {
		slot, ok := p.take(c.due, c.now)
		if ok != c.ok || (ok && !slot.Equal(c.slot)) || (!ok && !slot.Equal(c.slot)) {
			t.Fatalf("%s: take(due %v, now %v) = %v, %v; want %v, %v", c.name,
				c.due.Sub(t0), c.now.Sub(t0), slot.Sub(t0), ok, c.slot.Sub(t0), c.ok)
		}
	}
	if w := p.wake(ms(0)); !w.Equal(ms(320)) {
		t.Errorf("wake for a packet due long ago: %v, want the next slot, 320ms", w.Sub(t0))
	}
	if w := p.wake(ms(500)); !w.Equal(ms(500)) {
		t.Errorf("wake for a packet due later: %v, want its due time, 500ms", w.Sub(t0))
	}
}

// TestPacerLag: with a long ahead a sender that woke late makes up a tenth
// of ahead, not only catchUp gaps: at 10,000 packets/s and 20 ms ahead,
// 2 ms (20 slots), where two gaps are 0.2 ms.
func TestPacerLag(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	us := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }
	p := newPacer(10000, 20*time.Millisecond) // a slot every 100 µs
	// burst is what a sender waking at now takes: its first and last
	// slots, and how many.
	burst := func(now time.Time) (first, last time.Time, n int) {
		for {
			slot, ok := p.take(t0, now)
			if !ok {
				return first, last, n
			}
			if n == 0 {
				first = slot
			}
			last = slot
			n++
		}
	}
	for _, c := range []struct {
		name        string
		now         time.Time
		first, last time.Time
		n           int
	}{
		{"on time: 0 to 20 ms", us(0), us(0), us(20000), 201},
		{"1.4 ms late: every slot made up", us(21500), us(20100), us(41500), 215},
		{"58.4 ms late: 2 ms made up", us(100000), us(98000), us(120000), 221},
	} {
		first, last, n := burst(c.now)
		if !first.Equal(c.first) || !last.Equal(c.last) || n != c.n {
			t.Errorf("%s: slots %v to %v, %d of them; want %v to %v, %d", c.name,
				first.Sub(t0), last.Sub(t0), n, c.first.Sub(t0), c.last.Sub(t0), c.n)
		}
	}
}

// TestPacerHoldsTheRate: however late and irregular the wake-ups, no
// window of 100 ms holds more than rate/10 + 1 + catchUp slots.
func TestPacerHoldsTheRate(t *testing.T) {
	const rate = 1000
	p := newPacer(rate, 20*time.Millisecond)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var slots []time.Time
	now := t0
	for i := range 5000 {
		// Wake-ups from 0 to 50 ms apart, everything always due.
		now = now.Add(time.Duration(i*7919%50) * time.Millisecond)
		for {
			slot, ok := p.take(t0, now)
			if !ok {
				break
			}
			slots = append(slots, slot)
		}
	}
	for i := range slots {
		if i > 0 && slots[i].Before(slots[i-1]) {
			t.Fatalf("slot %d at %v before slot %d at %v", i, slots[i].Sub(t0), i-1, slots[i-1].Sub(t0))
		}
		n := 0
		for j := i; j < len(slots) && slots[j].Sub(slots[i]) < 100*time.Millisecond; j++ {
			n++
		}
		if n > rate/10+1+catchUp {
			t.Fatalf("%d slots within 100ms from %v: more than the rate allows", n, slots[i].Sub(t0))
		}
	}
	if len(slots) < 1000 {
		t.Errorf("only %d slots", len(slots))
	}
}
