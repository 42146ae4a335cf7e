package otel

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// point is one exported value, keyed by instrument and attributes.
type point struct {
	name, attrs string
}

// collected flattens what a reader collected: values by point (a
// histogram's by its count), histogram points, and the unit and kind of
// each instrument.
type collected struct {
	values map[point]float64
	hists  map[point]metricdata.ExponentialHistogramDataPoint[float64]
	units  map[string]string
	kinds  map[string]string
}

func flatten(t *testing.T, rm *metricdata.ResourceMetrics) collected {
	t.Helper()
	c := collected{values: map[point]float64{}, hists: map[point]metricdata.ExponentialHistogramDataPoint[float64]{},
		units: map[string]string{}, kinds: map[string]string{}}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, scopeName)
		}
		for _, m := range sm.Metrics {
			c.units[m.Name] = m.Unit
			add := func(s attribute.Set, v float64) {
				p := point{m.Name, s.Encoded(attribute.DefaultEncoder())}
				if _, dup := c.values[p]; dup {
					t.Errorf("two points for %v", p)
				}
				c.values[p] = v
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				c.kinds[m.Name] = "int64 gauge"
				for _, dp := range d.DataPoints {
					add(dp.Attributes, float64(dp.Value))
				}
			case metricdata.Gauge[float64]:
				c.kinds[m.Name] = "float64 gauge"
				for _, dp := range d.DataPoints {
					add(dp.Attributes, dp.Value)
				}
			case metricdata.Sum[int64]:
				c.kinds[m.Name] = fmt.Sprintf("int64 sum monotonic=%v %v", d.IsMonotonic, d.Temporality)
				for _, dp := range d.DataPoints {
					add(dp.Attributes, float64(dp.Value))
				}
			case metricdata.ExponentialHistogram[float64]:
				c.kinds[m.Name] = fmt.Sprintf("exponential histogram %v", d.Temporality)
				for _, dp := range d.DataPoints {
					add(dp.Attributes, float64(dp.Count))
					c.hists[point{m.Name, dp.Attributes.Encoded(attribute.DefaultEncoder())}] = dp
				}
			default:
				t.Errorf("%s: %T, want a gauge", m.Name, m.Data)
			}
		}
	}
	return c
}

// Attribute sets of the synthetic targets, as the default encoder writes
// them (sorted by key).
const (
	attrsA    = "network.peer.address=127.0.0.2,network.transport=icmp,server.address=gw.example,site=lab"
	attrsA50  = "hping3.percentile=50," + attrsA
	attrsA95  = "hping3.percentile=95," + attrsA
	attrsB    = "network.peer.address=127.0.0.1,network.transport=tcp,server.address=127.0.0.1,server.port=22"
	attrsBSt  = "hping3.port.state=closed," + attrsB
	attrsC    = "network.peer.address=127.0.0.3,network.transport=udp,server.address=127.0.0.3,server.port=53"
	attrsCSt  = "hping3.port.state=none," + attrsC
	attrsD    = "network.transport=icmp,server.address=nosuch.invalid"
	wantUnits = 21 // the gauges of a round; the counters come with count
)

func resultA() probe.Result {
	return probe.Result{
		Target: "gw.example", IP: "127.0.0.2", Protocol: config.ICMP,
		// A tag may not pass itself off as the target.
		Tags: map[string]string{"site": "lab", "server.address": "spoofed"},
		Code: probe.OK, Transmitted: 5, Received: 4, Loss: 20, Duplicates: 1, ICMPErrors: 2,
		RTT: &probe.RTT{Min: 0.5, Avg: 1.25, Max: 2, Detail: true, StdDev: 0.25, Jitter: 0.75, HasJitter: true,
			Percentiles: []probe.Percentile{{P: 50, Value: 1.5}, {P: 95, Value: 2}}},
		TTL: 64, DNS: 3 * time.Millisecond,
	}
}

func firstRound() core.Report {
	return core.Report{Duration: 1500 * time.Millisecond, Processes: 3, Failures: 1, Packets: 9,
		Stamps: probe.Stamps{Kernel: 6, Fallback: 2, Engine: 1}, CaptureDrops: 4, Results: []probe.Result{
			resultA(),
			{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.TCP, Port: 22, Code: probe.OK,
				Transmitted: 3, Received: 3, PortState: probe.PortClosed, TTL: 64,
				RTT: &probe.RTT{Min: 0.1, Avg: 0.2, Max: 0.3, Detail: true, StdDev: 0.1, Jitter: 0.1, HasJitter: true}},
			// UDP: hping3 prints only min/avg/max, and one reply has no jitter.
			{Target: "127.0.0.3", IP: "127.0.0.3", Protocol: config.UDP, Port: 53, Code: probe.OK,
				Transmitted: 1, Received: 1, PortState: probe.PortNone, TTL: -1,
				RTT: &probe.RTT{Min: 4, Avg: 4, Max: 4, HasJitter: true}},
			{Target: "nosuch.invalid", Protocol: config.ICMP, Code: probe.NoSuchHost, TTL: -1, DNS: 10 * time.Millisecond},
		}}
}

