package otlp

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // accept what OTEL_EXPORTER_OTLP_COMPRESSION=gzip sends
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
)

// sink is an OTLP gRPC metrics server inside the test: the end of the line
// that shows what a Collector (or the plugin itself) really sent.
type sink struct {
	colmetricpb.UnimplementedMetricsServiceServer
	addr string

	mu       sync.Mutex
	requests []received
	arrived  chan struct{} // a token per request

	compressed atomic.Bool   // a payload arrived smaller on the wire than decoded
	delay      time.Duration // answer each export this late: a slow Collector
}

// TagRPC, HandleRPC, TagConn and HandleConn make the sink a stats.Handler,
// the only place a gRPC server sees a payload's wire size.
func (s *sink) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (s *sink) HandleRPC(_ context.Context, st stats.RPCStats) {
	if in, ok := st.(*stats.InPayload); ok && in.CompressedLength < in.Length {
		s.compressed.Store(true)
	}
}
func (s *sink) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (s *sink) HandleConn(context.Context, stats.ConnStats)                       {}

type received struct {
	req    *colmetricpb.ExportMetricsServiceRequest
	md     metadata.MD
	client string // common name of the client certificate, when one was verified
}

func startSink(t *testing.T) *sink { return startSlowSink(t, 0) }

func startSlowSink(t *testing.T, delay time.Duration, opts ...grpc.ServerOption) *sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{addr: l.Addr().String(), arrived: make(chan struct{}, 1000), delay: delay}
	srv := grpc.NewServer(append(opts, grpc.StatsHandler(s))...)
	colmetricpb.RegisterMetricsServiceServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return s
}

func (s *sink) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var client string // the verified client certificate's common name, over mTLS
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			client = ti.State.VerifiedChains[0][0].Subject.CommonName
		}
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	s.requests = append(s.requests, received{req: req, md: md, client: client})
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.requests...)
}

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

// rounds groups every received data point by round (start time), in order.
// A counter or histogram point joins the round that ended when it did.
func (s *sink) rounds(t *testing.T) []*exportedRound {
	t.Helper()
	byStart := map[uint64]*exportedRound{}
	byEnd := map[uint64]*exportedRound{}
	var order []uint64
	var cumulative []*metricpb.Metric
	for _, r := range s.all() {
		for _, rm := range r.req.ResourceMetrics {
			res := attrMap(rm.GetResource().GetAttributes())
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
	out := make([]*exportedRound, 0, len(order))
	for _, k := range order {
		out = append(out, byStart[k])
	}
	return out
}

// waitRounds waits until n rounds have arrived.
func (s *sink) waitRounds(t *testing.T, n int, within time.Duration) []*exportedRound {
	t.Helper()
	deadline := time.After(within)
	for {
		if rs := s.rounds(t); len(rs) >= n {
			return rs
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("%d rounds arrived within %s, want %d", len(s.rounds(t)), within, n)
		}
	}
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = anyString(kv.Value)
	}
	return m
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return itoa(x.IntValue)
	}
	return v.String()
}

func value(dp *metricpb.NumberDataPoint) float64 {
	switch x := dp.Value.(type) {
	case *metricpb.NumberDataPoint_AsInt:
		return float64(x.AsInt)
	case *metricpb.NumberDataPoint_AsDouble:
		return x.AsDouble
	}
	return -1
}
