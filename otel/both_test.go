package otel

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
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

	// Three scrapes, a report apart: a report the OTLP export skipped
	// (a newer one replaced it while an export ran) is in the scrape only,
	// so one scrape alone may see a value OTLP never sent.
	var scrapes []map[string]*dto.MetricFamily
	for range 3 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		parser := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(string(text)))
		if err != nil {
			t.Fatalf("scrape: %v\n%s", err, text)
		}
		scrapes = append(scrapes, fams)
		time.Sleep(time.Second)
	}
	time.Sleep(1500 * time.Millisecond) // the scraped reports' exports are done
	rs := exportedRounds(t, s)
	if code, _ := p.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	fams := scrapes[0]
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
	var exported []float64
	for _, r := range rs {
		if m := r.sums[nameCountSent]; m != nil {
			exported = append(exported, testotlp.Value(m.GetSum().DataPoints[0]))
		}
		if m := r.hists[nameRTTHistogram]; m != nil && m.GetExponentialHistogram() == nil {
			t.Errorf("OTLP %s is not exponential", nameRTTHistogram)
		}
	}
	var scraped []float64
	matched := 0
	for _, fams = range scrapes {
		v := value("hping3_packet_sent_total")
		scraped = append(scraped, v)
		if slices.Contains(exported, v) {
			matched++
		}
	}
	t.Logf("scraped %v packets sent; OTLP exported %v", scraped, exported)
	if matched < 2 || scraped[0] < 2 {
		t.Errorf("scraped hping3_packet_sent_total %v: want at least two of them among the exported cumulative values %v", scraped, exported)
	}
	if h := fams["hping3_rtt_duration_seconds"]; h == nil || h.GetType().String() != "HISTOGRAM" || len(h.Metric[0].Histogram.Bucket) != len(DefaultBuckets)+1 {
		t.Errorf("scrape: hping3_rtt_duration_seconds %v, want a histogram with %d classic buckets and +Inf", h, len(DefaultBuckets))
	}
	if got, sent := value("hping3_rtt_duration_seconds"), value("hping3_packet_sent_total"); got != sent {
		t.Errorf("scrape: %v RTTs for %v packets on loopback, which answers every one", got, sent)
	}
}
