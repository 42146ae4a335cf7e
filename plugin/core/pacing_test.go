package core

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// runBatch probes n loopback addresses in one Tcl-engine batch and returns
// it, so a test can read every packet's send time (the engine's own stamp).
func runBatch(t *testing.T, n int, s config.Settings, rate float64) *batch {
	t.Helper()
	bin := requireHping3(t)
	b := &batch{bin: bin, log: logger.Discard(), ids: newIdentity(), rate: rate}
	results := make([]probe.Result, n)
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		tg := probe.Target{Name: ip, Res: probe.Resolution{IP: ip}}
		results[i] = probe.NewResult(tg, s, time.Now())
		b.targets = append(b.targets, &batchTarget{res: &results[i], s: s, ip: netip.MustParseAddr(ip)})
	}
	start := time.Now()
	if !b.run(context.Background()) {
		t.Fatal("no engine ran")
	}
	t.Logf("%d targets x %d packets, interval %v, rate cap %v/s: batch took %v", n, s.Count, s.Interval, rate, time.Since(start))
	for _, r := range results {
		if r.Code != probe.OK || r.Received != s.Count {
			t.Fatalf("%s: code %d (%v), %d/%d received", r.Target, r.Code, r.Err, r.Received, r.Transmitted)
		}
	}
	return b
}

// sendTimes returns every packet's send stamp, sorted, and each target's.
func sendTimes(b *batch) (all []time.Time, per [][]time.Time) {
	for _, tg := range b.targets {
		var ts []time.Time
		for _, rec := range tg.recs {
			ts = append(ts, rec.Sent)
		}
		per = append(per, ts)
		all = append(all, ts...)
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	return all, per
}

// The engine stamps a send when hping3's send returns, and a busy host can
// delay either (the other packages' tests run beside these): a spacing may
// come out short of its plan by stampSlack, and long by lateSlack.
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
	b := runBatch(t, 10, s, 1000)
	all, per := sendTimes(b)
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
	b := runBatch(t, 20, s, rate)
	all, per := sendTimes(b)
	for i := range all {
		for j := i; j < len(all) && all[j].Sub(all[i]) < 200*time.Millisecond; j++ {
			if n := j - i + 1; n > 2*rate/10+1+catchUp {
				t.Fatalf("%d sends within 200ms from %v: more than the cap of %d/s allows", n, all[i].Format("15:04:05.000"), rate)
			}
		}
	}
	if span := all[len(all)-1].Sub(all[0]); span < 990*time.Millisecond-stampSlack {
		t.Errorf("100 packets at 100/s went out in %v, want at least 990ms", span)
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
