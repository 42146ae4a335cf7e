package otel

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// The plugin's exponential histogram must bucket exactly as the SDK's own
// aggregation does with the same limits: the SDK is the reference.
func TestExpHistogramMatchesTheSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := map[string][]float64{
		"loopback":    {2e-5, 3e-5, 2.5e-5, 4e-5},
		"powers of 2": {0.5, 0.25, 1, 2, 0.125},
		"wide":        {2e-5, 0.6, 0.0001, 0.01, 3},
		// 130 octaves first: scale 0, where exact powers of 2 need a
		// correction of their own.
		"extreme": {math.Ldexp(1, -60), math.Ldexp(1, 70), 0.5, 1, 2, 4, 3},
	}
	var random []float64
	for range 5000 {
		random = append(random, math.Exp(rng.Float64()*math.Log(1e6))*1e-5) // 10 us .. 10 s
	}
	sets["random"] = random
	for name, vs := range sets {
		t.Run(name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(sdkmetric.NewView(
				sdkmetric.Instrument{Name: "h"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: rttExpMaxSize, MaxScale: rttExpMaxScale}})))
			defer provider.Shutdown(context.Background())
			h, err := provider.Meter("t").Float64Histogram("h")
			if err != nil {
				t.Fatal(err)
			}
			var mine expHistogram
			for _, v := range vs {
				h.Record(context.Background(), v)
				mine.record(v)
			}
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			want := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.ExponentialHistogram[float64]).DataPoints[0]
			if mine.scale != want.Scale || mine.offset != want.PositiveBucket.Offset || !slices.Equal(trim(mine.counts.uint64s()), trim(want.PositiveBucket.Counts)) {
				t.Errorf("scale %d offset %d counts %v; the SDK: scale %d offset %d counts %v",
					mine.scale, mine.offset, mine.counts.uint64s(), want.Scale, want.PositiveBucket.Offset, want.PositiveBucket.Counts)
			}
			// Every series holds one: its buckets' room stays in the limit.
			if mine.counts.room() > rttExpMaxSize {
				t.Errorf("room for %d buckets, more than the %d the histogram holds", mine.counts.room(), rttExpMaxSize)
			}
		})
	}
}

// trim drops trailing empty buckets, which say nothing.
func trim(c []uint64) []uint64 {
	for len(c) > 0 && c[len(c)-1] == 0 {
		c = c[:len(c)-1]
	}
	return c
}

// The classic buckets are Prometheus' le (upper bound included), and a
// target the reports no longer carry leaves the totals, while one whose
// name resolves elsewhere keeps its other series.
func TestTotalsClassicBucketsAndRemoval(t *testing.T) {
	res := func(name, ip string, samplesMS ...float64) probe.Result {
		return probe.Result{Target: name, IP: ip, Protocol: config.ICMP, Code: probe.OK, Transmitted: len(samplesMS), Received: len(samplesMS),
			RTT: &probe.RTT{Detail: true, Samples: samplesMS}}
	}
	tot := newTotals(Histogram{Buckets: []float64{1e-5, 1.5e-5, 2e-5, 0.02, 10}})
	tot.add(&core.Report{Start: epoch, Results: []probe.Result{
		res("a", "198.19.0.1", 0.01, 0.015, 0.0151, 20, 10000, 20000), // 10 us, 15 us, just above, 20 ms, 10 s, beyond
		res("b", "198.19.0.2", 1),
	}})
	sm, err := (&producer{t: tot}).Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var hist metricdata.Histogram[float64]
	for _, m := range sm[0].Metrics {
		if m.Name == nameRTTHistogram {
			hist = m.Data.(metricdata.Histogram[float64])
		}
	}
	if len(hist.DataPoints) != 2 {
		t.Fatalf("%d histogram points, want 2", len(hist.DataPoints))
	}
	a := hist.DataPoints[0]
	want := map[float64]uint64{1e-5: 1, 1.5e-5: 1, 2e-5: 1, 0.02: 1, 10: 1}
	for i, n := range a.BucketCounts {
		upper := math.Inf(1)
		if i < len(a.Bounds) {
			upper = a.Bounds[i]
		}
		w := want[upper]
		if math.IsInf(upper, 1) {
			w = 1 // 20 s
		}
		for b, c := range want {
			if math.Abs(b-upper) < b*1e-9 {
				w = c
			}
		}
		if n != w {
			t.Errorf("bucket le=%g: %d, want %d", upper, n, w)
		}
	}
	if a.Count != 6 || math.Abs(a.Sum-30.0200401) > 1e-9 {
		t.Errorf("count %d sum %v, want 6 and 30.0200401", a.Count, a.Sum)
	}

	// b leaves; a's address changes: its old series stays while a is
	// configured, and a new one starts.
	tot.add(&core.Report{Start: epoch.Add(time.Second), Results: []probe.Result{res("a", "198.19.0.9", 1)}})
	var names []string
	for _, s := range tot.series {
		names = append(names, s.attrs.Encoded(nil))
	}
	if len(tot.series) != 2 || tot.series[0].attrs.Equivalent() == tot.series[1].attrs.Equivalent() {
		t.Errorf("series after b left and a moved: %v, want a's two", names)
	}
	for _, s := range tot.series {
		if v, _ := s.attrs.Value(keyServerAddress); v.AsString() != "a" {
			t.Errorf("series %s after b left", s.attrs.Encoded(nil))
		}
	}
	tot.add(&core.Report{Start: epoch.Add(2 * time.Second)})
	if len(tot.series) != 0 {
		t.Errorf("%d series with no target configured, want 0", len(tot.series))
	}
}

