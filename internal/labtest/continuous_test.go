package labtest

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
)

// Continuous mode (issue 12): one engine for the life of the plugin, one
// packet per target every interval, and each report covering exactly the
// packets decided since the previous one. The plugin runs as Telegraf runs
// it (daemon_test.go); the test writes each request itself and records when
// (report.Asked) and when the report was in (report.Got): the plugin cut
// its window between the two. A packet is decided decideAfter after it was
// sent, so window k holds the packets sent in (cut(k-1) - decideAfter,
// cut(k) - decideAfter]. Every bound below is computed from those times,
// the nftables counters, the emulator's record, or the times the test
// itself changed the network; never from the plugin's own figures.

const (
	cInterval   = 100 * time.Millisecond
	cTimeout    = 300 * time.Millisecond
	decideAfter = cTimeout + 20*time.Millisecond // the plugin's rule: timeout plus 20 ms of grace
	// skew covers the gap between the engine's send stamp and the packet's
	// passage through the lab (the stamp is taken when sendto returns, so
	// hping3 being descheduled then makes it late), for the bounds that
	// place packets in windows by when the lab saw them.
	skew = 5 * time.Millisecond
)

// continuousGroup is one table at the continuous test timing.
func continuousGroup(addrs []netip.Addr, interval time.Duration) string {
	return tclGroup(addrs, "icmp", 0, 0, interval.String(), cTimeout.String())
}

// sentIn is how many packets one target sends, one every p, within a span
// known to be at least lo and at most hi long: [floor(lo/p), ceil(hi/p)],
// widened by one each way for the pacer (a late send, a catch-up).
func sentIn(lo, hi, p time.Duration) (int, int) {
	return max(0, int(lo/p)-1), int((hi+p-1)/p) + 1
}

// windowSpan is the least and the most a window between reports prev and cur
// can cover.
func windowSpan(prev, cur report) (lo, hi time.Duration) {
	return cur.Asked.Sub(prev.Got), cur.Got.Sub(prev.Asked)
}

// line returns the line of key in r, failing the test when it is missing.
func (r report) line(t *testing.T, i int, key string) point {
	t.Helper()
	p, ok := r.points[key]
	if !ok {
		t.Fatalf("report %d has no line for %s: %v", i, key, r.points)
	}
	return p
}

// counts returns a successful line's transmitted and received packets; it
// fails the test for a line whose result_code is not 0.
func (r report) counts(t *testing.T, i int, key string) (tx, rx int) {
	t.Helper()
	p := r.line(t, i, key)
	if c := p.int(t, "result_code"); c != 0 {
		t.Fatalf("report %d: %s: result_code %d, want 0; fields %v", i, key, c, p.fields)
	}
	return p.int(t, "packets_transmitted"), p.int(t, "packets_received")
}

// checkRate holds every window after the first to one packet per target
// per interval, within sentIn's bounds.
func checkRate(t *testing.T, reps []report, keys []string, interval time.Duration) {
	t.Helper()
	for i := 1; i < len(reps); i++ {
		lw, hw := windowSpan(reps[i-1], reps[i])
		lo, hi := sentIn(lw, hw, interval)
		for _, k := range keys {
			if tx, _ := reps[i].counts(t, i, k); tx < lo || tx > hi {
				t.Errorf("report %d: %s: %d packets transmitted in a window of %v..%v, want %d..%d (one every %v)",
					i, k, tx, lw.Round(time.Millisecond), hw.Round(time.Millisecond), lo, hi, interval)
			}
		}
	}
}

