package otel

import (
	"context"
	"math"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

const attrsLo = "network.peer.address=127.0.0.1,network.transport=icmp,server.address=127.0.0.1"

// Two continuous windows: loopback answers every packet but one in the
// first (and one reply twice), gw.example gets ICMP errors and then fails
// (an engine restart), nosuch.invalid never resolves.
func windowOne() core.Report {
	gw := resultA()
	gw.Transmitted, gw.Received, gw.Duplicates, gw.ICMPErrors = 3, 1, 0, 2
	gw.RTT = &probe.RTT{Min: 2, Avg: 2, Max: 2, Detail: true, Samples: []float64{2}}
	return core.Report{Window: true, Start: epoch, Duration: 10 * time.Second, Processes: 1, Failures: 1, Packets: 13,
		Results: []probe.Result{
			{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.ICMP, Code: probe.OK, TTL: 64,
				Transmitted: 10, Received: 9, Loss: 10, Duplicates: 1,
				RTT: &probe.RTT{Min: 0.1, Avg: 0.5, Max: 0.9, Detail: true,
					Samples: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}}},
			gw,
			{Target: "nosuch.invalid", Protocol: config.ICMP, Code: probe.NoSuchHost, TTL: -1},
		}}
}

func windowTwo() core.Report {
	gw := resultA()
	// Failed with packets counted before the engine died: left out of the
	// counters, as the gauges leave out a probe that did not run.
	gw.Code, gw.Transmitted, gw.Received, gw.RTT = probe.Failed, 4, 4, nil
	return core.Report{Window: true, Start: epoch.Add(10 * time.Second), Duration: 10 * time.Second, Processes: 1, Failures: 2,
		Packets: 14, Restarts: 1,
		Results: []probe.Result{
			{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.ICMP, Code: probe.OK, TTL: 64,
				Transmitted: 10, Received: 10,
				RTT: &probe.RTT{Min: 1, Avg: 1, Max: 1, Detail: true, Samples: []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}},
			gw,
			{Target: "nosuch.invalid", Protocol: config.ICMP, Code: probe.NoSuchHost, TTL: -1},
		}}
}

// counting is a recorder and totals on one meter provider, read as OTLP's
// reader reads them (an exponential histogram).
type counting struct {
	rec    *recorder
	totals *totals
}

func newCountingRecorder(t *testing.T) (counting, *sdkmetric.ManualReader) {
	t.Helper()
	tot := newTotals(Histogram{})
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(&producer{t: tot, exponential: true}))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	rec, err := newRecorder(provider.Meter(scopeName))
	if err != nil {
		t.Fatal(err)
	}
	return counting{rec, tot}, reader
}

// report is what Run does with one report: count it, set its gauges;
// then collect.
func report(t *testing.T, c counting, reader *sdkmetric.ManualReader, rd core.Report) collected {
	t.Helper()
	c.totals.add(&rd)
	c.rec.set(rd)
	return collect(t, reader)
}

