package netlab

import (
	"math"
	"sort"
	"time"
)

// The statistics tests compare the plugin's figures with: computed the same
// way the plugin computes them, from what the emulator recorded.

// TruthRTTs returns the recorded RTT (ms) of every answered request, in
// arrival (= sequence) order.
func TruthRTTs(evs []Event) []float64 {
	var out []float64
	for _, ev := range evs {
		if d, ok := ev.RTT(); ok {
			out = append(out, float64(d)/float64(time.Millisecond))
		}
	}
	return out
}

// Mean is the arithmetic mean of xs.
func Mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Median is the middle of xs (the mean of the two middle values for an even
// count). Unlike the mean, one sample a busy machine delayed cannot move it.
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// StdDev is the population standard deviation, as the plugin reports it.
func StdDev(xs []float64) float64 {
	m, s := Mean(xs), 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)))
}

// Binomial999 returns the central 99.9% interval [lo, hi] of the number of
// successes in n trials of probability p, from the exact binomial
// distribution: 0.05% of the mass lies below lo and 0.05% above hi.
func Binomial999(n int, p float64) (lo, hi int) {
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	pmf := func(k int) float64 {
		return math.Exp(lg(n) - lg(k) - lg(n-k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
	}
	cdf := 0.0
	lo, hi = -1, n
	for k := 0; k <= n; k++ {
		cdf += pmf(k)
		if lo < 0 && cdf >= 0.0005 {
			lo = k
		}
		if cdf >= 0.9995 {
			return lo, k
		}
	}
	return lo, hi
}
