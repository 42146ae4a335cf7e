package otel

import (
	"context"
	"math"
	"net"
	"testing"

	dto "github.com/prometheus/client_model/go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

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
	tot := newTotals()
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
	if len(h.Bucket) != len(rttBounds) {
		t.Errorf("%d classic buckets, want %d", len(h.Bucket), len(rttBounds))
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
