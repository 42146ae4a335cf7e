package otel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// gateExporter is the exporter seam: each Export reports what it got on
// calls, then waits for a reply on results (or for its ctx to end).
type gateExporter struct {
	started chan int64 // the round an Export began with
	calls   chan exported
	results chan error
}

type exported struct {
	sent       int64 // hping3.packets.sent of the one target: identifies the round
	start, end time.Time
	ctxDone    bool

	total                int64 // hping3.packet.sent, the cumulative counter
	totalStart, totalEnd time.Time
	rtts                 uint64 // samples in the exponential hping3.rtt.duration
	rttKind              string
}

func newGate() *gateExporter {
	return &gateExporter{started: make(chan int64, 100), calls: make(chan exported, 100), results: make(chan error)}
}

func (g *gateExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (g *gateExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (g *gateExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	var e exported
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == nameSent {
				e.sent, e.start, e.end = d.DataPoints[0].Value, d.DataPoints[0].StartTime, d.DataPoints[0].Time
			}
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == nameCountSent {
				e.total, e.totalStart, e.totalEnd = d.DataPoints[0].Value, d.DataPoints[0].StartTime, d.DataPoints[0].Time
			}
			if m.Name == nameRTTHistogram {
				e.rttKind = fmt.Sprintf("%T", m.Data)
				if d, ok := m.Data.(metricdata.ExponentialHistogram[float64]); ok {
					e.rtts = d.DataPoints[0].Count
				}
			}
		}
	}
	g.started <- e.sent
	select {
	case err := <-g.results:
		g.calls <- e
		return err
	case <-ctx.Done():
		e.ctxDone = true
		g.calls <- e
		return ctx.Err()
	}
}

func (g *gateExporter) ForceFlush(context.Context) error { return nil }
func (g *gateExporter) Shutdown(context.Context) error   { return nil }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// roundN is a one-target round whose packets-sent value and start time
// say which round it is; each reply took 1 ms.
func roundN(n int) core.Report {
	samples := make([]float64, n)
	for i := range samples {
		samples[i] = 1
	}
	return core.Report{
		Start: epoch.Add(time.Duration(n) * time.Second), Duration: 300 * time.Millisecond, Packets: n,
		Results: []probe.Result{{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.ICMP,
			Code: probe.OK, Transmitted: n, Received: n, TTL: 64,
			RTT: &probe.RTT{Min: 1, Avg: 1, Max: 1, Detail: true, Samples: samples}}},
	}
}

// counted is a pipeline as Run drives it: each report counted into the
// totals as it is offered.
type counted struct {
	*pipeline
	totals   *totals
	provider *sdkmetric.MeterProvider
}

func (c counted) offer(rd core.Report) {
	c.totals.add(&rd)
	c.pipeline.offer(rd)
}

func (c counted) close(budget time.Duration) error {
	defer c.provider.Shutdown(context.Background())
	return c.pipeline.close(budget)
}

func startPipeline(t *testing.T) (counted, *gateExporter, *testbin.Buffer) {
	t.Helper()
	gate, logs := newGate(), &testbin.Buffer{}
	tot := newTotals(Histogram{})
	reader := newReader(gate, tot)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithResource(resource.Empty()), sdkmetric.WithReader(reader), sdkmetric.WithCardinalityLimit(0))
	rec, err := newRecorder(provider.Meter(scopeName))
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(gate, reader, rec, newOutage(logger.New(logs, false)))
	return counted{p, tot, provider}, gate, logs
}

func next(t *testing.T, g *gateExporter) exported {
	t.Helper()
	select {
	case e := <-g.calls:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no export within 10 s")
		return exported{}
	}
}

