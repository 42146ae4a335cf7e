package otel

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Attribute sets of the path test's target and of its hops, as the default
// encoder writes them (sorted by key).
const (
	attrsW      = "network.peer.address=192.0.2.10,network.transport=tcp,server.address=web.example,server.port=443,site=lab,vantage=paris-1"
	attrsWSt    = "hping3.port.state=open," + attrsW
	attrsWPath  = "hping3.path.id=0123456789abcdef," + attrsW
	attrsWPath2 = "hping3.path.id=00000000000000ff," + attrsW
	attrsWHop1a = "hping3.hop.address=10.0.0.1,hping3.hop.number=1," + attrsW
	attrsWHop1b = "hping3.hop.address=10.0.0.2,hping3.hop.number=1," + attrsW
	attrsWHop2  = "hping3.hop.number=2," + attrsW
	attrsWHop3  = "hping3.hop.address=192.0.2.10,hping3.hop.number=3," + attrsW
)

// pathResult is a TCP probe of web.example whose path has three hops: two
// ECMP routers at hop 1, a silent hop 2, and the target itself at hop 3,
// whose replies carried no per-reply times (min/avg/max only).
func pathResult() probe.Result {
	return probe.Result{
		Target: "web.example", IP: "192.0.2.10", Protocol: config.TCP, Port: 443,
		Tags: map[string]string{"site": "lab", config.VantageTag: "paris-1"},
		Code: probe.OK, Transmitted: 4, Received: 4, TTL: -1, PortState: probe.PortOpen,
		Path: &probe.Path{HopCount: 3, Reached: true, ID: "0123456789abcdef", Hops: []probe.Hop{
			{Hop: 1, IP: "10.0.0.1", Transmitted: 4, Received: 3,
				RTT: &probe.RTT{Min: 0.4, Avg: 0.5, Max: 0.6, Detail: true, StdDev: 0.082, Jitter: 0.2, HasJitter: true}},
			{Hop: 1, IP: "10.0.0.2", Transmitted: 4, Received: 1,
				RTT: &probe.RTT{Min: 0.7, Avg: 0.7, Max: 0.7, Detail: true}},
			{Hop: 2, Transmitted: 4, Loss: 100},
			{Hop: 3, IP: "192.0.2.10", Transmitted: 4, Received: 2, Loss: 50,
				RTT: &probe.RTT{Min: 3.1, Avg: 3.2, Max: 3.3}, PortState: probe.PortOpen},
		}},
	}
}

// wantPath are the points of pathResult: the target's own, its distance
// with the path's id, and each hop's and responder's, in seconds and ratios.
var wantPath = map[point]float64{
	{nameStatus, attrsWSt}:   0,
	{nameDNS, attrsW}:        0,
	{nameSent, attrsW}:       4,
	{nameReceived, attrsW}:   4,
	{nameDuplicates, attrsW}: 0,
	{nameICMPErrors, attrsW}: 0,
	{nameLoss, attrsW}:       0,

	{namePathHops, attrsWPath}: 3,

	{nameHopSent, attrsWHop1a}:      4,
	{nameHopReceived, attrsWHop1a}:  3,
	{nameHopLoss, attrsWHop1a}:      0,
	{nameHopRTTMin, attrsWHop1a}:    0.0004,
	{nameHopRTTAvg, attrsWHop1a}:    0.0005,
	{nameHopRTTMax, attrsWHop1a}:    0.0006,
	{nameHopRTTStdDev, attrsWHop1a}: 0.000082,
	{nameHopRTTJitter, attrsWHop1a}: 0.0002,

	{nameHopSent, attrsWHop1b}:      4,
	{nameHopReceived, attrsWHop1b}:  1,
	{nameHopLoss, attrsWHop1b}:      0,
	{nameHopRTTMin, attrsWHop1b}:    0.0007,
	{nameHopRTTAvg, attrsWHop1b}:    0.0007,
	{nameHopRTTMax, attrsWHop1b}:    0.0007,
	{nameHopRTTStdDev, attrsWHop1b}: 0,

	{nameHopSent, attrsWHop2}:     4,
	{nameHopReceived, attrsWHop2}: 0,
	{nameHopLoss, attrsWHop2}:     1,

	{nameHopSent, attrsWHop3}:     4,
	{nameHopReceived, attrsWHop3}: 2,
	{nameHopLoss, attrsWHop3}:     0.5,
	{nameHopRTTMin, attrsWHop3}:   0.0031,
	{nameHopRTTAvg, attrsWHop3}:   0.0032,
	{nameHopRTTMax, attrsWHop3}:   0.0033,

	{nameRoundDuration, ""}:  2,
	{nameRoundTargets, ""}:   1,
	{nameRoundProcesses, ""}: 1,
	{nameRoundFailures, ""}:  0,
	{nameRoundPackets, ""}:   4,

	{nameRoundStamped, "hping3.clock=kernel"}:      0,
	{nameRoundStamped, "hping3.clock=hping3-send"}: 0,
	{nameRoundStamped, "hping3.clock=hping3"}:      0,
	{nameRoundDrops, ""}:                           0,
}

