package otel

import (
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// TestCollectorPath: with --path the hop gauges reach a real Collector in
// both modes: the path to 127.0.0.1 is one hop, the target itself,
// answering every packet, and the target's distance gauge carries the
// path's id.
func TestCollectorPath(t *testing.T) {
	for _, mode := range []string{"continuous", "rounds"} {
		t.Run(mode, func(t *testing.T) {
			plugin, collector := prerequisites(t)
			s := testotlp.StartSink(t)
			recv := testotlp.FreePort(t)
			c := startCollector(t, collector, recv, s)
			p := testotlp.Start(t, nil, plugin, "--otlp", "--mode", mode, "--otlp-endpoint", "http://"+recv, "--target", "127.0.0.1",
				"--poll-interval", "1s", "--count", "2", "--interval", "100ms", "--timeout", "500ms", "--path", "--max-hops", "4")
			rs := waitRounds(t, s, 3, 40*time.Second)
			if code, _ := p.Stop(t, 10*time.Second); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
			if e := p.Out.Matching("E! "); len(e) > 0 {
				t.Errorf("plugin logged errors: %v", e)
			}
			ids := map[string]bool{}
			for k, r := range rs[1:3] { // the first window holds the first sweep's extra TTLs
				hops := r.metrics[namePathHops]
				if hops == nil || len(hops.GetGauge().DataPoints) != 1 {
					t.Fatalf("report %d: %s: %v", k+1, namePathHops, hops)
				}
				dp := hops.GetGauge().DataPoints[0]
				if dp.GetAsInt() != 1 || testotlp.AttrMap(dp.Attributes)[keyServerAddress] != "127.0.0.1" {
					t.Errorf("report %d: %s = %v with %v, want 1 for 127.0.0.1", k+1, namePathHops, dp.GetAsInt(), testotlp.AttrMap(dp.Attributes))
				}
				ids[testotlp.AttrMap(dp.Attributes)[keyPathID]] = true
				for _, name := range []string{nameHopSent, nameHopReceived, nameHopLoss, nameHopRTTMin, nameHopRTTAvg, nameHopRTTMax} {
					m := r.metrics[name]
					if m == nil || len(m.GetGauge().DataPoints) != 1 {
						t.Errorf("report %d: %s: %v, want one point", k+1, name, m)
						continue
					}
					a := testotlp.AttrMap(m.GetGauge().DataPoints[0].Attributes)
					if a[keyHopNumber] != "1" || a[keyHopAddress] != "127.0.0.1" {
						t.Errorf("report %d: %s attributes %v, want hop 1 answered by 127.0.0.1", k+1, name, a)
					}
				}
				sent := r.metrics[nameHopSent].GetGauge().DataPoints[0].GetAsInt()
				recvd := r.metrics[nameHopReceived].GetGauge().DataPoints[0].GetAsInt()
				if sent < 1 || recvd != sent || r.metrics[nameHopLoss].GetGauge().DataPoints[0].GetAsDouble() != 0 {
					t.Errorf("report %d: hop 1 sent %d, answered %d: want every packet answered", k+1, sent, recvd)
				}
			}
			if len(ids) != 1 || ids[""] {
				t.Errorf("path ids %v, want one", ids)
			}
			if debug := c.Out.String(); !strings.Contains(debug, "Name: "+nameHopRTTAvg) || !strings.Contains(debug, keyHopAddress+": Str(127.0.0.1)") {
				t.Errorf("the Collector's debug output lacks the hop gauges")
			}
		})
	}
}
