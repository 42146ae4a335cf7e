package otel

import (
	"math"
	"strings"
	"testing"
	"time"

	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// TestCollectorContinuous: in the default mode of --otlp (continuous) the
// plugin probes 127.0.0.1 one packet every 100 ms without pause and exports
// a window every second through a real Collector: the window gauges, the
// cumulative counters and the exponential RTT histogram arrive, windows
// follow each other without a gap, and every packet is counted once.
func TestCollectorContinuous(t *testing.T) {
	plugin, collector := prerequisites(t)
	s := testotlp.StartSink(t)
	recv := testotlp.FreePort(t)
	c := startCollector(t, collector, recv, s)

	p := testotlp.Start(t, nil, plugin, "--otlp", "--otlp-endpoint", "http://"+recv, "--target", "127.0.0.1",
		"--poll-interval", "1s", "--interval", "100ms", "--timeout", "500ms")
	rs := waitRounds(t, s, 5, 40*time.Second)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if e := p.Out.Matching("E! "); len(e) > 0 {
		t.Errorf("plugin logged errors: %v", e)
	}
	if w := p.Out.Matching("W! "); len(w) > 0 {
		t.Errorf("plugin logged warnings: %v", w)
	}

	rs = rs[:5]
	for k, r := range rs {
		checkLoopbackWindow(t, k, r)
		// The window's end is its start plus its (monotonic) length, so
		// it may differ from the next start, a wall clock reading, by a
		// few nanoseconds.
		if k > 0 && r.start.Sub(rs[k-1].end).Abs() > time.Microsecond {
			t.Errorf("window %d starts at %v, window %d ended at %v: packets between them are in no window", k, r.start, k-1, rs[k-1].end)
		}
	}
	checkCumulative(t, rs)

	debug := c.Out.String()
	for _, want := range []string{"Name: " + nameCountSent, "DataType: Sum", "IsMonotonic: true", "AggregationTemporality: Cumulative",
		"Name: " + nameRTTHistogram, "DataType: ExponentialHistogram", "Name: " + nameRoundRestarts} {
		if !strings.Contains(debug, want) {
			t.Errorf("Collector debug output lacks %q", want)
		}
	}
}

// checkLoopbackWindow asserts the gauges of window k of 127.0.0.1 at one
// packet every 100 ms, each decided 520 ms after it went (timeout and the
// capture grace): as many packets as 100 ms fit in the window, within one,
// all answered.
func checkLoopbackWindow(t *testing.T, k int, r *exportedRound) {
	t.Helper()
	want := []string{nameSent, nameReceived, nameDuplicates, nameICMPErrors, nameLoss, nameTTL, nameStatus, nameDNS,
		nameRTTMin, nameRTTAvg, nameRTTMax, nameRTTStdDev, nameRTTJitter,
		nameRoundDuration, nameRoundTargets, nameRoundProcesses, nameRoundFailures, nameRoundPackets, nameRoundRestarts,
		nameRoundStamped, nameRoundDrops, nameReloadOK, nameReloadTime}
	v := checkGauges(t, r, want, nil)
	d := v[nameRoundDuration]
	if span := r.end.Sub(r.start).Seconds(); math.Abs(d-span) > 1e-6 {
		t.Errorf("window %d: %s = %v s, but its points span %v s", k, nameRoundDuration, d, span)
	}
	// The first window also holds the engine's start and its first
	// packets' timeouts; the others are one poll interval each.
	if k > 0 {
		if d < 0.5 || d > 1.5 {
			t.Errorf("window %d lasted %v s, want about the 1 s poll interval", k, d)
		}
		expected := d / 0.1
		if n := v[nameSent]; n < math.Floor(expected)-1 || n > math.Ceil(expected)+1 {
			t.Errorf("window %d of %v s: %s = %v, want %v within one", k, d, nameSent, n, expected)
		}
	} else if v[nameSent] < 1 {
		t.Errorf("first window: %s = %v, want at least 1", nameSent, v[nameSent])
	}
	processes := 0.0
	if k == 0 {
		processes = 1 // the engine, started once for the stream
	}
	exact := map[string]float64{nameReceived: v[nameSent], nameRoundPackets: v[nameSent],
		nameDuplicates: 0, nameICMPErrors: 0, nameLoss: 0, nameTTL: 64, nameStatus: 0, nameDNS: 0,
		nameRoundTargets: 1, nameRoundProcesses: processes, nameRoundFailures: 0, nameRoundRestarts: 0,
		nameRoundStamped + " kernel": v[nameSent], nameRoundStamped + " hping3-send": 0, nameRoundStamped + " hping3": 0, nameRoundDrops: 0}
	for name, x := range exact {
		if v[name] != x {
			t.Errorf("window %d: %s = %v, want %v", k, name, v[name], x)
		}
	}
	checkRTTs(t, v, false)
}

// checkCumulative asserts the counters and the histogram of consecutive
// exports rs, the first of them the plugin's first: monotonic cumulative
// sums whose increase from one export to the next is that export's gauge
// (nothing counted twice or dropped), and an exponential histogram in
// seconds that gains one sample per reply, within the window's RTT range.
func checkCumulative(t *testing.T, rs []*exportedRound) {
	t.Helper()
	gauges := map[string]string{nameCountSent: nameSent, nameCountReceived: nameReceived,
		nameCountDuplicates: nameDuplicates, nameCountICMPErrors: nameICMPErrors}
	wantAttrs := map[string]string{keyServerAddress: "127.0.0.1", keyPeerAddress: "127.0.0.1", keyTransport: "icmp"}
	prev := map[string]float64{}
	var prevCount uint64
	var prevSum float64
	for k, r := range rs {
		for name, gauge := range gauges {
			m := r.sums[name]
			if m == nil {
				t.Errorf("round %d: no %s", k, name)
				continue
			}
			sum := m.GetSum()
			if m.Unit != unitPacket || !sum.IsMonotonic || sum.AggregationTemporality != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
				t.Errorf("round %d: %s unit %q, monotonic %v, %v; want {packet}, a monotonic cumulative sum", k, name, m.Unit, sum.IsMonotonic, sum.AggregationTemporality)
			}
			if len(sum.DataPoints) != 1 {
				t.Errorf("round %d: %s has %d points, want 1", k, name, len(sum.DataPoints))
				continue
			}
			dp := sum.DataPoints[0]
			if a := testotlp.AttrMap(dp.Attributes); !mapsEqual(a, wantAttrs) {
				t.Errorf("%s: attributes %v, want %v", name, a, wantAttrs)
			}
			if dp.StartTimeUnixNano != uint64(rs[0].start.UnixNano()) {
				t.Errorf("round %d: %s starts at %d, want the first round's start %d", k, name, dp.StartTimeUnixNano, rs[0].start.UnixNano())
			}
			if g := testotlp.Value(r.metrics[gauge].GetGauge().DataPoints[0]); testotlp.Value(dp)-prev[name] != g {
				t.Errorf("round %d: %s went from %v to %v, want an increase of %v (%s)", k, name, prev[name], testotlp.Value(dp), g, gauge)
			}
			prev[name] = testotlp.Value(dp)
		}

		m := r.hists[nameRTTHistogram]
		if m == nil {
			t.Errorf("round %d: no %s", k, nameRTTHistogram)
			continue
		}
		h := m.GetExponentialHistogram()
		if m.Unit != unitSeconds || h.AggregationTemporality != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE || len(h.DataPoints) != 1 {
			t.Errorf("round %d: %s unit %q, %v, %d points; want s, cumulative, 1 point", k, nameRTTHistogram, m.Unit, h.AggregationTemporality, len(h.DataPoints))
			continue
		}
		dp := h.DataPoints[0]
		received := uint64(testotlp.Value(r.metrics[nameReceived].GetGauge().DataPoints[0]))
		if dp.Count-prevCount != received {
			t.Errorf("round %d: %s count went from %d to %d, want an increase of %d (the replies)", k, nameRTTHistogram, prevCount, dp.Count, received)
		}
		var inBuckets uint64
		for _, n := range dp.GetPositive().GetBucketCounts() {
			inBuckets += n
		}
		if inBuckets+dp.ZeroCount != dp.Count {
			t.Errorf("round %d: %d samples in buckets, count %d", k, inBuckets+dp.ZeroCount, dp.Count)
		}
		lo := testotlp.Value(r.metrics[nameRTTMin].GetGauge().DataPoints[0])
		hi := testotlp.Value(r.metrics[nameRTTMax].GetGauge().DataPoints[0])
		if received > 0 {
			mean := (dp.GetSum() - prevSum) / float64(received)
			if mean < lo-1e-9 || mean > hi+1e-9 {
				t.Errorf("round %d: the histogram's new samples average %v s, want within the window's %v..%v s", k, mean, lo, hi)
			}
		}
		if dp.Max == nil || dp.GetMax() < hi-1e-9 || dp.Min == nil || dp.GetMin() > lo+1e-9 {
			t.Errorf("round %d: histogram min/max %v/%v, want at most %v and at least %v", k, dp.Min, dp.Max, lo, hi)
		}
		prevCount, prevSum = dp.Count, dp.GetSum()
	}
}