func waitStarted(t *testing.T, g *gateExporter, want int64) {
	t.Helper()
	select {
	case n := <-g.started:
		if n != want {
			t.Fatalf("export started with round %d, want %d", n, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("round %d's export did not start", want)
	}
}

// reply answers the export that is waiting, once it has started.
func reply(t *testing.T, g *gateExporter, err error) exported {
	t.Helper()
	select {
	case g.results <- err:
	case <-time.After(10 * time.Second):
		t.Fatal("no export started within 10 s")
	}
	return next(t, g)
}

func TestPipelineLatestRoundOnlyAndOutageLoggedOnce(t *testing.T) {
	p, gate, logs := startPipeline(t)

	p.offer(roundN(1))
	e := reply(t, gate, nil)
	if e.sent != 1 || !e.start.Equal(roundN(1).Start) || !e.end.Equal(roundN(1).Start.Add(300*time.Millisecond)) {
		t.Fatalf("first export: %+v, want round 1 stamped with its start and end", e)
	}

	// Round 2's export hangs (a Collector that does not answer). Rounds 3
	// to 6 are offered meanwhile: offer must return at once, and only the
	// newest waiting round is exported next.
	p.offer(roundN(2))
	waitStarted(t, gate, 1)
	waitStarted(t, gate, 2)
	offered := make(chan struct{})
	go func() {
		for n := 3; n <= 6; n++ {
			p.offer(roundN(n))
		}
		close(offered)
	}()
	select {
	case <-offered:
	case <-time.After(10 * time.Second):
		t.Fatal("offer blocked behind a hanging export")
	}
	failure := errors.New("rpc error: code = Unavailable desc = connection refused")
	if e := reply(t, gate, failure); e.sent != 2 {
		t.Fatalf("export after round 1 carried round %d, want 2", e.sent)
	}
	if e := reply(t, gate, failure); e.sent != 6 {
		t.Fatalf("after the hang the export carried round %d, want 6 (the newest)", e.sent)
	}
	for n := 7; n <= 9; n++ {
		p.offer(roundN(n))
		if e := reply(t, gate, failure); e.sent != int64(n) {
			t.Fatalf("export carried round %d, want %d", e.sent, n)
		}
	}
	p.offer(roundN(10))
	if e := reply(t, gate, nil); e.sent != 10 {
		t.Fatalf("export carried round %d, want 10", e.sent)
	}
	if err := p.close(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-gate.calls:
		t.Fatalf("unexpected export of round %d", e.sent)
	default:
	}

	got := logs.Lines()
	if len(got) != 2 ||
		got[0] != "E! otlp: export failed: "+failure.Error()+" (further failures are not logged until an export succeeds)" ||
		!strings.HasPrefix(got[1], "I! otlp: export recovered after ") ||
		!strings.HasSuffix(got[1], ": 5 exports failed, 3 rounds were not exported") {
		t.Errorf("log lines:\n%s\nwant one E! line for the outage and one I! line for the recovery (5 failed, 3 replaced)", strings.Join(got, "\n"))
	}
}

// TestPipelineCloseExportsPendingRound: on shutdown the last finished round
// is still exported.
func TestPipelineCloseExportsPendingRound(t *testing.T) {
	p, gate, _ := startPipeline(t)
	p.offer(roundN(1))
	reply(t, gate, nil)
	p.offer(roundN(2))
	closed := make(chan error)
	go func() { closed <- p.close(5 * time.Second) }()
	if e := reply(t, gate, nil); e.sent != 2 {
		t.Fatalf("exported round %d on close, want 2", e.sent)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-gate.calls:
		t.Fatalf("round %d exported twice", e.sent)
	default:
	}
}

// TestPipelineCloseAbandonsHangingExport: an export that hangs is cancelled
// when the shutdown budget runs out rather than holding up the exit.
func TestPipelineCloseAbandonsHangingExport(t *testing.T) {
	p, gate, _ := startPipeline(t)
	p.offer(roundN(1)) // nobody replies: the export hangs
	closed := make(chan error)
	go func() { closed <- p.close(100 * time.Millisecond) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close waited on a hanging export")
	}
	if e := next(t, gate); e.sent != 1 || !e.ctxDone {
		t.Errorf("export %+v, want round 1 cancelled by the shutdown budget", e)
	}
}