// Under a delta temporality preference each collection carries what was
// added since the previous one: counters, bucket counts (the histogram
// coarsening in between included), count and sum.
func TestProducerDeltas(t *testing.T) {
	res := func(ip string, samplesMS ...float64) core.Report {
		return core.Report{Start: epoch, Results: []probe.Result{{Target: "a", IP: ip, Protocol: config.ICMP, Code: probe.OK,
			Transmitted: len(samplesMS) + 1, Received: len(samplesMS), RTT: &probe.RTT{Detail: true, Samples: samplesMS}}}}
	}
	tot := newTotals(Histogram{})
	p := &producer{t: tot, exponential: true, delta: true}
	point := func() (metricdata.DataPoint[int64], metricdata.ExponentialHistogramDataPoint[float64]) {
		sm, err := p.Produce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var sent metricdata.DataPoint[int64]
		var h metricdata.ExponentialHistogramDataPoint[float64]
		for _, m := range sm[0].Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == nameCountSent {
					if d.Temporality != metricdata.DeltaTemporality {
						t.Errorf("%s: %v, want delta", m.Name, d.Temporality)
					}
					sent = d.DataPoints[0]
				}
			case metricdata.ExponentialHistogram[float64]:
				h = d.DataPoints[0]
			}
		}
		return sent, h
	}
	tot.add(ptr(res("198.19.0.1", 0.05, 0.06)))
	s1, h1 := point()
	// Samples a million times apart: the histogram coarsens.
	tot.add(ptr(res("198.19.0.1", 50, 50000, 0.05)))
	s2, h2 := point()
	s3, h3 := point()
	if s1.Value != 3 || s2.Value != 4 || s3.Value != 0 {
		t.Errorf("sent deltas %d, %d, %d; want 3, 4, 0", s1.Value, s2.Value, s3.Value)
	}
	if h1.Count != 2 || h2.Count != 3 || h3.Count != 0 || math.Abs(h2.Sum-50.05005) > 1e-9 {
		t.Errorf("histogram deltas: count %d, %d, %d, sum %v; want 2, 3, 0 and 50.05005", h1.Count, h2.Count, h3.Count, h2.Sum)
	}
	var n uint64
	for _, c := range h2.PositiveBucket.Counts {
		n += c
	}
	if h2.Scale >= h1.Scale || n != 3 {
		t.Errorf("second delta: scale %d (first %d), %d in its buckets; want a coarser scale and 3", h2.Scale, h1.Scale, n)
	}
	if !s2.StartTime.Equal(s1.Time) {
		t.Errorf("second delta starts %v, want the first's end %v", s2.StartTime, s1.Time)
	}
}

func ptr[T any](v T) *T { return &v }

