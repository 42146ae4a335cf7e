package otel

import (
	"slices"
	"testing"
	"time"

	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// exportedRound is what arrived for one round of the plugin: its gauge
// points share the round's start time, and its cumulative points (counters,
// histogram) the round's end.
type exportedRound struct {
	start, end time.Time
	resource   map[string]string
	scope      string
	metrics    map[string]*metricpb.Metric // gauges: one Metric per name, points merged
	sums       map[string]*metricpb.Metric // counters, as received
	hists      map[string]*metricpb.Metric // exponential histograms, as received
}

// exportedRounds groups every data point the sink received by round (start
// time), in the order the rounds started. That is not always the order they
// arrived in: a Collector's exporter sends from its queue on several
// consumers at once, and two exports it received together (a round held
// through an outage, then the next) reached the sink in either order. A
// counter or histogram point joins the round that ended when it did.
func exportedRounds(t *testing.T, s *testotlp.Sink) []*exportedRound {
	t.Helper()
	byStart := map[uint64]*exportedRound{}
	byEnd := map[uint64]*exportedRound{}
	var order []uint64
	var cumulative []*metricpb.Metric
	for _, r := range s.Requests() {
		for _, rm := range r.Req.ResourceMetrics {
			res := testotlp.AttrMap(rm.GetResource().GetAttributes())
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.GetSum() != nil || m.GetExponentialHistogram() != nil {
						cumulative = append(cumulative, m)
						continue
					}
					g := m.GetGauge()
					if g == nil {
						t.Errorf("%s: %T, want a gauge, a sum or an exponential histogram", m.Name, m.Data)
						continue
					}
					for _, dp := range g.DataPoints {
						er := byStart[dp.StartTimeUnixNano]
						if er == nil {
							er = &exportedRound{start: time.Unix(0, int64(dp.StartTimeUnixNano)),
								end: time.Unix(0, int64(dp.TimeUnixNano)), resource: res,
								scope: sm.GetScope().GetName(), metrics: map[string]*metricpb.Metric{},
								sums: map[string]*metricpb.Metric{}, hists: map[string]*metricpb.Metric{}}
							byStart[dp.StartTimeUnixNano] = er
							byEnd[dp.TimeUnixNano] = er
							order = append(order, dp.StartTimeUnixNano)
						}
						mm := er.metrics[m.Name]
						if mm == nil {
							mm = &metricpb.Metric{Name: m.Name, Unit: m.Unit, Description: m.Description,
								Data: &metricpb.Metric_Gauge{Gauge: &metricpb.Gauge{}}}
							er.metrics[m.Name] = mm
						}
						mm.GetGauge().DataPoints = append(mm.GetGauge().DataPoints, dp)
					}
				}
			}
		}
	}
	for _, m := range cumulative {
		var end uint64
		if sum := m.GetSum(); sum != nil && len(sum.DataPoints) > 0 {
			end = sum.DataPoints[0].TimeUnixNano
		} else if h := m.GetExponentialHistogram(); h != nil && len(h.DataPoints) > 0 {
			end = h.DataPoints[0].TimeUnixNano
		}
		er := byEnd[end]
		if er == nil {
			t.Errorf("%s: a point at %v, when no round ended", m.Name, time.Unix(0, int64(end)))
			continue
		}
		if m.GetSum() != nil {
			er.sums[m.Name] = m
		} else {
			er.hists[m.Name] = m
		}
	}
	slices.Sort(order)
	out := make([]*exportedRound, 0, len(order))
	for _, k := range order {
		out = append(out, byStart[k])
	}
	return out
}

// waitRounds waits until n rounds have arrived.
func waitRounds(t *testing.T, s *testotlp.Sink, n int, within time.Duration) []*exportedRound {
	t.Helper()
	deadline := time.After(within)
	for {
		if rs := exportedRounds(t, s); len(rs) >= n {
			return rs
		}
		select {
		case <-s.Arrived():
		case <-deadline:
			t.Fatalf("%d rounds arrived within %s, want %d", len(exportedRounds(t, s)), within, n)
		}
	}
}
