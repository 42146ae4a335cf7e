package otel

import (
	"context"
	"math"
	"net"
	"testing"

	dto "github.com/prometheus/client_model/go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// The RTT histogram a scrape gathers has both forms of the same samples:
// classic buckets, and native ones whose bucket (base^(i-1), base^i]
// holds each sample.
func TestScrapeHistogramClassicAndNative(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tot := newTotals(Histogram{})
	e, err := newEndpoint(Prometheus{Listener: ln}, tot, logger.New(&testbin.Buffer{}, false))
	if err != nil {
		t.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.exporter))
	defer provider.Shutdown(context.Background())
	// 25 us, 0.2 ms and 20 ms: far apart, so the native schema is coarse.
	samples := []float64{0.025, 0.2, 20}
	tot.add(&core.Report{Start: epoch, Results: []probe.Result{{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.ICMP, Code: probe.OK,
		Transmitted: 3, Received: 3, RTT: &probe.RTT{Detail: true, Samples: samples}}}})

	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() == promRTTHistogram {
			if len(mf.Metric) != 1 {
				t.Fatalf("%d series, want 1", len(mf.Metric))
			}
			h = mf.Metric[0].Histogram
		}
	}
	if h == nil {
		t.Fatalf("no %s in the scrape", promRTTHistogram)
	}
	if h.GetSampleCount() != 3 || math.Abs(h.GetSampleSum()-0.020225) > 1e-12 {
		t.Errorf("count %d sum %v, want 3 and 0.020225", h.GetSampleCount(), h.GetSampleSum())
	}
	if len(h.Bucket) != len(DefaultBuckets) {
		t.Errorf("%d classic buckets, want %d", len(h.Bucket), len(DefaultBuckets))
	}
	schema := h.GetSchema()
	if schema > maxNativeSchema || len(h.PositiveSpan) != 1 {
		t.Fatalf("schema %d, spans %v; want at most %d and one span", schema, h.PositiveSpan, maxNativeSchema)
	}
	base := math.Pow(2, math.Pow(2, -float64(schema)))
	idx, n := h.PositiveSpan[0].GetOffset(), int64(0)
	var holding []float64
	for _, d := range h.PositiveDelta {
		n += d
		for k := int64(0); k < n; k++ {
			holding = append(holding, math.Pow(base, float64(idx)))
		}
		idx++
	}
	if len(holding) != 3 {
		t.Fatalf("native buckets hold %d samples, want 3", len(holding))
	}
	for i, v := range samples {
		upper, s := holding[i], v/1000
		if !(s <= upper*(1+1e-9) && s > upper/base*(1-1e-9)) {
			t.Errorf("sample %g s in the native bucket (%g, %g]", s, upper/base, upper)
		}
	}
}

// --native-histogram-factor caps the exponential buckets' scale, as
// client_golang's NativeHistogramBucketFactor picks a schema: the finest
// whose buckets grow by at most the factor (2^(2^-scale) <= factor).
func TestNativeFactor(t *testing.T) {
	for f, want := range map[float64]int32{1.1: 3, 1.05: 4, 1.09051: 3, 1.0905: 4, 2: 0, 4: -1, 1e9: -4, 1.0000001: rttExpMaxScale} {
		if got := scaleFor(f); got != want {
			t.Errorf("factor %v: scale %d, want %d", f, got, want)
		}
	}
	// Two samples 1% apart would be told apart at scale 20; under the
	// factor 1.1 they share a bucket of scale 3.
	tot := newTotals(Histogram{NativeFactor: 1.1})
	tot.add(&core.Report{Start: epoch, Results: []probe.Result{{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.ICMP, Code: probe.OK,
		Transmitted: 2, Received: 2, RTT: &probe.RTT{Detail: true, Samples: []float64{10, 10.1}}}}})
	sm, err := (&producer{t: tot, exponential: true}).Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sm[0].Metrics {
		if m.Name != nameRTTHistogram {
			continue
		}
		dp := m.Data.(metricdata.ExponentialHistogram[float64]).DataPoints[0]
		if dp.Scale != 3 || len(dp.PositiveBucket.Counts) != 1 || dp.PositiveBucket.Counts[0] != 2 {
			t.Errorf("scale %d, buckets %v; want scale 3 and one bucket of 2", dp.Scale, dp.PositiveBucket.Counts)
		}
	}
}
