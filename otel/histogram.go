package otel

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Histogram configures the RTT histogram's buckets (--histogram-buckets,
// --native-histogram-factor).
type Histogram struct {
	// Buckets are the classic buckets' upper bounds in seconds, ascending:
	// the le labels of a Prometheus scrape (+Inf is added). Nil:
	// DefaultBuckets.
	Buckets []float64
	// NativeFactor, when above 1, caps the resolution of the exponential
	// buckets (OTLP's exponential histogram, Prometheus' native one): a
	// bucket's upper bound is at most this many times its lower bound, as
	// client_golang's NativeHistogramBucketFactor. 0: the finest the
	// bucket count allows.
	NativeFactor float64
}

// DefaultBuckets are the classic buckets by default, in seconds: 1, 1.5,
// 2, 3, 5 and 7 in each decade from 10 us to 10 s. A bucket is at most
// 1.67 times its lower bound (smokeping_prober's twenty are 2 times), so
// histogram_quantile's interpolation stays within that of the truth, from
// loopback (20-50 us) to a satellite link (600 ms) and a timeout.
// docs/prometheus.md weighs them against fewer.
var DefaultBuckets = func() []float64 {
	var b []float64
	for exp := -5; exp < 1; exp++ {
		for _, m := range []string{"1", "1.5", "2", "3", "5", "7"} {
			// Parsed, not multiplied: 3*0.1 would be an le label of
			// 0.30000000000000004.
			v, _ := strconv.ParseFloat(fmt.Sprintf("%se%d", m, exp), 64)
			b = append(b, v)
		}
	}
	return append(b, 10)
}()

// maxBuckets bounds --histogram-buckets: each bucket is a series per
// target in every scrape and in Prometheus.
const maxBuckets = 100

// ParseBuckets reads --histogram-buckets: upper bounds in seconds,
// separated by commas, ascending. "" is DefaultBuckets.
func ParseBuckets(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.ParseFloat(f, 64)
		switch {
		case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
			return nil, fmt.Errorf("--histogram-buckets: %q is not a number of seconds; give upper bounds in seconds, ascending, e.g. 0.001,0.005,0.025", f)
		case v <= 0:
			return nil, fmt.Errorf("--histogram-buckets: %s: a bound must be above 0 s (a round-trip time is)", f)
		case len(out) > 0 && v <= out[len(out)-1]:
			return nil, fmt.Errorf("--histogram-buckets: %s is not above %g: give the bounds ascending, each once", f, out[len(out)-1])
		}
		out = append(out, v)
	}
	if len(out) > maxBuckets {
		return nil, fmt.Errorf("--histogram-buckets: %d bounds, at most %d (each is a series per target)", len(out), maxBuckets)
	}
	return out, nil
}

// CheckNativeFactor refuses a --native-histogram-factor that is no growth:
// 1 or less (0 is the default, the finest the bucket count allows).
func CheckNativeFactor(f float64) error {
	if f == 0 || f > 1 && !math.IsInf(f, 0) {
		return nil
	}
	return fmt.Errorf("--native-histogram-factor %g: give a factor above 1, e.g. 1.1 (each bucket at most 10%% wider than its lower bound), or 0 for the finest resolution", f)
}

// scaleFor is the finest scale whose buckets grow by at most factor (each
// upper bound at most factor times its lower bound), as client_golang
// picks a native histogram's schema from NativeHistogramBucketFactor:
// 1.1 gives 3 (2^(1/8), 1.09 per bucket). It is kept within what
// Prometheus' schemas (-4 to 8) and the exponential histogram hold.
func scaleFor(factor float64) int32 {
	s := int32(math.Ceil(-math.Log2(math.Log2(factor))))
	return min(max(s, -4), rttExpMaxScale)
}