// secondRound: gw.example stops answering, 127.0.0.1 cannot be probed, the
// other two left the configuration.
func secondRound() core.Report {
	a := resultA()
	a.Received, a.Loss, a.Duplicates, a.ICMPErrors, a.RTT, a.TTL = 0, 100, 0, 0, nil, -1
	return core.Report{Duration: 6 * time.Second, Processes: 1, Failures: 1, Packets: 5, Results: []probe.Result{
		a,
		{Target: "127.0.0.1", IP: "127.0.0.1", Protocol: config.TCP, Port: 22, Code: probe.Failed, TTL: -1, PortState: probe.PortNone},
	}}
}

var wantFirst = map[point]float64{
	{nameStatus, attrsA}:     0,
	{nameDNS, attrsA}:        0.003,
	{nameSent, attrsA}:       5,
	{nameReceived, attrsA}:   4,
	{nameDuplicates, attrsA}: 1,
	{nameICMPErrors, attrsA}: 2,
	{nameLoss, attrsA}:       0.2,
	{nameTTL, attrsA}:        64,
	{nameRTTMin, attrsA}:     0.0005,
	{nameRTTAvg, attrsA}:     0.00125,
	{nameRTTMax, attrsA}:     0.002,
	{nameRTTStdDev, attrsA}:  0.00025,
	{nameRTTJitter, attrsA}:  0.00075,
	{nameRTTPct, attrsA50}:   0.0015,
	{nameRTTPct, attrsA95}:   0.002,

	{nameStatus, attrsBSt}:   0,
	{nameDNS, attrsB}:        0,
	{nameSent, attrsB}:       3,
	{nameReceived, attrsB}:   3,
	{nameDuplicates, attrsB}: 0,
	{nameICMPErrors, attrsB}: 0,
	{nameLoss, attrsB}:       0,
	{nameTTL, attrsB}:        64,
	{nameRTTMin, attrsB}:     0.0001,
	{nameRTTAvg, attrsB}:     0.0002,
	{nameRTTMax, attrsB}:     0.0003,
	{nameRTTStdDev, attrsB}:  0.0001,
	{nameRTTJitter, attrsB}:  0.0001,

	{nameStatus, attrsCSt}:   0,
	{nameDNS, attrsC}:        0,
	{nameSent, attrsC}:       1,
	{nameReceived, attrsC}:   1,
	{nameDuplicates, attrsC}: 0,
	{nameICMPErrors, attrsC}: 0,
	{nameLoss, attrsC}:       0,
	{nameRTTMin, attrsC}:     0.004,
	{nameRTTAvg, attrsC}:     0.004,
	{nameRTTMax, attrsC}:     0.004,

	{nameStatus, attrsD}: 1,

	{nameRoundDuration, ""}:  1.5,
	{nameRoundTargets, ""}:   4,
	{nameRoundProcesses, ""}: 3,
	{nameRoundFailures, ""}:  1,
	{nameRoundPackets, ""}:   9,

	{nameRoundStamped, "hping3.clock=kernel"}:      6,
	{nameRoundStamped, "hping3.clock=hping3-send"}: 2,
	{nameRoundStamped, "hping3.clock=hping3"}:      1,
	{nameRoundDrops, ""}:                           4,
}

var wantSecond = map[point]float64{
	{nameStatus, attrsA}:     0,
	{nameDNS, attrsA}:        0.003,
	{nameSent, attrsA}:       5,
	{nameReceived, attrsA}:   0,
	{nameDuplicates, attrsA}: 0,
	{nameICMPErrors, attrsA}: 0,
	{nameLoss, attrsA}:       1,
	{nameStatus, attrsB}:     2,
	{nameDNS, attrsB}:        0,

	{nameRoundDuration, ""}:  6,
	{nameRoundTargets, ""}:   2,
	{nameRoundProcesses, ""}: 1,
	{nameRoundFailures, ""}:  1,
	{nameRoundPackets, ""}:   5,

	{nameRoundStamped, "hping3.clock=kernel"}:      0,
	{nameRoundStamped, "hping3.clock=hping3-send"}: 0,
	{nameRoundStamped, "hping3.clock=hping3"}:      0,
	{nameRoundDrops, ""}:                           0,
}