// TestTclContinuousOutage: one target of three goes away for 3 s (every
// packet to it dropped by nftables, from and to times the test takes)
// between two Telegraf requests. The windows that cover the outage report
// it lost exactly as often as nftables dropped its probes, which is one per
// interval of the outage; the windows outside it and the targets beside it
// lose nothing. Beside it, in the same lab and the same outage, a plugin in
// mode "rounds" at the default settings (5 packets 1 s apart, timeout 1 s)
// asked 10 s apart, as a Telegraf interval of 10 s would: its round ended
// before the outage began and the next began after it ended, so it never
// sent a probe into the outage (nftables dropped none) and reports both
// rounds lossless. That is why continuous mode exists.
func TestTclContinuousOutage(t *testing.T) {
	l := lab(t)
	down, beside1, beside2 := netlab.Target(500), netlab.Target(501), netlab.Target(502)
	rDown, rBeside := netlab.Target(510), netlab.Target(511)
	out, err := l.Outage(down, rDown)
	if err != nil {
		t.Fatal(err)
	}
	cont := startDaemon(t, l, "mode = \"continuous\"\n"+continuousGroup([]netip.Addr{down, beside1, beside2}, cInterval))
	rounds := startDaemon(t, l, "mode = \"rounds\"\n"+tclGroup([]netip.Addr{rDown, rBeside}, "icmp", 0, 0, "", ""))
	const outage = 3 * time.Second

	// Requests to the continuous plugin every second for 15 s; to the
	// rounds plugin at 0 and 10 s. The outage begins at 5.5 s, after the
	// rounds plugin's first round has reported, and ends 3 s later.
	// The first request a second after the continuous engine runs: by then
	// every target has had packets decided. (The rounds plugin starts its
	// engine per request.)
	t0 := cont.engineUp().Add(time.Second)
	type spans struct {
		opened, closed netlab.Span
		err            error
	}
	outageDone := make(chan spans, 1)
	go func() { // on its own clock, whatever the requests do
		var sp spans
		time.Sleep(time.Until(t0.Add(5500 * time.Millisecond)))
		if sp.opened, sp.err = out.Open(); sp.err == nil {
			time.Sleep(time.Until(sp.opened.End.Add(outage)))
			sp.closed, sp.err = out.Close()
		}
		outageDone <- sp
	}()
	var reps []report
	time.Sleep(time.Until(t0))
	rAsked1 := rounds.request()
	var rAsked2 time.Time
	for k := 0; k <= 15; k++ {
		reps = append(reps, cont.askAt(t0.Add(time.Duration(k)*time.Second)))
		if k == 10 {
			rAsked2 = rounds.request()
		}
	}
	r1, r2 := rounds.await(rAsked1), rounds.await(rAsked2)
	sp := <-outageDone
	if sp.err != nil {
		t.Fatal(sp.err)
	}
	opened, closed := sp.opened, sp.closed
	t.Logf("outage of %s from %v to %v (the nft commands took %v and %v)", down,
		opened.Begin.Sub(t0).Round(time.Millisecond), closed.End.Sub(t0).Round(time.Millisecond),
		opened.End.Sub(opened.Begin).Round(time.Millisecond), closed.End.Sub(closed.Begin).Round(time.Millisecond))
	dropped, err := out.Counter(down).Packets()
	if err != nil {
		t.Fatal(err)
	}
	rDropped, err := out.Counter(rDown).Packets()
	if err != nil {
		t.Fatal(err)
	}

	// Continuous: one packet per target per interval, in every window.
	keys := []string{down.String(), beside1.String(), beside2.String()}
	checkRate(t, reps, keys, cInterval)
	// The outage in the lab's own terms: one probe per interval of it.
	lo, hi := sentIn(closed.Begin.Sub(opened.End), closed.End.Sub(opened.Begin), cInterval)
	if dropped < lo || dropped > hi {
		t.Errorf("nftables dropped %d probes to %s during the %v outage, want %d..%d (one per %v)", dropped, down, outage, lo, hi, cInterval)
	}
	lost, last := 0, 0
	var perWindow []int
	for i, r := range reps {
		for _, k := range keys[1:] {
			if tx, rx := r.counts(t, i, k); tx != rx {
				t.Errorf("report %d: %s (beside the outage) lost %d of %d", i, k, tx-rx, tx)
			}
		}
		tx, rx := r.counts(t, i, keys[0])
		lost += tx - rx
		perWindow = append(perWindow, tx-rx)
		if tx > rx {
			last = i
		}
		if i == 0 {
			continue
		}
		// The decisions this window holds fall in (prev.Asked, r.Got].
		from, to := reps[i-1].Asked, r.Got
		switch {
		case !to.After(opened.Begin.Add(decideAfter - skew)), from.After(closed.End.Add(decideAfter + skew)):
			if tx != rx {
				t.Errorf("report %d (decisions %v..%v, outside the outage's %v..%v): %s lost %d of %d, want 0",
					i, from.Sub(t0).Round(time.Millisecond), to.Sub(t0).Round(time.Millisecond),
					opened.Begin.Add(decideAfter).Sub(t0).Round(time.Millisecond), closed.End.Add(decideAfter).Sub(t0).Round(time.Millisecond), keys[0], tx-rx, tx)
			}
		case !reps[i-1].Got.Before(opened.End.Add(decideAfter+skew)) && !r.Asked.After(closed.Begin.Add(decideAfter-skew)):
			if rx != 0 {
				t.Errorf("report %d (inside the outage): %s received %d of %d, want 0", i, keys[0], rx, tx)
			}
		}
	}
	t.Logf("continuous: %s lost %d packets over %d windows (per window %v, the last lossy one: %d); nftables dropped %d (one per %v of the outage: %d..%d)",
		down, lost, len(reps), perWindow, last, dropped, cInterval, lo, hi)
	if lost != dropped {
		t.Errorf("%s: the windows report %d lost, nftables dropped %d", down, lost, dropped)
	}

	// Rounds at the default settings: the outage fell between two rounds.
	if !r1.Got.Before(opened.Begin) || !r2.Asked.After(closed.End) {
		t.Fatalf("the rounds plugin's first round reported at %v, its second request came at %v: the outage (%v..%v) is not between them",
			r1.Got.Sub(t0), r2.Asked.Sub(t0), opened.Begin.Sub(t0), closed.End.Sub(t0))
	}
	for i, r := range []report{r1, r2} {
		for _, k := range []string{rDown.String(), rBeside.String()} {
			if tx, rx := r.counts(t, i, k); tx != 5 || rx != 5 {
				t.Errorf("rounds, round %d: %s: %d of %d received, want 5 of 5 (the defaults, lossless outside the outage)", i+1, k, rx, tx)
			}
		}
	}
	t.Logf("rounds (count 5, interval 1s, timeout 1s, asked at 0 s and %v): the first round reported at %v, the outage was %v..%v; %s: 0 of 10 lost, nftables dropped %d of its probes",
		r2.Asked.Sub(t0).Round(time.Millisecond), r1.Got.Sub(t0).Round(time.Millisecond),
		opened.Begin.Sub(t0).Round(time.Millisecond), closed.End.Sub(t0).Round(time.Millisecond), rDown, rDropped)
	if rDropped != 0 {
		t.Errorf("rounds: nftables dropped %d probes to %s during the outage, want 0: the rounds plugin sent none then", rDropped, rDown)
	}
}

