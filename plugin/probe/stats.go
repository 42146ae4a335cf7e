package probe

import (
	"math"
	"slices"
)

// rttStats computes the statistics of samples (ms, in sequence order).
func rttStats(samples []float64, percentiles []int) *RTT {
	if len(samples) == 0 {
		return nil
	}
	r := &RTT{Detail: true, Samples: samples, Min: samples[0], Max: samples[0]}
	sum := 0.0
	for _, v := range samples {
		sum += v
		r.Min = min(r.Min, v)
		r.Max = max(r.Max, v)
	}
	r.Avg = sum / float64(len(samples))
	ss := 0.0
	for _, v := range samples {
		ss += (v - r.Avg) * (v - r.Avg)
	}
	r.StdDev = math.Sqrt(ss / float64(len(samples)))
	if len(samples) > 1 {
		d := 0.0
		for i := 1; i < len(samples); i++ {
			d += math.Abs(samples[i] - samples[i-1])
		}
		r.Jitter = d / float64(len(samples)-1)
		r.HasJitter = true
	}
	if len(percentiles) > 0 {
		sorted := slices.Clone(samples)
		slices.Sort(sorted)
		for _, p := range percentiles {
			r.Percentiles = append(r.Percentiles, Percentile{P: p, Value: percentile(sorted, p)})
		}
	}
	r.Min, r.Avg, r.Max = roundNs(r.Min), roundNs(r.Avg), roundNs(r.Max)
	r.StdDev, r.Jitter = roundNs(r.StdDev), roundNs(r.Jitter)
	for i := range r.Percentiles {
		r.Percentiles[i].Value = roundNs(r.Percentiles[i].Value)
	}
	return r
}

// roundNs rounds to a nanosecond (0.000001 ms), the finest clock there is
// (the kernel's stamps): further digits are floating-point noise, not
// precision. Every statistic is rounded alike, so min <= avg <= max holds.
func roundNs(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// percentile interpolates linearly between the closest ranks, as Telegraf's
// inputs.ping does, so percentile<N>_ms means the same in both.
func percentile(sorted []float64, p int) float64 {
	rank := float64(p) / 100 * float64(len(sorted)-1)
	i := int(rank)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := rank - float64(i)
	return sorted[i] + frac*(sorted[i+1]-sorted[i])
}