var wantUnitsKinds = map[string][2]string{
	nameSent:       {unitPacket, "int64 gauge"},
	nameReceived:   {unitPacket, "int64 gauge"},
	nameDuplicates: {unitPacket, "int64 gauge"},
	nameICMPErrors: {unitPacket, "int64 gauge"},
	nameLoss:       {"1", "float64 gauge"},
	nameRTTMin:     {"s", "float64 gauge"},
	nameRTTAvg:     {"s", "float64 gauge"},
	nameRTTMax:     {"s", "float64 gauge"},
	nameRTTStdDev:  {"s", "float64 gauge"},
	nameRTTJitter:  {"s", "float64 gauge"},
	nameRTTPct:     {"s", "float64 gauge"},
	nameTTL:        {"{hop}", "int64 gauge"},
	nameDNS:        {"s", "float64 gauge"},
	nameStatus:     {"", "int64 gauge"},

	nameRoundDuration:  {"s", "float64 gauge"},
	nameRoundTargets:   {"{target}", "int64 gauge"},
	nameRoundProcesses: {"{process}", "int64 gauge"},
	nameRoundFailures:  {"{target}", "int64 gauge"},
	nameRoundPackets:   {"{packet}", "int64 gauge"},
	nameRoundStamped:   {"{packet}", "int64 gauge"},
	nameRoundDrops:     {"{packet}", "int64 gauge"},
}

// wantReloadUnitsKinds are the reload gauges of every standalone run.
var wantReloadUnitsKinds = map[string][2]string{
	nameReloadOK:   {"", "int64 gauge"},
	nameReloadTime: {"s", "float64 gauge"},
}

// wantCountUnitsKinds are the instruments count feeds, under the SDK's
// default (cumulative) temporality, and a window's own gauge.
var wantCountUnitsKinds = map[string][2]string{
	nameCountSent:       {"{packet}", "int64 sum monotonic=true CumulativeTemporality"},
	nameCountReceived:   {"{packet}", "int64 sum monotonic=true CumulativeTemporality"},
	nameCountDuplicates: {"{packet}", "int64 sum monotonic=true CumulativeTemporality"},
	nameCountICMPErrors: {"{packet}", "int64 sum monotonic=true CumulativeTemporality"},
	nameRTTHistogram:    {"s", "exponential histogram CumulativeTemporality"},
	nameRoundRestarts:   {"{restart}", "int64 gauge"},
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return flatten(t, &rm)
}

func assertValues(t *testing.T, got, want map[point]float64) {
	t.Helper()
	for _, p := range sortedPoints(want) {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("missing %s{%s}", p.name, p.attrs)
		case !near(g, want[p]):
			t.Errorf("%s{%s} = %v, want %v", p.name, p.attrs, g, want[p])
		}
	}
	for _, p := range sortedPoints(got) {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s{%s} = %v", p.name, p.attrs, got[p])
		}
	}
}

func sortedPoints(m map[point]float64) []point {
	return slices.SortedFunc(maps.Keys(m), func(a, b point) int {
		return cmpString(fmt.Sprint(a), fmt.Sprint(b))
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// near compares after the ms-to-s division, which is not exact in binary.
func near(a, b float64) bool {
	d := a - b
	return d < 1e-12 && d > -1e-12
}

func TestInstrumentsEveryValueUnitAndAttribute(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	rec, err := newRecorder(provider.Meter(scopeName))
	if err != nil {
		t.Fatal(err)
	}

	rec.set(firstRound())
	first := collect(t, reader)
	assertValues(t, first.values, wantFirst)
	if len(first.units) != wantUnits {
		t.Errorf("%d instruments exported, want %d: %v", len(first.units), wantUnits, first.units)
	}
	for name, uk := range wantUnitsKinds {
		if first.units[name] != uk[0] || first.kinds[name] != uk[1] {
			t.Errorf("%s: unit %q, %s; want %q, %s", name, first.units[name], first.kinds[name], uk[0], uk[1])
		}
	}

	// Only the latest round: the silent target's RTT, TTL and percentiles
	// and the removed targets are gone, not repeated from the first round.
	rec.set(secondRound())
	assertValues(t, collect(t, reader).values, wantSecond)

	rec.set(core.Report{})
	if got := collect(t, reader).values; len(got) != 0 {
		t.Errorf("after an empty round: %v, want nothing", got)
	}
}

func TestAttributesTagsAndPorts(t *testing.T) {
	res := probe.Result{Target: "h", Protocol: config.TCP, Port: 0, Tags: map[string]string{"network.transport": "x", "dc": "1"}}
	set := attributes(&res)
	got := set.Encoded(attribute.DefaultEncoder())
	// An unresolved target has no peer address; a TCP probe always has a
	// port, even 0, so its series keeps one identity.
	if want := "dc=1,network.transport=tcp,server.address=h,server.port=0"; got != want {
		t.Errorf("attributes = %q, want %q", got, want)
	}
}
