package labtest

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
)

// TestDelayAndJitter runs three emulated paths in one round: fixed 20 ms,
// fixed 80 ms, and 20 +/- 10 ms uniform jitter, 50 packets each.
func TestDelayAndJitter(t *testing.T) {
	l := lab(t)
	e := emulator(t, l)
	fixed20, fixed80, jittery := netlab.Emu(1), netlab.Emu(2), netlab.Emu(3)
	e.Set(netip.PrefixFrom(fixed20, 32), netlab.Profile{Delay: 20 * time.Millisecond})
	e.Set(netip.PrefixFrom(fixed80, 32), netlab.Profile{Delay: 80 * time.Millisecond})
	e.Set(netip.PrefixFrom(jittery, 32), netlab.Profile{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond})
	const count = 50
	timed(t, func(c *checks) [][]float64 {
		start := len(e.Events(netip.Addr{}))
		r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = %s
count = %d
interval = "40ms"
timeout = "300ms"
percentiles = [90]
`, quoted([]string{fixed20.String(), fixed80.String(), jittery.String()}), count))
		e.Wait()
		evs := e.Events(netip.Addr{})[start:]
		truthOf := func(a netip.Addr) []float64 { return netlab.TruthRTTs(to(evs, a)) }

		for _, a := range []netip.Addr{fixed20, fixed80, jittery} {
			p := r.get(t, a.String())
			truth := truthOf(a)
			if rx := p.int(t, "packets_received"); rx != count || len(truth) != count {
				t.Fatalf("%s: %d received, emulator answered %d; want %d", a, rx, len(truth), count)
			}
			avg, want := p.float(t, "average_response_ms"), netlab.Mean(truth)
			t.Logf("%s: avg %.3f ms, recorded truth %.3f ms (+%.3f); sd %.3f vs %.3f; jitter %.3f vs %.3f",
				a, avg, want, avg-want, p.float(t, "standard_deviation_ms"), netlab.StdDev(truth), p.float(t, "jitter_ms"), jitter(truth))
			// Average: truth plus the clock's bias, within its tolerance
			// (clockBias, see harness_test.go).
			bias, tol := clockBias()
			if d := avg - (want + bias); math.Abs(d) > tol {
				c.Errorf("%s: average %.3f ms, recorded truth %.3f ms: off by %.3f beyond the clock's %.2f ms bias, want within %.2f",
					a, avg, want, d, bias, tol)
			}
			// Min, max and the 90th percentile: each sample is truth + U(0, 1)
			// ms + < 0.1 ms, plus however long hping3 waits to be scheduled.
			// The truth itself is exact to microseconds (the emulator's
			// real-time thread: a fixed path records sd 0.01 ms), and hping3
			// stamps an ICMP send before sendto, so no sample can read below
			// its truth by more than the print rounding. Above it, one sample
			// can carry a scheduling delay of the hping3 process that the
			// emulator's thread never sees: 5 ms beside two busy loops, and
			// once 4.4 ms in CI with the emulator quiet. So the maximum, one
			// sample, is held to 10 ms (a +1000 ms glitch or a reply matched
			// to the wrong probe is far beyond it), while the 90th percentile
			// (45 of 50 samples) keeps the 1 ms pcap window. The minimum, a
			// best case, keeps the tight bound.
			// With the kernel's clock the pcap window is gone: 0.4 ms
			// holds the path's own additions (kernelBias) and their spread.
			window := 1.2
			if !cliEngine() {
				window = 0.4
			}
			if mn := p.float(t, "minimum_response_ms"); mn < minOf(truth)-0.1 || mn > minOf(truth)+window {
				c.Errorf("%s: minimum %.3f ms, truth %.3f ms", a, mn, minOf(truth))
			}
			if mx := p.float(t, "maximum_response_ms"); mx < maxOf(truth)-0.1 || mx > maxOf(truth)+10 {
				c.Errorf("%s: maximum %.3f ms, truth %.3f ms", a, mx, maxOf(truth))
			}
			if a != jittery {
				if p90 := p.float(t, "percentile90_ms"); p90 < minOf(truth)-0.1 || p90 > maxOf(truth)+window {
					c.Errorf("%s: 90th percentile %.3f ms, truth %.3f..%.3f ms", a, p90, minOf(truth), maxOf(truth))
				}
			}
		}

		// Jitter: the truth's spread is sd 20/sqrt(12) = 5.8 ms and mean
		// consecutive difference 20/3 = 6.7 ms; hping3's U(0,1) ms noise adds
		// only 0.08 ms^2 of variance to 33 ms^2, so 15% is a real bound.
		p := r.get(t, jittery.String())
		truth := truthOf(jittery)
		if sd, want := p.float(t, "standard_deviation_ms"), netlab.StdDev(truth); math.Abs(sd-want) > 0.15*want {
			c.Errorf("jitter path: standard deviation %.3f ms, recorded %.3f ms: more than 15%% apart", sd, want)
		}
		if j, want := p.float(t, "jitter_ms"), jitter(truth); math.Abs(j-want) > 0.15*want {
			c.Errorf("jitter path: jitter %.3f ms, recorded %.3f ms: more than 15%% apart", j, want)
		}
		// And the emulator did inject what was configured: a uniform draw on
		// [10, 30] ms over 50 samples has sd within 4.3..7.2 ms (99.9%).
		if sd := netlab.StdDev(truth); sd < 4.3 || sd > 7.2 {
			t.Errorf("emulator jitter sd %.3f ms, configured uniform 20 +/- 10 ms (5.8)", sd)
		}
		return [][]float64{truthOf(fixed20), truthOf(fixed80)}
	})
}

// to returns the events of requests to a, in order.
func to(evs []netlab.Event, a netip.Addr) []netlab.Event {
	var out []netlab.Event
	for _, ev := range evs {
		if ev.Dst == a {
			out = append(out, ev)
		}
	}
	return out
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}
