package testotlp

import (
	"strconv"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Point is one received gauge data point with its metric, attributes and
// resource flattened to strings: what a test of a deployment asks of a
// point, whichever Collectors it went through.
type Point struct {
	Metric   string
	Value    float64
	Attrs    map[string]string
	Resource map[string]string
}

// Points flattens the gauge data points of reqs, in order. Sums and
// histograms are left out.
func Points(reqs []Received) []Point {
	var out []Point
	for _, r := range reqs {
		for _, rm := range r.Req.ResourceMetrics {
			res := AttrMap(rm.GetResource().GetAttributes())
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					for _, dp := range m.GetGauge().GetDataPoints() {
						out = append(out, Point{Metric: m.Name, Value: Value(dp), Attrs: AttrMap(dp.Attributes), Resource: res})
					}
				}
			}
		}
	}
	return out
}

// WaitPoint waits until a gauge point that ok accepts has arrived, and
// returns the first; it fails after within, naming the point by what.
func (s *Sink) WaitPoint(t testing.TB, within time.Duration, what string, ok func(Point) bool) Point {
	t.Helper()
	deadline := time.After(within)
	for {
		points := Points(s.Requests())
		for _, p := range points {
			if ok(p) {
				return p
			}
		}
		select {
		case <-s.Arrived():
		case <-deadline:
			t.Fatalf("no point %s within %s (%d points arrived)", what, within, len(points))
		}
	}
}

// AttrMap flattens attributes to strings: strings as they are, integers in
// decimal, anything else in its protobuf text form.
func AttrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch x := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(x.IntValue, 10)
		default:
			m[kv.Key] = kv.Value.String()
		}
	}
	return m
}

// Value is a number data point's value, integer or not; -1 when it has
// none.
func Value(dp *metricpb.NumberDataPoint) float64 {
	switch x := dp.Value.(type) {
	case *metricpb.NumberDataPoint_AsInt:
		return float64(x.AsInt)
	case *metricpb.NumberDataPoint_AsDouble:
		return x.AsDouble
	}
	return -1
}
