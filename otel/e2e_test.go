package otel

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"golang.org/x/sys/unix"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// Probe settings of the end-to-end tests: two ICMP packets 100 ms apart to
// loopback, a round a second.
var probeArgs = []string{"--otlp", "--mode", "rounds", "--target", "127.0.0.1", "--poll-interval", "1s", "--count", "2", "--interval", "100ms"}

// TestCollectorEndToEnd: the plugin probes 127.0.0.1 with the real hping3,
// exports to a real Collector found through OTEL_EXPORTER_OTLP_ENDPOINT,
// and the test checks what the Collector passed on.
func TestCollectorEndToEnd(t *testing.T) {
	plugin, collector := prerequisites(t)
	s := testotlp.StartSink(t)
	recv := testotlp.FreePort(t)
	c := startCollector(t, collector, recv, s)

	p := testotlp.Start(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + recv,
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=e2e",
	}, plugin, append(probeArgs, "--percentiles", "50,95")...)
	rs := waitRounds(t, s, 2, 30*time.Second)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}

	host, _ := os.Hostname()
	for i, r := range rs[:2] {
		checkResource(t, r, map[string]string{"service.name": ServiceName, "deployment.environment.name": "e2e",
			"host.name": host, "telemetry.sdk.language": "go"})
		checkLoopbackRound(t, r, true, nil)
		if i > 0 {
			checkSpacing(t, rs[i-1], r)
		}
	}
	checkCumulative(t, rs[:2])
	if e := p.Out.Matching("E! "); len(e) > 0 {
		t.Errorf("plugin logged errors: %v", e)
	}
	// What a user watching the Collector's debug exporter sees.
	debug := c.Out.String()
	for _, want := range []string{"Name: " + nameRTTAvg, "Unit: s", "DataType: Gauge", "server.address: Str(127.0.0.1)", "service.name: Str(hping3-plugin)"} {
		if !strings.Contains(debug, want) {
			t.Errorf("Collector debug output lacks %q", want)
		}
	}
}