// TestTclContinuousLossExact: 10 targets, one packet every 100 ms each,
// 30% random loss by nftables, split into 10 windows of about a second by
// the test's requests: over 1000 packets, the lost packets of all windows
// add up to exactly what nftables dropped, and each window's transmitted
// and lost packets lie between the counters read just before and just after
// its boundaries (the instants, decideAfter before each cut, that separate
// a window's packets from the next one's).
func TestTclContinuousLossExact(t *testing.T) {
	l := lab(t)
	var targets []netip.Addr
	var keys []string
	for i := 0; i < 10; i++ {
		a := netlab.Target(520 + i)
		targets = append(targets, a)
		keys = append(keys, a.String())
	}
	all, err := l.Count(targets...) // first: every packet that reaches the target
	if err != nil {
		t.Fatal(err)
	}
	loss, dropC, err := l.GatedLoss(30, targets...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loss.Open(); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, "mode = \"continuous\"\n"+continuousGroup(targets, cInterval))
	// The first window ends a little over a second after the engine came
	// up (every target has had packets decided by then), the others 1.05 s
	// apart.
	up := d.engineUp()
	const windows = 10
	plan := make([]time.Time, windows)
	for k := range plan {
		plan[k] = up.Add(200*time.Millisecond + time.Duration(k+1)*1050*time.Millisecond)
	}
	// Counters sampled around each boundary, from 60 ms before it to 80 ms
	// after, in a goroutine of their own.
	samples := make(chan []netlab.Sample, 1)
	go func() {
		var got []netlab.Sample
		for _, p := range plan {
			for b := p.Add(-decideAfter); time.Until(b.Add(80*time.Millisecond)) > 0; {
				time.Sleep(time.Until(b.Add(-60 * time.Millisecond)))
				s, err := netlab.ReadCounters(all, dropC)
				if err != nil {
					t.Error(err)
					break
				}
				got = append(got, s)
			}
		}
		samples <- got
	}()
	var reps []report
	whileOn := 0 // packets that reached the targets while the loss was on (about)
	for k, p := range plan {
		if k == windows-1 {
			// The loss stops well before the last boundary, so every
			// dropped packet is decided within the 10 windows.
			time.Sleep(time.Until(p.Add(-decideAfter - 300*time.Millisecond)))
			if _, err := loss.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := netlab.ReadCounters(all)
			if err != nil {
				t.Fatal(err)
			}
			whileOn = s.Packets[0]
		}
		reps = append(reps, d.askAt(p))
	}
	got := <-samples
	final, err := netlab.ReadCounters(all, dropC)
	if err != nil {
		t.Fatal(err)
	}
	// Boundary k lies in [Asked - decideAfter, Got - decideAfter]. lo: the
	// last sample read wholly before it (at worst an earlier boundary's:
	// counters only grow, so still a lower bound); hi: the first read
	// wholly after it (at worst the final read).
	bounds := func(r report) (lo, hi netlab.Sample) {
		lo, hi = netlab.Sample{Packets: []int{0, 0}}, final
		for _, s := range got {
			if !s.End.After(r.Asked.Add(-decideAfter - skew)) {
				lo = s
			}
		}
		for i := len(got) - 1; i >= 0; i-- {
			if !got[i].Begin.Before(r.Got.Add(-decideAfter + skew)) {
				hi = got[i]
			}
		}
		return lo, hi
	}
	// The plugin started after the counters were made: boundary 0 is 0.
	prevLo, prevHi := netlab.Sample{Packets: []int{0, 0}}, netlab.Sample{Packets: []int{0, 0}}
	sumTx, sumLost := 0, 0
	for i, r := range reps {
		tx, lost := 0, 0
		for _, k := range keys {
			ptx, prx := r.counts(t, i, k)
			tx += ptx
			lost += ptx - prx
		}
		sumTx += tx
		sumLost += lost
		lo, hi := bounds(r)
		txLo, txHi := lo.Packets[0]-prevHi.Packets[0], hi.Packets[0]-prevLo.Packets[0]
		dLo, dHi := lo.Packets[1]-prevHi.Packets[1], hi.Packets[1]-prevLo.Packets[1]
		t.Logf("window %d (report %v after its request): %d transmitted (nftables: %d..%d), %d lost (dropped: %d..%d)",
			i+1, r.Got.Sub(r.Asked).Round(100*time.Microsecond), tx, txLo, txHi, lost, dLo, dHi)
		if tx < txLo || tx > txHi {
			t.Errorf("window %d: %d packets transmitted, nftables saw %d..%d reach the targets in its span", i+1, tx, txLo, txHi)
		}
		if lost < dLo || lost > dHi {
			t.Errorf("window %d: %d packets lost, nftables dropped %d..%d in its span", i+1, lost, dLo, dHi)
		}
		prevLo, prevHi = lo, hi
	}
	dropped := final.Packets[1]
	t.Logf("%d windows: %d packets transmitted (nftables counted %d..%d by the last boundary, %d in all), %d lost; nftables dropped %d, %d of them while the loss was on",
		windows, sumTx, prevLo.Packets[0], prevHi.Packets[0], final.Packets[0], sumLost, dropped, whileOn)
	if sumLost != dropped {
		t.Errorf("the windows' lost packets add up to %d, nftables dropped %d", sumLost, dropped)
	}
	if sumTx < prevLo.Packets[0] || sumTx > prevHi.Packets[0] {
		t.Errorf("the windows' transmitted packets add up to %d, nftables counted %d..%d by the last boundary", sumTx, prevLo.Packets[0], prevHi.Packets[0])
	}
	// The loss was real: 30% of what passed while it was on.
	if lo, hi := netlab.Binomial999(whileOn, 0.3); dropped < lo || dropped > hi {
		t.Errorf("nftables dropped %d of the %d packets that passed while the 30%% loss was on, outside the 99.9%% interval [%d, %d]", dropped, whileOn, lo, hi)
	}
	if sumTx < 1000 {
		t.Errorf("%d packets in %d windows, want over 1000 (10 targets x 10/s x 10.5 s)", sumTx, windows)
	}
}