var wantPathUnitsKinds = map[string][2]string{
	nameHopSent:      {"{packet}", "int64 gauge"},
	nameHopReceived:  {"{packet}", "int64 gauge"},
	nameHopLoss:      {"1", "float64 gauge"},
	nameHopRTTMin:    {"s", "float64 gauge"},
	nameHopRTTAvg:    {"s", "float64 gauge"},
	nameHopRTTMax:    {"s", "float64 gauge"},
	nameHopRTTStdDev: {"s", "float64 gauge"},
	nameHopRTTJitter: {"s", "float64 gauge"},
	namePathHops:     {"{hop}", "int64 gauge"},
}

func newTestRecorder(t *testing.T) (*recorder, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	rec, err := newRecorder(provider.Meter(scopeName))
	if err != nil {
		t.Fatal(err)
	}
	return rec, reader
}

// A round's path: the hop gauges per hop and responder (ECMP: two series at
// hop 1; the silent hop without an address), hping3.path.hops with the
// path's id; a continuous window reports the same. Only the latest report:
// a changed path replaces the old series, and path = false removes them.
func TestPathGauges(t *testing.T) {
	for _, window := range []bool{false, true} {
		rec, reader := newTestRecorder(t)
		rd := core.Report{Window: window, Duration: 2 * time.Second, Processes: 1, Packets: 4, Results: []probe.Result{pathResult()}}
		want := wantPath
		if window {
			want = map[point]float64{{nameRoundRestarts, ""}: 0}
			for p, v := range wantPath {
				want[p] = v
			}
		}
		rec.set(rd)
		got := collect(t, reader)
		assertValues(t, got.values, want)
		for name, uk := range wantPathUnitsKinds {
			if got.units[name] != uk[0] || got.kinds[name] != uk[1] {
				t.Errorf("window %v: %s: unit %q, %s; want %q, %s", window, name, got.units[name], got.kinds[name], uk[0], uk[1])
			}
		}

		// The path changes: hop 2 answers now, and the target is one
		// hop nearer. The old id's series is gone, the new one reports.
		changed := pathResult()
		changed.Path = &probe.Path{HopCount: 2, Reached: true, ID: "00000000000000ff", Hops: []probe.Hop{
			{Hop: 1, Transmitted: 4, Loss: 100},
			{Hop: 2, IP: "192.0.2.10", Transmitted: 4, Received: 4, RTT: &probe.RTT{Min: 2, Avg: 2, Max: 2}},
		}}
		rd.Results = []probe.Result{changed}
		rec.set(rd)
		got = collect(t, reader)
		want2 := map[point]float64{}
		for p, v := range want {
			if p.name != namePathHops && !isHop(p.name) {
				want2[p] = v
			}
		}
		want2[point{namePathHops, attrsWPath2}] = 2
		want2[point{nameHopSent, "hping3.hop.number=1," + attrsW}] = 4
		want2[point{nameHopReceived, "hping3.hop.number=1," + attrsW}] = 0
		want2[point{nameHopLoss, "hping3.hop.number=1," + attrsW}] = 1
		hop2 := "hping3.hop.address=192.0.2.10,hping3.hop.number=2," + attrsW
		want2[point{nameHopSent, hop2}] = 4
		want2[point{nameHopReceived, hop2}] = 4
		want2[point{nameHopLoss, hop2}] = 0
		want2[point{nameHopRTTMin, hop2}] = 0.002
		want2[point{nameHopRTTAvg, hop2}] = 0.002
		want2[point{nameHopRTTMax, hop2}] = 0.002
		assertValues(t, got.values, want2)

		// path = false: no hop gauges, no hping3.path.hops.
		plain := pathResult()
		plain.Path = nil
		rd.Results = []probe.Result{plain}
		rec.set(rd)
		for p := range collect(t, reader).values {
			if p.name == namePathHops || isHop(p.name) {
				t.Errorf("window %v: without a path: %s{%s}", window, p.name, p.attrs)
			}
		}
	}
}

