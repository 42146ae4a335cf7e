package otel

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// With --otlp and --prometheus-listen both readers of the one meter
// provider see the same totals: a scrape's packet counter is one of the
// cumulative values OTLP exported, and each gets its histogram (OTLP
// exponential, the scrape classic buckets).
func TestOTLPAndPrometheusShareTotals(t *testing.T) {
	plugin, _ := prerequisites(t)
	s := testotlp.StartSink(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := testotlp.Start(t, []string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://" + s.Addr}, plugin,
		append(slices.Clone(probeArgs), "--prometheus-listen", addr)...)
	waitRounds(t, s, 3, 30*time.Second)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	time.Sleep(1500 * time.Millisecond) // the scraped report's export is done
	rs := exportedRounds(t, s)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}

	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, text)
	}
	value := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) != 1 {
			t.Fatalf("scrape: %s: %v, want one series", name, f)
		}
		m := f.Metric[0]
		labels := map[string]string{}
		for _, lp := range m.Label {
			labels[lp.GetName()] = lp.GetValue()
		}
		if labels["server_address"] != "127.0.0.1" || labels["network_transport"] != "icmp" {
			t.Errorf("%s labels %v", name, labels)
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return float64(m.Histogram.GetSampleCount())
	}
	scraped := value("hping3_packet_sent_total")
	var exported []float64
	for _, r := range rs {
		if m := r.sums[nameCountSent]; m != nil {
			exported = append(exported, testotlp.Value(m.GetSum().DataPoints[0]))
		}
		if m := r.hists[nameRTTHistogram]; m != nil && m.GetExponentialHistogram() == nil {
			t.Errorf("OTLP %s is not exponential", nameRTTHistogram)
		}
	}
	t.Logf("scraped %v packets sent; OTLP exported %v", scraped, exported)
	if scraped < 2 || !slices.Contains(exported, scraped) {
		t.Errorf("scraped hping3_packet_sent_total %v, not one of the exported cumulative values %v", scraped, exported)
	}
	if h := fams["hping3_rtt_duration_seconds"]; h == nil || h.GetType().String() != "HISTOGRAM" || len(h.Metric[0].Histogram.Bucket) != len(rttBounds)+1 {
		t.Errorf("scrape: hping3_rtt_duration_seconds %v, want a histogram with %d classic buckets and +Inf", h, len(rttBounds))
	}
	if got := value("hping3_rtt_duration_seconds"); got < scraped-float64(len(exported)) || got > scraped {
		t.Errorf("scrape: %v RTTs for %v packets on loopback", got, scraped)
	}
}