// TestCollectorDownAtStart: the plugin starts with no Collector listening.
// Rounds keep their one-second schedule, the outage is logged once, and
// nothing piles up over 30 rounds (see checkNoGrowth); once a Collector
// starts, data flows and the recovery is logged. Stopping the plugin while
// the Collector is away again still exits 0 within the shutdown budget.
func TestCollectorDownAtStart(t *testing.T) {
	plugin, collector := prerequisites(t)
	s := testotlp.StartSink(t)
	recv := testotlp.FreePort(t)
	prom := testotlp.FreePort(t)
	conf := filepath.Join(t.TempDir(), "hping3.conf")
	if err := os.WriteFile(conf, []byte(`mode = "rounds"
[[inputs.hping3]]
targets = ["127.0.0.1"]
count = 2
interval = "100ms"
[inputs.hping3.tags]
site = "lab"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// --otlp-endpoint wins over the environment's (unused) endpoint. The
	// Prometheus endpoint reports the plugin's goroutines to checkNoGrowth.
	p := startWithoutHugePages(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9", growthGOGC}, plugin,
		"--otlp", "--otlp-endpoint", "http://"+recv, "--prometheus-listen", prom,
		"--config", conf, "--poll-interval", "1s", "--debug")

	checkNoGrowth(t, p, prom, "with the Collector down")
	if got := p.Out.Matching("E! otlp: export failed"); len(got) != 1 {
		t.Errorf("%d export-failure lines in 30 rounds, want 1 (once per outage)", len(got))
	}

	c := startCollector(t, collector, recv, s)
	ready := time.Now()
	waitRounds(t, s, 1, 40*time.Second)
	t.Logf("first round arrived %s after the Collector was ready", time.Since(ready).Round(time.Millisecond))
	rs := waitRounds(t, s, 4, 20*time.Second)
	for i, r := range rs {
		checkLoopbackRound(t, r, false, map[string]string{"site": "lab"})
		// The first round through may be one from the outage; from then
		// on every round arrives, each one poll interval after the last.
		if i > 1 {
			checkSpacing(t, rs[i-1], r)
		}
	}
	p.Out.WaitFor(t, "I! otlp: export recovered after ", 1, 10*time.Second)

	// Rounds kept their schedule from start to end.
	rounds := p.Out.Matching(roundLine)
	checkSchedule(t, rounds)

	c.Stop(t, 10*time.Second)
	p.Out.WaitFor(t, roundLine, len(rounds)+1, 10*time.Second) // an export to the gone Collector is in flight
	code, took := p.Stop(t, 10*time.Second)
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	t.Logf("stopped %s after SIGTERM with the Collector gone", took.Round(time.Millisecond))
	for _, l := range p.Out.All() {
		if !strings.HasPrefix(l.Text, "D! ") {
			t.Log(l.Text)
		}
	}
}

// TestSlowCollectorKeepsSchedule: a Collector that takes 3 s to answer each
// export must not slow the 1 s rounds; it gets the newest round each time.
func TestSlowCollectorKeepsSchedule(t *testing.T) {
	plugin, _ := prerequisites(t)
	s := testotlp.StartSlowSink(t, 3*time.Second)
	p := testotlp.Start(t, nil, plugin, append(probeArgs, "--otlp-endpoint", "http://"+s.Addr, "--debug")...)
	rs := waitRounds(t, s, 2, 20*time.Second)
	rounds := p.Out.Matching(roundLine)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	checkSchedule(t, rounds)
	if len(rounds) < 5 {
		t.Errorf("%d rounds while two 3 s exports ran, want at least 5", len(rounds))
	}
	// Each export carried the newest finished round (about 2 s newer; the
	// one due as the export ends is still running), not the next in line.
	if d := rs[1].start.Sub(rs[0].start); d < 1500*time.Millisecond {
		t.Errorf("exported rounds started %s apart; with 3 s exports the newer rounds should have replaced the waiting ones", d)
	}
	for _, r := range rs {
		checkLoopbackRound(t, r, false, nil)
	}
}

// roundLine starts the debug line the plugin writes after each round.
const roundLine = "D! round "

// checkSchedule: rounds follow each other at the 1 s poll interval. A loop
// that waited on exports would show their duration here instead.
func checkSchedule(t *testing.T, rounds []testotlp.Line) {
	t.Helper()
	for i := 1; i < len(rounds); i++ {
		if gap := rounds[i].At.Sub(rounds[i-1].At); gap > 2500*time.Millisecond {
			t.Errorf("%s after %q came %q: rounds fell off their 1 s schedule", gap, rounds[i-1].Text, rounds[i].Text)
		}
	}
}

// growthGOGC is the plugin's GOGC while checkNoGrowth watches it: the
// heap is collected once it has grown by a fifth, instead of doubling
// (GOGC=100). By default garbage accumulates up to about 7 MiB above a
// live heap of 1 MiB (the pacer counts the runtime's 5 MiB of globals),
// and the resident heap takes three collections, about a minute at a
// round a second, to reach that level: a one-time rise longer than the
// test, which it would take for growth. With GOGC=20 a collection comes
// every few seconds and the resident heap follows the live one.
const growthGOGC = "GOGC=20"

// startWithoutHugePages starts the plugin as testotlp.Start does, with
// transparent huge pages off for it (prctl PR_SET_THP_DISABLE, which a
// child inherits and keeps across exec). Where the kernel has them on
// "always" (the default of several distributions), khugepaged, which
// wakes every 10 s, turns every 2 MiB range of the heap, or of the
// runtime's 32 MiB heap index in its bss, that the plugin has touched at
// all into a huge page: a one-time rise of about 10 MiB (measured by
// collapsing the ranges of a running plugin: +10.4 MiB at once), at
// whatever moment khugepaged reaches the process. GODEBUG=disablethp=1
// would spare the heap only, not the bss.
func startWithoutHugePages(t *testing.T, env []string, name string, args ...string) *testotlp.Proc {
	t.Helper()
	was, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	if err != nil {
		t.Fatalf("prctl PR_GET_THP_DISABLE: %v", err)
	}
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl PR_SET_THP_DISABLE: %v", err)
	}
	p := testotlp.Start(t, env, name, args...)
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, uintptr(was), 0, 0, 0); err != nil {
		t.Fatalf("prctl PR_SET_THP_DISABLE: %v", err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid)); err == nil &&
		strings.Contains(string(b), "THP_enabled:\t1") {
		t.Fatal("the plugin runs with transparent huge pages despite PR_SET_THP_DISABLE")
	}
	return p
}

// checkNoGrowth samples the plugin p after every round up to round 30 and
// fails if what it holds grew from rounds 16-20 to rounds 26-30.
// The smallest sample of each window is compared, so that a sample taken
// while an export or a collection was under way does not count as growth.
// Rounds 1-15 are warm-up: the resident heap settles by about round 12
// (started with growthGOGC and startWithoutHugePages), after the first
// scrape of the Prometheus endpoint, which sets up what it keeps (800 KiB
// at once), and the samples of rounds 1-15 are those scrapes.
//
// The bounds, from runs of this test on the real binary with the
// Collector down, healthy and with a leak put in the plugin on purpose
// (10 rounds between the windows):
//   - goroutines: a healthy plugin has the same number in both windows
//     (17, in 7 runs); a goroutine left per round adds 10, an OTLP
//     exporter (a gRPC connection) left per round 41.
//   - open descriptors: the same number (10); a descriptor left open per
//     round (a packet ring's socket, a connection) adds 10.
//   - anonymous memory (heap, stacks, the runtime's own; not the binary's
//     pages, which fault in as new code runs, nor a packet ring, which a
//     socket holds): -24 to +180 KiB healthy; 64 KiB kept per round adds
//     644 KiB, an exporter left per round 300 to 520. The bound, 512 KiB,
//     is about 50 KiB kept per round. Smaller leaks, such as a round's
//     report kept (about 5 KiB), hide in the heap's noise over 10 rounds:
//     the counts above catch those that hold goroutines or descriptors.
func checkNoGrowth(t *testing.T, p *testotlp.Proc, prom, while string) {
	t.Helper()
	const (
		first, to    = 1, 30 // rounds sampled
		from, window = 16, 5 // the windows: rounds from..from+window-1, to-window+1..to
		maxAnonKiB   = 512
		maxGoroutine = 2
		maxFds       = 1
	)
	pid := p.Cmd.Process.Pid
	var samples []usage
	for n := first; n <= to; n++ {
		p.Out.WaitFor(t, roundLine, n, 30*time.Second)
		samples = append(samples, readUsage(t, pid, prom))
	}
	low := func(rounds []usage) usage {
		m := rounds[0]
		for _, u := range rounds[1:] {
			m.anonKiB, m.rssKiB = min(m.anonKiB, u.anonKiB), min(m.rssKiB, u.rssKiB)
			m.fds, m.goroutines = min(m.fds, u.fds), min(m.goroutines, u.goroutines)
		}
		return m
	}
	before := low(samples[from-first : from-first+window])
	after := low(samples[len(samples)-window:])
	t.Logf("plugin %s, least of rounds %d-%d: %s; of rounds %d-%d: %s", while, from, from+window-1, before, to-window+1, to, after)
	grew := false
	if d := after.anonKiB - before.anonKiB; d > maxAnonKiB {
		t.Errorf("anonymous memory grew by %d KiB from rounds %d-%d to rounds %d-%d %s (bound %d KiB)",
			d, from, from+window-1, to-window+1, to, while, maxAnonKiB)
		grew = true
	}
	if d := after.goroutines - before.goroutines; d > maxGoroutine {
		t.Errorf("%d more goroutines in rounds %d-%d than in rounds %d-%d %s: something is left behind every round",
			d, to-window+1, to, from, from+window-1, while)
		grew = true
	}
	if d := after.fds - before.fds; d > maxFds {
		t.Errorf("%d more open descriptors in rounds %d-%d than in rounds %d-%d %s",
			d, to-window+1, to, from, from+window-1, while)
		grew = true
	}
	if grew || testing.Verbose() {
		for i, u := range samples {
			t.Logf("after round %d: %s", first+i, u)
		}
	}
}

// TestExporterEnvironment: the standard variables reach the exporter and
// the resource untouched: endpoint, headers, compression, service name.
func TestExporterEnvironment(t *testing.T) {
	plugin, _ := prerequisites(t)
	s := testotlp.StartSink(t)
	p := testotlp.Start(t, []string{
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://" + s.Addr,
		"OTEL_EXPORTER_OTLP_HEADERS=x-probe-team=netops",
		"OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
		"OTEL_SERVICE_NAME=edge-probe",
		"OTEL_RESOURCE_ATTRIBUTES=service.namespace=lab",
	}, plugin, probeArgs...)
	rs := waitRounds(t, s, 1, 30*time.Second)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	checkResource(t, rs[0], map[string]string{"service.name": "edge-probe", "service.namespace": "lab"})
	checkLoopbackRound(t, rs[0], false, nil)
	req := s.Requests()[0]
	if got := req.MD.Get("x-probe-team"); !slices.Equal(got, []string{"netops"}) {
		t.Errorf("header x-probe-team = %q, want [netops]", got)
	}
	if !s.Compressed() {
		t.Error("payload arrived uncompressed despite OTEL_EXPORTER_OTLP_COMPRESSION=gzip")
	}
}

func checkResource(t *testing.T, r *exportedRound, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if r.resource[k] != v {
			t.Errorf("resource %s = %q, want %q (resource %v)", k, r.resource[k], v, r.resource)
		}
	}
}

// checkSpacing: consecutive rounds start one poll interval apart.
func checkSpacing(t *testing.T, prev, r *exportedRound) {
	t.Helper()
	if d := r.start.Sub(prev.start); d < 500*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("rounds started %s apart, want about the 1 s poll interval", d)
	}
}

// checkLoopbackRound asserts one round of 2 ICMP packets to 127.0.0.1 as
// exported: names, units, gauge type, value ranges, attributes, times.
func checkLoopbackRound(t *testing.T, r *exportedRound, percentiles bool, tags map[string]string) {
	t.Helper()
	// The scope users select by, written out rather than taken from
	// scopeName or the package's path: moving the package must not move it.
	if want := "github.com/hping3-plugin/hping3-plugin/otel"; r.scope != want {
		t.Errorf("scope %q, want %q", r.scope, want)
	}
	if d := r.end.Sub(r.start); d <= 0 || d > 5*time.Second {
		t.Errorf("round from %v to %v: want a positive duration under 5 s", r.start, r.end)
	}
	want := []string{nameSent, nameReceived, nameDuplicates, nameICMPErrors, nameLoss, nameTTL, nameStatus, nameDNS,
		nameRTTMin, nameRTTAvg, nameRTTMax, nameRTTStdDev, nameRTTJitter,
		nameRoundDuration, nameRoundTargets, nameRoundProcesses, nameRoundFailures, nameRoundPackets,
		nameRoundStamped, nameRoundDrops, nameReloadOK, nameReloadTime}
	if percentiles {
		want = append(want, nameRTTPct)
	}
	v := checkGauges(t, r, want, tags)
	exact := map[string]float64{nameSent: 2, nameReceived: 2, nameDuplicates: 0, nameICMPErrors: 0,
		nameLoss: 0, nameTTL: 64, nameStatus: 0, nameDNS: 0, nameReloadOK: 1,
		nameRoundTargets: 1, nameRoundProcesses: 1, nameRoundFailures: 0, nameRoundPackets: 2,
		// As root the plugin captures itself: both packets kernel-stamped.
		nameRoundStamped + " kernel": 2, nameRoundStamped + " hping3-send": 0, nameRoundStamped + " hping3": 0, nameRoundDrops: 0}
	// Two packets 100 ms apart, answered at once: about 0.15 s.
	if d := v[nameRoundDuration]; d < 0.1 || d > 3 {
		t.Errorf("%s = %v s, want 0.1..3", nameRoundDuration, d)
	}
	for name, x := range exact {
		if v[name] != x {
			t.Errorf("%s = %v, want %v", name, v[name], x)
		}
	}
	checkRTTs(t, v, percentiles)
}

// checkGauges asserts the gauges of one round as exported: the names
// (exactly want), units, types, attributes; it returns the values by name
// (a percentile's by name and percentile).
func checkGauges(t *testing.T, r *exportedRound, want []string, tags map[string]string) map[string]float64 {
	t.Helper()
	var got []string
	for name := range r.metrics {
		got = append(got, name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	v := map[string]float64{}
	for name, m := range r.metrics {
		if uk, ok := unitKind(name); !ok || m.Unit != uk[0] {
			t.Errorf("%s: unit %q, want %q", name, m.Unit, uk[0])
		}
		dps := m.GetGauge().DataPoints
		wantPoints := 1
		switch name {
		case nameRTTPct:
			wantPoints = 2
		case nameRoundStamped:
			wantPoints = 3 // one per clock
		}
		if len(dps) != wantPoints {
			t.Errorf("%s: %d points, want %d", name, len(dps), wantPoints)
		}
		for _, dp := range dps {
			attrs := testotlp.AttrMap(dp.Attributes)
			wantAttrs := map[string]string{keyServerAddress: "127.0.0.1", keyPeerAddress: "127.0.0.1", keyTransport: "icmp"}
			for k, tv := range tags {
				wantAttrs[k] = tv
			}
			if strings.HasPrefix(name, "hping3.round.") || strings.HasPrefix(name, "hping3.config.") {
				wantAttrs = map[string]string{} // the plugin's own, per round
			}
			if name == nameRoundStamped {
				c := attrs[attrClock]
				if c != "kernel" && c != "hping3-send" && c != "hping3" {
					t.Errorf("%s: clock %q, want kernel, hping3-send or hping3", name, c)
				}
				v[name+" "+c] = testotlp.Value(dp)
				delete(attrs, attrClock)
			}
			if name == nameRTTPct {
				v[name+attrs[keyPercentile]] = testotlp.Value(dp)
				if p := attrs[keyPercentile]; p != "50" && p != "95" {
					t.Errorf("%s: percentile %q, want 50 or 95", name, p)
				}
				delete(attrs, keyPercentile)
			}
			if !mapsEqual(attrs, wantAttrs) {
				t.Errorf("%s: attributes %v, want %v", name, attrs, wantAttrs)
			}
			uk, _ := unitKind(name)
			integer := strings.HasPrefix(uk[1], "int64")
			if _, isInt := dp.Value.(*metricpb.NumberDataPoint_AsInt); isInt != integer {
				t.Errorf("%s: value %v, want an integer: %v", name, dp.Value, integer)
			}
			v[name] = testotlp.Value(dp)
		}
	}
	return v
}

func unitKind(name string) ([2]string, bool) {
	if uk, ok := wantUnitsKinds[name]; ok {
		return uk, true
	}
	if uk, ok := wantReloadUnitsKinds[name]; ok {
		return uk, true
	}
	uk, ok := wantCountUnitsKinds[name]
	return uk, ok
}

// checkRTTs: the RTT gauges of loopback, in order and in seconds.
func checkRTTs(t *testing.T, v map[string]float64, percentiles bool) {
	t.Helper()
	lo, avg, hi := v[nameRTTMin], v[nameRTTAvg], v[nameRTTMax]
	// Loopback answers in well under 50 ms; 0 would be hping3's false
	// summary. hping3 measures in steps of 0.1 ms, so a value left in
	// milliseconds would read 0.1 or more here.
	if !(lo > 0 && lo <= avg && avg <= hi && hi < 0.05) {
		t.Errorf("rtt min/avg/max = %v/%v/%v s, want 0 < min <= avg <= max < 0.05", lo, avg, hi)
	}
	for _, name := range []string{nameRTTStdDev, nameRTTJitter} {
		if v[name] < 0 || v[name] > hi-lo+1e-9 {
			t.Errorf("%s = %v, want 0..%v (max-min)", name, v[name], hi-lo)
		}
	}
	if percentiles {
		for _, p := range []string{"50", "95"} {
			if x := v[nameRTTPct+p]; x < lo || x > hi {
				t.Errorf("p%s = %v, want %v..%v", p, x, lo, hi)
			}
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestExampleCollectorConfig: with examples/otelcol.yaml (on a free port
// instead of 4317) a real Collector prints the plugin's gauges.
func TestExampleCollectorConfig(t *testing.T) {
	plugin, collector := prerequisites(t)
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "examples", "otelcol.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const listen = "endpoint: localhost:4317"
	if !strings.Contains(string(b), listen) {
		t.Fatalf("examples/otelcol.yaml no longer has %q", listen)
	}
	recv := testotlp.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), listen, "endpoint: "+recv, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testotlp.StartCollector(t, collector, cfg)
	p := testotlp.Start(t, nil, plugin, append(probeArgs, "--otlp-endpoint", "http://"+recv)...)
	c.Out.WaitFor(t, "     -> Name: "+nameStatus, 1, 30*time.Second)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	out := c.Out.String()
	for _, want := range []string{"-> Name: " + nameRTTAvg, "-> Unit: s", "-> DataType: Gauge", "-> server.address: Str(127.0.0.1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("Collector debug output lacks %q", want)
		}
	}
}
