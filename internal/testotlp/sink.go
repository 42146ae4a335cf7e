package testotlp

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // Collectors compress their exports by default, the plugin with OTEL_EXPORTER_OTLP_COMPRESSION=gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
)

// Sink is an OTLP gRPC metrics server inside the test: the end of the line
// that shows what a Collector (or the plugin itself) really sent.
type Sink struct {
	colmetricpb.UnimplementedMetricsServiceServer
	// Addr is the loopback address the sink listens on.
	Addr string

	mu       sync.Mutex
	requests []Received
	arrived  chan struct{} // a token per request

	wire  wireSizes
	delay time.Duration // answer each export this late: a slow Collector
}

// Received is one export request as it arrived.
type Received struct {
	Req    *colmetricpb.ExportMetricsServiceRequest
	MD     metadata.MD // the request's headers
	Client string      // common name of the client certificate, when one was verified
}

// StartSink starts a Sink that answers every export at once, in plain text.
// The test's cleanup stops it.
func StartSink(t testing.TB) *Sink { return StartSlowSink(t, 0) }

// StartSlowSink starts a Sink that answers each export delay late (or when
// the client gives up), with the server options opts (grpc.Creds for TLS).
// The test's cleanup stops it.
func StartSlowSink(t testing.TB, delay time.Duration, opts ...grpc.ServerOption) *Sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{Addr: l.Addr().String(), arrived: make(chan struct{}, 1000), delay: delay}
	srv := grpc.NewServer(append(opts, grpc.StatsHandler(&s.wire))...)
	colmetricpb.RegisterMetricsServiceServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return s
}

// Export records the request, after the sink's delay.
func (s *Sink) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
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
	s.requests = append(s.requests, Received{Req: req, MD: md, Client: client})
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// Requests returns the requests received so far, in order.
func (s *Sink) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.requests...)
}

// Arrived receives when a request was recorded: a test waiting for what
// Requests returns to satisfy it looks again each time. One waiter at a
// time: tokens are not shared.
func (s *Sink) Arrived() <-chan struct{} { return s.arrived }

// Compressed reports whether a payload arrived smaller on the wire than
// decoded, i.e. compressed.
func (s *Sink) Compressed() bool { return s.wire.compressed.Load() }

// wireSizes is the sink's stats.Handler, the only place a gRPC server sees
// a payload's size on the wire.
type wireSizes struct {
	compressed atomic.Bool
}

func (w *wireSizes) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *wireSizes) HandleRPC(_ context.Context, st stats.RPCStats) {
	if in, ok := st.(*stats.InPayload); ok && in.CompressedLength < in.Length {
		w.compressed.Store(true)
	}
}
func (w *wireSizes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (w *wireSizes) HandleConn(context.Context, stats.ConnStats)                       {}