func TestCountersSumTheWindowsAndHistogramHoldsEverySample(t *testing.T) {
	rec, reader := newCountingRecorder(t)

	first := report(t, rec, reader, windowOne())
	for name, uk := range wantCountUnitsKinds {
		if first.units[name] != uk[0] || first.kinds[name] != uk[1] {
			t.Errorf("%s: unit %q, %s; want %q, %s", name, first.units[name], first.kinds[name], uk[0], uk[1])
		}
	}
	wantCounts := func(c collected, want map[point]float64) {
		t.Helper()
		got := map[point]float64{}
		for p, v := range c.values {
			if _, ok := wantCountUnitsKinds[p.name]; ok {
				got[p] = v
			}
		}
		assertValues(t, got, want)
	}
	wantCounts(first, map[point]float64{
		{nameCountSent, attrsLo}: 10, {nameCountReceived, attrsLo}: 9, {nameCountDuplicates, attrsLo}: 1, {nameCountICMPErrors, attrsLo}: 0,
		{nameCountSent, attrsA}: 3, {nameCountReceived, attrsA}: 1, {nameCountDuplicates, attrsA}: 0, {nameCountICMPErrors, attrsA}: 2,
		{nameRTTHistogram, attrsLo}: 9, {nameRTTHistogram, attrsA}: 1,
		{nameRoundRestarts, ""}: 0,
	})
	if got := first.values[point{nameRoundPackets, ""}]; got != 13 {
		t.Errorf("%s = %v, want 13", nameRoundPackets, got)
	}

	// Cumulative: the second window adds to the first; the failed target
	// adds nothing.
	second := report(t, rec, reader, windowTwo())
	wantCounts(second, map[point]float64{
		{nameCountSent, attrsLo}: 20, {nameCountReceived, attrsLo}: 19, {nameCountDuplicates, attrsLo}: 1, {nameCountICMPErrors, attrsLo}: 0,
		{nameCountSent, attrsA}: 3, {nameCountReceived, attrsA}: 1, {nameCountDuplicates, attrsA}: 0, {nameCountICMPErrors, attrsA}: 2,
		{nameRTTHistogram, attrsLo}: 19, {nameRTTHistogram, attrsA}: 1,
		{nameRoundRestarts, ""}: 1,
	})
	h := second.hists[point{nameRTTHistogram, attrsLo}]
	if !near(h.Sum, 0.0145) { // (0.1+...+0.9 + 10*1) ms
		t.Errorf("histogram sum %v s, want 0.0145", h.Sum)
	}
	if lo, _ := h.Min.Value(); !near(lo, 0.0001) {
		t.Errorf("histogram min %v s, want 0.0001", lo)
	}
	if hi, _ := h.Max.Value(); !near(hi, 0.001) {
		t.Errorf("histogram max %v s, want 0.001", hi)
	}
	var inBuckets uint64
	for _, n := range h.PositiveBucket.Counts {
		inBuckets += n
	}
	if inBuckets+h.ZeroCount != 19 || len(h.NegativeBucket.Counts) != 0 {
		t.Errorf("buckets hold %d positive and %d zero samples (%d negative buckets), want 19 positive", inBuckets, h.ZeroCount, len(h.NegativeBucket.Counts))
	}
	// The 1 ms samples share one bucket: (base^offset, base^(offset+1)]
	// around 0.001 holds at least the ten of them.
	base := math.Pow(2, math.Pow(2, -float64(h.Scale)))
	idx := int(math.Ceil(math.Log(0.001)/math.Log(base))) - 1 - int(h.PositiveBucket.Offset)
	if idx < 0 || idx >= len(h.PositiveBucket.Counts) || h.PositiveBucket.Counts[idx] < 10 {
		t.Errorf("bucket of 1 ms (index %d, scale %d, offset %d): counts %v, want at least 10", idx, h.Scale, h.PositiveBucket.Offset, h.PositiveBucket.Counts)
	}

	// A report of rounds has no restarts gauge; the counters go on.
	third := report(t, rec, reader, firstRound())
	if _, ok := third.values[point{nameRoundRestarts, ""}]; ok {
		t.Errorf("%s reported for a round", nameRoundRestarts)
	}
	if got := third.values[point{nameCountSent, attrsA}]; got != 8 {
		t.Errorf("%s{gw.example} = %v after a round of 5 more, want 8", nameCountSent, got)
	}
}

// Every instrument name has one type: a counter never shares a name with
// a gauge of one report.
func TestEveryNameOneInstrument(t *testing.T) {
	c, reader := newCountingRecorder(t)
	rd := windowOne()
	c.totals.add(&rd)
	c.rec.set(rd)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if seen[m.Name] {
				t.Errorf("%s exported twice", m.Name)
			}
			seen[m.Name] = true
		}
	}
	for _, name := range []string{nameCountSent, nameCountReceived, nameCountDuplicates, nameCountICMPErrors, nameRTTHistogram, nameRoundRestarts, nameSent} {
		if !seen[name] {
			t.Errorf("%s not exported", name)
		}
	}
}

// A round the pipeline replaces before its export loses its gauges, not its
// packets: the next export's counters hold them. The cumulative points
// start when the first round began and end with the exported round.
func TestPipelineCountsReplacedRounds(t *testing.T) {
	p, gate, _ := startPipeline(t)
	p.offer(roundN(1))
	if e := reply(t, gate, nil); e.sent != 1 || e.total != 1 {
		t.Fatalf("first export: round %d, %s %d; want round 1, 1", e.sent, nameCountSent, e.total)
	}
	p.offer(roundN(2))
	waitStarted(t, gate, 1)
	waitStarted(t, gate, 2) // round 2's export waits for a reply
	p.offer(roundN(3))
	p.offer(roundN(4)) // replaces round 3
	if e := reply(t, gate, errorf("unavailable")); e.sent != 2 || e.total != 3 {
		t.Fatalf("second export: round %d, %s %d; want round 2, 3", e.sent, nameCountSent, e.total)
	}
	e := reply(t, gate, nil)
	if e.sent != 4 || e.total != 1+2+3+4 {
		t.Fatalf("third export: round %d, %s %d; want round 4, 10 (round 3 included)", e.sent, nameCountSent, e.total)
	}
	if e.rtts != 10 || e.rttKind != "metricdata.ExponentialHistogram[float64]" {
		t.Errorf("%s: %s of %d samples, want an exponential histogram of 10", nameRTTHistogram, e.rttKind, e.rtts)
	}
	if !e.totalStart.Equal(roundN(1).Start) || !e.totalEnd.Equal(roundN(4).Start.Add(300*time.Millisecond)) {
		t.Errorf("cumulative point from %v to %v, want from round 1's start %v to round 4's end", e.totalStart, e.totalEnd, roundN(1).Start)
	}
	if err := p.close(time.Second); err != nil {
		t.Fatal(err)
	}
}

type errorf string

func (e errorf) Error() string { return string(e) }
