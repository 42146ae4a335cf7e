package probe

import (
	"math"
	"testing"
)

// near allows for the rounding to 0.001 ms.
func near(a, b float64) bool { return math.Abs(a-b) <= 0.0005 }

// Every expected number here is worked by hand from the samples.
func TestRTTStats(t *testing.T) {
	r := rttStats([]float64{10, 20, 15, 35}, []int{50, 95, 99})
	// avg 80/4 = 20; deviations -10, 0, -5, 15: variance 350/4 = 87.5,
	// stddev 9.354; jitter (10 + 5 + 20) / 3 = 11.667.
	if !near(r.Min, 10) || !near(r.Max, 35) || !near(r.Avg, 20) || !near(r.StdDev, 9.354) ||
		!near(r.Jitter, 11.667) || !r.HasJitter || !r.Detail {
		t.Errorf("stats = %+v", r)
	}
	// Sorted 10 15 20 35, linear between closest ranks (rank p/100 x 3):
	// p50 rank 1.5: 15 + 0.5 x 5 = 17.5; p95 rank 2.85: 20 + 0.85 x 15 =
	// 32.75; p99 rank 2.97: 20 + 0.97 x 15 = 34.55.
	wantPercentiles(t, "four samples", r, []Percentile{{50, 17.5}, {95, 32.75}, {99, 34.55}})

	// In the order configured, with the ends: 2 samples 1 and 3.
	two := rttStats([]float64{3, 1}, []int{100, 0, 25, 90})
	wantPercentiles(t, "two samples", two, []Percentile{{100, 3}, {0, 1}, {25, 1.5}, {90, 2.8}})
	if !near(two.StdDev, 1) || !near(two.Jitter, 2) || !near(two.Avg, 2) {
		t.Errorf("two samples: %+v", two)
	}

	if got := rttStats(nil, nil); got != nil {
		t.Errorf("no samples: %+v, want nil (no RTT fields)", got)
	}
	one := rttStats([]float64{3}, []int{90})
	if one.HasJitter || !near(one.StdDev, 0) {
		t.Errorf("one sample: %+v", one)
	}
	wantPercentiles(t, "one sample", one, []Percentile{{90, 3}})
	// None configured: no percentile fields at all.
	if none := rttStats([]float64{1, 2}, nil); len(none.Percentiles) != 0 {
		t.Errorf("no percentiles configured: %+v", none.Percentiles)
	}
}

// wantPercentiles checks that exactly the requested percentiles came back,
// in order, with their values.
func wantPercentiles(t *testing.T, name string, r *RTT, want []Percentile) {
	t.Helper()
	if r == nil || len(r.Percentiles) != len(want) {
		t.Errorf("%s: percentiles %+v, want %+v", name, r, want)
		return
	}
	for i, p := range r.Percentiles {
		if p.P != want[i].P || !near(p.Value, want[i].Value) {
			t.Errorf("%s: percentile %d = %+v, want %+v", name, i, p, want[i])
		}
	}
}