// TestTclContinuousEngineKilled kills the engine (the plugin's hping3 child)
// with SIGKILL in the middle of a window. Three targets have a packet every
// 100 ms, so some in flight at any instant; a fourth one every 2 s, and the
// kill comes when it has none in flight (from the emulator's record of its
// requests). The next window reports the three with result_code 2 and the
// reason in the log, the fourth as usual; a new engine runs within a second
// of the kill; the windows before the kill and those after the restart hold
// exactly the packets the emulator answered in their spans.
func TestTclContinuousEngineKilled(t *testing.T) {
	l := lab(t)
	e := emulator(t, l)
	fast := []netip.Addr{netlab.Emu(30), netlab.Emu(31), netlab.Emu(32)}
	slow := netlab.Emu(40)
	const slowInterval = 2 * time.Second
	d := startDaemon(t, l, "mode = \"continuous\"\n"+continuousGroup(fast, cInterval)+continuousGroup([]netip.Addr{slow}, slowInterval))
	// The first request once the slow target has had a packet decided.
	t0 := d.engineUp().Add(slowInterval + decideAfter + 200*time.Millisecond - time.Second)
	var reps []report
	for k := 1; k <= 3; k++ {
		reps = append(reps, d.askAt(t0.Add(time.Duration(k)*time.Second)))
	}
	engines := d.engines()
	if len(engines) != 1 {
		t.Fatalf("the plugin has %d hping3 children %v, want one engine", len(engines), engines)
	}
	// Kill when the slow target's last request is decided and its next
	// one is at least 300 ms away.
	var killAt time.Time
	for deadline := time.Now().Add(3 * slowInterval); killAt.IsZero(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the slow target %s got no request to time the kill by: %v", slow, e.Events(slow))
		}
		evs := e.Events(slow)
		if len(evs) == 0 {
			continue
		}
		// Its last request must be decided in the next window (after
		// report 3), so that window has a packet of it to report.
		last := evs[len(evs)-1].Arrived
		at := last.Add(decideAfter + 100*time.Millisecond)
		if last.After(reps[2].Got.Add(-decideAfter+skew)) && at.After(time.Now().Add(20*time.Millisecond)) {
			killAt = at
		}
	}
	stderrBefore := len(d.stderr.String())
	time.Sleep(time.Until(killAt))
	killed := kill(t, engines[0])
	var restarted time.Time
	for time.Since(killed) < 3*time.Second {
		if es := d.engines(); len(es) == 1 && es[0] != engines[0] {
			restarted = time.Now()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if restarted.IsZero() {
		t.Fatalf("no new engine within 3 s of the kill; children %v; stderr:\n%s", d.engines(), d.stderr.String())
	}
	t.Logf("engine %d killed %v after report 3; a new engine seen %v later", engines[0], killed.Sub(reps[2].Got).Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond))
	if restarted.Sub(killed) > time.Second+50*time.Millisecond { // 50 ms: this loop's own polling and /proc reads
		t.Errorf("the engine restarted %v after the kill, want within a second", restarted.Sub(killed))
	}
	for k := 0; k < 4; k++ {
		reps = append(reps, d.askAt(killed.Add(1500*time.Millisecond+time.Duration(k)*time.Second)))
	}
	if evs := e.Events(slow); len(evs) > 0 {
		for _, ev := range evs {
			if ev.Arrived.After(killed.Add(-decideAfter-skew)) && ev.Arrived.Before(killed.Add(skew)) {
				t.Fatalf("the slow target had a request in flight at the kill (arrived %v before it): the test timed its kill wrong", killed.Sub(ev.Arrived))
			}
		}
	}

	// The window after the kill (report index 3).
	crash := reps[3]
	for _, a := range fast {
		p := crash.line(t, 3, a.String())
		if c := p.int(t, "result_code"); c != 2 {
			t.Errorf("the window after the kill: %s (packets in flight at the kill): result_code %d, want 2; fields %v", a, c, p.fields)
		}
	}
	if p := crash.line(t, 3, slow.String()); p.int(t, "result_code") != 0 {
		t.Errorf("the window after the kill: %s (nothing in flight at the kill): result_code %d, want 0; fields %v", slow, p.int(t, "result_code"), p.fields)
	}
	logged := d.stderr.String()[stderrBefore:]
	var reasons []string
	for _, ln := range strings.Split(logged, "\n") {
		if strings.HasPrefix(ln, "E! ") || strings.HasPrefix(ln, "W! ") {
			reasons = append(reasons, ln)
		}
	}
	t.Logf("logged after the kill:\n%s", logged)
	if len(reasons) == 0 {
		t.Errorf("nothing logged (E! or W!) after the engine was killed")
	}
	// "Only the packets in flight are lost": the number the log gives per
	// target against the requests the emulator saw in the last
	// decideAfter before the kill (a packet is in flight until decided).
	for _, a := range fast {
		m := regexp.MustCompile(`E! target "` + regexp.QuoteMeta(a.String()) + `": .*; (\d+) packets in flight are not counted`).FindStringSubmatch(logged)
		if m == nil {
			t.Errorf("the log after the kill does not name %s with the packets it lost in flight", a)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		certain, possible := 0, 0
		for _, ev := range e.Events(a) {
			if ev.Arrived.After(killed.Add(-decideAfter+skew)) && !ev.Arrived.After(killed.Add(-skew)) {
				certain++
			}
			if ev.Arrived.After(killed.Add(-decideAfter-skew)) && !ev.Arrived.After(killed.Add(skew)) {
				possible++
			}
		}
		// One more may have been handed to the engine for its send time
		// and not yet sent when it died: in flight too, but never seen.
		possible++
		if n < certain || n > possible {
			t.Errorf("%s: %d packets lost in flight, the emulator saw %d..%d requests in the %v before the kill", a, n, certain, possible, decideAfter)
		}
	}

	// Exact windows: the emulator answered every request (no loss), so a
	// window holds one reply per request the emulator saw in its span.
	keys := append(append([]netip.Addr(nil), fast...), slow)
	for i := 1; i < len(reps); i++ {
		prev, cur := reps[i-1], reps[i]
		if i == 3 || (i > 3 && prev.Asked.Before(restarted.Add(decideAfter+skew))) {
			continue // the crash's window, or one that holds the restart's
		}
		for _, a := range keys {
			var certain, possible int
			for _, ev := range e.Events(a) {
				at := ev.Arrived
				if at.After(prev.Got.Add(-decideAfter+skew)) && !at.After(cur.Asked.Add(-decideAfter-skew)) {
					certain++
				}
				if at.After(prev.Asked.Add(-decideAfter-skew)) && !at.After(cur.Got.Add(-decideAfter+skew)) {
					possible++
				}
			}
			p := cur.line(t, i, a.String())
			code := p.int(t, "result_code")
			if possible == 0 {
				// No packet of it in this span: the plugin says so with
				// result_code 2, never as 0 packets at 0% loss.
				if code != 2 {
					t.Errorf("report %d: %s: result_code %d, want 2: the emulator saw no request of it in the window's span; fields %v", i, a, code, p.fields)
				}
				continue
			}
			if code != 0 && certain == 0 {
				continue // its one packet may have fallen on either side of a boundary
			}
			tx, rx := cur.counts(t, i, a.String())
			if rx != tx || rx < certain || rx > possible {
				t.Errorf("report %d: %s: %d of %d received; the emulator answered %d..%d requests in the window's span",
					i, a, rx, tx, certain, possible)
			}
		}
	}
	if n := len(d.engines()); n != 1 {
		t.Errorf("%d engines at the end, want 1", n)
	}
}
