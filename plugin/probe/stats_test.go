package probe

import (
	"math"
	"testing"
)

// near allows for the rounding to 0.001 ms.
func near(a, b float64) bool { return math.Abs(a-b) <= 0.0005 }

func TestRTTStats(t *testing.T) {
	r := rttStats([]float64{10, 20, 15, 35}, []int{50, 95, 99})
	// avg 20; deviations -10, 0, -5, 15 -> variance (100+0+25+225)/4 = 87.5
	// jitter (10 + 5 + 20) / 3
	if !near(r.Min, 10) || !near(r.Max, 35) || !near(r.Avg, 20) || !near(r.StdDev, math.Sqrt(87.5)) ||
		!near(r.Jitter, 35.0/3) || !r.HasJitter || !r.Detail {
		t.Errorf("stats = %+v", r)
	}
	// sorted 10 15 20 35; R7: p50 rank 1.5 -> 17.5; p95 rank 2.85 -> 20+0.85*15; p99 rank 2.97
	want := []Percentile{{50, 17.5}, {95, 20 + 0.85*15}, {99, 20 + 0.97*15}}
	for i, p := range r.Percentiles {
		if p.P != want[i].P || !near(p.Value, want[i].Value) {
			t.Errorf("percentile %d = %+v, want %+v", i, p, want[i])
		}
	}
	if got := rttStats(nil, nil); got != nil {
		t.Errorf("no samples: %+v, want nil (no RTT fields)", got)
	}
	one := rttStats([]float64{3}, []int{90})
	if one.HasJitter || !near(one.StdDev, 0) || !near(one.Percentiles[0].Value, 3) {
		t.Errorf("one sample: %+v", one)
	}
}