func isHop(name string) bool {
	switch name {
	case nameHopSent, nameHopReceived, nameHopLoss, nameHopRTTMin, nameHopRTTAvg, nameHopRTTMax, nameHopRTTStdDev, nameHopRTTJitter:
		return true
	}
	return false
}

// A probe that did not run reports no path, whatever it carries; and no
// group tag gives a silent hop an address or replaces a hop's number.
func TestPathGaugesFailedProbeAndSpoofedTags(t *testing.T) {
	rec, reader := newTestRecorder(t)
	failed := pathResult()
	failed.Code = probe.Failed
	rec.set(core.Report{Results: []probe.Result{failed}})
	for p := range collect(t, reader).values {
		if p.name == namePathHops || isHop(p.name) {
			t.Errorf("failed probe: %s{%s}", p.name, p.attrs)
		}
	}

	r := probe.Result{Target: "t", IP: "192.0.2.1", Protocol: config.ICMP, Code: probe.OK, Transmitted: 1, TTL: -1,
		Tags: map[string]string{keyHopAddress: "spoofed", keyHopNumber: "spoofed"},
		Path: &probe.Path{HopCount: 1, ID: "0000000000000001", Hops: []probe.Hop{{Hop: 1, Transmitted: 1, Loss: 100}}}}
	rec.set(core.Report{Results: []probe.Result{r}})
	got := collect(t, reader).values
	silent := "hping3.hop.number=1,network.peer.address=192.0.2.1,network.transport=icmp,server.address=t"
	if v, ok := got[point{nameHopLoss, silent}]; !ok || v != 1 {
		t.Errorf("silent hop loss{%s} = %v, %v; want 1; points %v", silent, v, ok, got)
	}
}

// TestPathFlowsGauges: over two flows, each hop's responder says how many
// flows it answered (hping3.hop.flows), the target how many distinct paths
// they took (hping3.path.distinct), and each flow its own distance with its
// path's id (hping3.flow.hops, attribute hping3.flow); with one flow none
// of these is reported.
func TestPathFlowsGauges(t *testing.T) {
	rec, reader := newTestRecorder(t)
	res := pathResult()
	p := *res.Path
	p.Hops = []probe.Hop{{Hop: 1, IP: "10.0.0.1", Transmitted: 2, Received: 2, Flows: 1}, {Hop: 1, IP: "10.0.0.2", Transmitted: 2, Received: 2, Flows: 1},
		{Hop: 2, IP: "192.0.2.10", Transmitted: 4, Received: 4, Flows: 2}}
	p.HopCount, p.ID, p.Distinct = 2, "00000000000000aa", 2
	p.Flows = []probe.FlowPath{{Flow: 0, HopCount: 2, Reached: true, Ended: true, ID: "0000000000000001"}, {Flow: 1, HopCount: 2, Reached: true, Ended: true, ID: "0000000000000002"}}
	res.Path = &p
	rec.set(core.Report{Duration: time.Second, Processes: 1, Packets: 8, Results: []probe.Result{res}})
	got := collect(t, reader)
	want := map[point]float64{
		{nameHopFlows, "hping3.hop.address=10.0.0.1,hping3.hop.number=1," + attrsW}:   1,
		{nameHopFlows, "hping3.hop.address=10.0.0.2,hping3.hop.number=1," + attrsW}:   1,
		{nameHopFlows, "hping3.hop.address=192.0.2.10,hping3.hop.number=2," + attrsW}: 2,
		{namePathDistinct, attrsW}: 2,
		{nameFlowHops, "hping3.flow=0,hping3.path.id=0000000000000001," + attrsW}: 2,
		{nameFlowHops, "hping3.flow=1,hping3.path.id=0000000000000002," + attrsW}: 2,
	}
	for pt, v := range want {
		if g, ok := got.values[pt]; !ok || g != v {
			t.Errorf("%v = %v (reported %v), want %v", pt, g, ok, v)
		}
	}
	for name, unit := range map[string]string{nameHopFlows: "{flow}", namePathDistinct: "{path}", nameFlowHops: "{hop}"} {
		if got.units[name] != unit || got.kinds[name] != "int64 gauge" {
			t.Errorf("%s: unit %q, %s; want %q, int64 gauge", name, got.units[name], got.kinds[name], unit)
		}
	}
	rec.set(core.Report{Duration: time.Second, Processes: 1, Packets: 4, Results: []probe.Result{pathResult()}})
	for pt := range collect(t, reader).values {
		if pt.name == nameHopFlows || pt.name == namePathDistinct || pt.name == nameFlowHops {
			t.Errorf("one flow: %v reported", pt)
		}
	}
}