// The bucket bounds are the round numbers Prometheus shows as le labels:
// 0.3, not 0.30000000000000004.
func TestRTTBoundsAreRound(t *testing.T) {
	if len(DefaultBuckets) != 37 || DefaultBuckets[0] != 1e-5 || DefaultBuckets[len(DefaultBuckets)-1] != 10 {
		t.Fatalf("%d bounds from %g to %g, want 37 from 1e-05 to 10", len(DefaultBuckets), DefaultBuckets[0], DefaultBuckets[len(DefaultBuckets)-1])
	}
	for i, b := range DefaultBuckets {
		if s := strconv.FormatFloat(b, 'g', -1, 64); s != strconv.FormatFloat(b, 'g', 2, 64) {
			t.Errorf("bound %d is %s", i, s)
		}
		if i > 0 && b <= DefaultBuckets[i-1] {
			t.Errorf("bound %d (%g) not above %g", i, b, DefaultBuckets[i-1])
		}
	}
}

// A target that leaves the reports and comes back (a reload that makes
// every target new reports none of them until their first packet) is a
// new series: its delta is whole, its cumulative start is new; nothing
// goes negative, nothing panics.
func TestSeriesDroppedAndCreatedAgain(t *testing.T) {
	report := func(start time.Time, samplesMS ...float64) *core.Report {
		rd := &core.Report{Start: start}
		if samplesMS != nil {
			rd.Results = []probe.Result{{Target: "a", IP: "198.19.0.1", Protocol: config.ICMP, Code: probe.OK,
				Transmitted: len(samplesMS), Received: len(samplesMS), RTT: &probe.RTT{Detail: true, Samples: samplesMS}}}
		}
		return rd
	}
	tot := newTotals(Histogram{})
	delta := &producer{t: tot, exponential: true, delta: true}
	cumulative := &producer{t: tot, exponential: true}
	sent := func(p *producer) metricdata.DataPoint[int64] {
		sm, err := p.Produce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sm[0].Metrics {
			if m.Name == nameCountSent {
				if d := m.Data.(metricdata.Sum[int64]).DataPoints; len(d) == 1 {
					return d[0]
				}
			}
		}
		return metricdata.DataPoint[int64]{Value: -1}
	}
	tot.add(report(epoch, 50, 50000, 0.05, 0.06)) // a wide range: a coarse scale
	if d := sent(delta); d.Value != 4 {
		t.Fatalf("first delta %d, want 4", d.Value)
	}
	tot.add(report(epoch.Add(time.Second))) // gone
	if d := sent(delta); d.Value != -1 {
		t.Fatalf("delta of a series gone: %d, want no point", d.Value)
	}
	tot.add(report(epoch.Add(2*time.Second), 1)) // back, one sample at the finest scale
	if d := sent(delta); d.Value != 1 {
		t.Errorf("delta of the series created again: %d, want 1", d.Value)
	}
	if c := sent(cumulative); c.Value != 1 || !c.StartTime.Equal(epoch.Add(2*time.Second)) {
		t.Errorf("cumulative: %d from %v, want 1 from its new start %v", c.Value, c.StartTime, epoch.Add(2*time.Second))
	}
	// Gone again and back with more packets than it had, with no
	// collection in between (an empty report is not exported): its counts
	// did not go down, yet it is a new series, whole.
	tot.add(report(epoch.Add(3 * time.Second)))
	tot.add(report(epoch.Add(4*time.Second), 1, 1, 1))
	if d := sent(delta); d.Value != 3 {
		t.Errorf("delta of the series created a second time with 3 packets: %d, want 3", d.Value)
	}
}

// A series whose target now resolves elsewhere leaves after staleReports
// reports without a result of its own; the target's new series stays.
func TestStaleAddressSeriesLeave(t *testing.T) {
	tot := newTotals(Histogram{})
	at := func(ip string, k int) *core.Report {
		return &core.Report{Start: epoch.Add(time.Duration(k) * time.Second), Results: []probe.Result{{Target: "a.example", IP: ip,
			Protocol: config.ICMP, Code: probe.OK, Transmitted: 1, Received: 1}}}
	}
	tot.add(at("198.19.0.1", 0))
	for k := 1; k <= staleReports; k++ {
		tot.add(at("198.19.0.2", k))
		if len(tot.series) != 2 {
			t.Fatalf("report %d: %d series, want the old address's kept beside the new", k, len(tot.series))
		}
	}
	tot.add(at("198.19.0.2", staleReports+1))
	if len(tot.series) != 1 {
		t.Fatalf("%d series after %d reports without the old address, want 1", len(tot.series), staleReports+1)
	}
	if v, _ := tot.series[0].attrs.Value(keyPeerAddress); v.AsString() != "198.19.0.2" {
		t.Errorf("the series left is %s, want the new address's", tot.series[0].attrs.Encoded(nil))
	}
}
