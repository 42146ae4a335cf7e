package otel

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// scrapeSetup is the endpoint as Run builds it, with the meter provider,
// the recorder and the reload gauges, holding rd.
func scrapeSetup(t *testing.T, h Histogram, rd core.Report) *endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	log := logger.New(&testbin.Buffer{}, false)
	tot := newTotals(h)
	e, err := newEndpoint(Prometheus{Listener: ln}, tot, log)
	if err != nil {
		t.Fatal(err)
	}
	res := newResource(context.Background(), log)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.exporter),
		sdkmetric.WithResource(res), sdkmetric.WithCardinalityLimit(0))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	meter := e.text.learn(provider.Meter(scopeName), res)
	rec, err := newRecorder(meter)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newReloads(meter, nil, rec.vantage, log); err != nil {
		t.Fatal(err)
	}
	tot.add(&rd)
	rec.set(rd)
	return e
}

// varied is a report with what the exposition must write right: ICMP and
// TCP targets, a tag whose value needs quoting, percentiles, a path, a
// failed target (gauges, no totals), RTTs on bucket bounds and past the
// last, and the first target again (a second table of the same tags: one
// series, whose gauges show the last result's values).
func varied() core.Report {
	tags := map[string]string{config.VantageTag: "paris-1", "site": `rack "7"\b` + "\nrow 2"}
	return core.Report{Start: epoch, Duration: 10_000_000_000, Processes: 1, Packets: 9, Vantage: "paris-1",
		Results: []probe.Result{
			{Target: "198.19.0.1", IP: "198.19.0.1", Protocol: config.ICMP, Tags: tags, Code: probe.OK, TTL: 63, Transmitted: 4, Received: 4,
				// 10 us and 1 ms exactly (their le), 1.2 ms, 12 s (+Inf).
				RTT: &probe.RTT{Min: 0.01, Avg: 3000.55, Max: 12000, Detail: true, Samples: []float64{0.01, 1, 1.2, 12000},
					Percentiles: []probe.Percentile{{P: 50, Value: 1}, {P: 95, Value: 12000}}}},
			{Target: "web", IP: "198.19.0.2", Protocol: config.TCP, Port: 443, Tags: tags, Code: probe.OK, TTL: 64, Transmitted: 3, Received: 2, Duplicates: 1, ICMPErrors: 2,
				RTT: &probe.RTT{Min: 0.2, Avg: 0.25, Max: 0.3, Detail: true, Samples: []float64{0.2, 0.3}},
				Path: &probe.Path{HopCount: 2, Ended: true, Reached: true, ID: "p1", Sent: 4,
					Hops: []probe.Hop{{Hop: 1, IP: "198.18.0.2", Transmitted: 2, Received: 2, RTT: &probe.RTT{Min: 0.1, Avg: 0.1, Max: 0.1}},
						{Hop: 2, IP: "198.19.0.2", Transmitted: 2, Received: 1}}}},
			{Target: "gone.example", Protocol: config.ICMP, Tags: tags, Code: probe.Failed, Err: errors.New("no address")},
			{Target: "198.19.0.1", IP: "198.19.0.1", Protocol: config.ICMP, Tags: tags, Code: probe.Failed, DNS: 5_000_000, Err: errors.New("capture closed")},
		}}
}

// The text exposition writes what the OpenTelemetry exporter writes: every
// family with its help and type, every series with its value, both taken
// from one state of the plugin. The Go and process collectors are read at
// two moments, so only their names are compared.
func TestTextExpositionIsTheExporters(t *testing.T) {
	for _, h := range []Histogram{{}, {Buckets: []float64{0.001, 0.0025, 10}}} {
		t.Run(fmt.Sprint(len(h.Buckets)), func(t *testing.T) {
			e := scrapeSetup(t, h, varied())
			var ref bytes.Buffer
			mfs, err := e.registry.Gather()
			if err != nil {
				t.Fatal(err)
			}
			enc := expfmt.NewEncoder(&ref, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					t.Fatal(err)
				}
			}
			var mine bytes.Buffer
			w := newBufWriter(&mine)
			if err := e.text.write(context.Background(), w); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			want, got := parseText(t, ref.String()), parseText(t, mine.String())
			if a, b := slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)); !slices.Equal(a, b) {
				t.Fatalf("families:\n%v\nthe exporter's:\n%v", b, a)
			}
			for name, wf := range want {
				gf := got[name]
				if gf.GetHelp() != wf.GetHelp() || gf.GetType() != wf.GetType() {
					t.Errorf("%s: help %q type %v; the exporter's %q %v", name, gf.GetHelp(), gf.GetType(), wf.GetHelp(), wf.GetType())
				}
				if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
					continue
				}
				if a, b := seriesOf(wf), seriesOf(gf); !maps.Equal(a, b) {
					t.Errorf("%s:\n%v\nthe exporter's:\n%v", name, b, a)
				}
			}
			// Independent of both: what the samples say, each series once.
			text := mine.String()
			seen := map[string]bool{}
			for line := range strings.Lines(text) {
				if strings.HasPrefix(line, "#") {
					continue
				}
				series := line[:strings.LastIndexByte(line, ' ')]
				if seen[series] {
					t.Errorf("series written twice: %s", series)
				}
				seen[series] = true
			}
			for _, line := range []string{
				`hping3_rtt_duration_seconds_bucket{network_peer_address="198.19.0.1",network_transport="icmp",server_address="198.19.0.1",site="rack \"7\"\\b\nrow 2",vantage="paris-1",le="+Inf"} 4`,
				`hping3_rtt_duration_seconds_count{network_peer_address="198.19.0.2",network_transport="tcp",server_address="web",server_port="443",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 2`,
				`hping3_packet_sent_total{network_peer_address="198.19.0.2",network_transport="tcp",server_address="web",server_port="443",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 3`,
				`hping3_packet_received_total{network_peer_address="198.19.0.2",network_transport="tcp",server_address="web",server_port="443",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 2`,
				`hping3_packet_duplicate_total{network_peer_address="198.19.0.2",network_transport="tcp",server_address="web",server_port="443",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 1`,
				`hping3_packet_icmp_error_total{network_peer_address="198.19.0.2",network_transport="tcp",server_address="web",server_port="443",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 2`,
				// The first target's second result: the last observed.
				`hping3_probe_status{network_peer_address="198.19.0.1",network_transport="icmp",server_address="198.19.0.1",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 2`,
				`hping3_dns_duration_seconds{network_peer_address="198.19.0.1",network_transport="icmp",server_address="198.19.0.1",site="rack \"7\"\\b\nrow 2",vantage="paris-1"} 0.005`,
			} {
				if !strings.Contains(text, line+"\n") {
					t.Errorf("no line %s", line)
				}
			}
			icmp := `{network_peer_address="198.19.0.1",network_transport="icmp",server_address="198.19.0.1",site="rack \"7\"\\b\nrow 2",vantage="paris-1",le=`
			wantLE := map[string]int{`"1e-05"`: 1, `"0.001"`: 2, `"0.0015"`: 3, `"7"`: 3, `"10"`: 3}
			if len(h.Buckets) > 0 {
				wantLE = map[string]int{`"0.001"`: 2, `"0.0025"`: 3, `"10"`: 3}
			}
			for le, n := range wantLE {
				if line := "hping3_rtt_duration_seconds_bucket" + icmp + le + "} " + fmt.Sprint(n); !strings.Contains(text, line+"\n") {
					t.Errorf("no line %s", line)
				}
			}
			if strings.Contains(text, "gone.example") && strings.Contains(text, `hping3_packet_sent_total{network_transport="icmp",server_address="gone.example"`) {
				t.Errorf("a failed target has totals")
			}
		})
	}
}

func parseText(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, text)
	}
	return fams
}

// seriesOf is a family's series: the label set to the values, as text.
func seriesOf(mf *dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, m := range mf.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(ls)
		var v string
		switch {
		case m.Gauge != nil:
			v = fmt.Sprint(m.Gauge.GetValue())
		case m.Counter != nil:
			v = fmt.Sprint(m.Counter.GetValue())
		case m.Histogram != nil:
			v = fmt.Sprint(m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum())
			for _, b := range m.Histogram.Bucket {
				v += fmt.Sprintf(" %g:%d", b.GetUpperBound(), b.GetCumulativeCount())
			}
		default:
			v = m.String()
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

// /metrics answers Prometheus' own Accept header with the text format,
// gzipped when asked, and a Prometheus with native histograms with the
// protobuf format, whose histogram has native buckets.
func TestMetricsFormats(t *testing.T) {
	e := scrapeSetup(t, Histogram{}, varied())
	get := func(accept, encoding string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", accept)
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		rr := httptest.NewRecorder()
		e.metrics.ServeHTTP(rr, req)
		return rr
	}
	// Prometheus 3's Accept for its default scrape protocols.
	text := `application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1`
	for _, c := range []struct {
		encoding string
		gzipped  bool
	}{{"gzip", true}, {"", false}, {"gzip;q=0, identity", false}, {"br, *;q=0.5", true}, {"gzip;q=0, *", false}, {"*;q=0, GZIP;q=0.1", true}} {
		rr := get(text, c.encoding)
		if rr.Code != http.StatusOK || !strings.HasPrefix(rr.Header().Get("Content-Type"), "text/plain;") {
			t.Fatalf("Accept-Encoding %q: %d %q", c.encoding, rr.Code, rr.Header().Get("Content-Type"))
		}
		body := io.Reader(rr.Body)
		if gz := rr.Header().Get("Content-Encoding") == "gzip"; gz != c.gzipped {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", c.encoding, rr.Header().Get("Content-Encoding"))
		} else if gz {
			zr, err := gzip.NewReader(rr.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		all, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if fams := parseText(t, string(all)); fams[promRTTHistogram] == nil || fams["hping3_loss_ratio"] == nil {
			t.Errorf("Accept-Encoding %q: no %s or hping3_loss_ratio", c.encoding, promRTTHistogram)
		}
	}

	// Prometheus with scrape_native_histograms.
	rr := get(`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,`+text, "")
	if !strings.Contains(rr.Header().Get("Content-Type"), "application/vnd.google.protobuf") {
		t.Fatalf("protobuf: Content-Type %q", rr.Header().Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(rr.Body, expfmt.Format(rr.Header().Get("Content-Type")))
	natives, series := 0, 0
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if mf.GetName() == promRTTHistogram {
			for _, m := range mf.Metric {
				series++
				if m.Histogram.Schema != nil {
					natives++
				}
			}
		}
	}
	if series != 2 || natives != 2 {
		t.Errorf("protobuf: %d of %d series of %s have native buckets, want 2 of 2", natives, series, promRTTHistogram)
	}
}

// blockedWriter is a scraper that reads nothing until released.
type blockedWriter struct {
	header  http.Header
	release chan struct{}
}

func (b *blockedWriter) Header() http.Header { return b.header }
func (b *blockedWriter) WriteHeader(int)     {}
func (b *blockedWriter) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}

// A scraper that stops reading holds up no other scrape: a scrape holds
// the exposition's lock only while it collects, not while it writes.
func TestSlowScraperHoldsUpNoOther(t *testing.T) {
	e := scrapeSetup(t, Histogram{}, scrapeWindow(300)) // 2.6 MB: it writes while it has lines to write
	slow := &blockedWriter{header: http.Header{}, release: make(chan struct{})}
	stuck := make(chan struct{})
	go func() {
		e.metrics.ServeHTTP(slow, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		close(stuck)
	}()
	defer func() {
		close(slow.release)
		<-stuck
	}()
	done := make(chan int, 1)
	go func() {
		// The slow one had time to collect and block in its write.
		time.Sleep(100 * time.Millisecond)
		rr := httptest.NewRecorder()
		e.metrics.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		done <- rr.Code
	}()
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Errorf("the second scrape: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a scrape waited 10 s behind one whose scraper reads nothing")
	}
}

// A tag name of only underscores is no Prometheus label name: the
// exporter leaves its series out with an error, and so does the text
// exposition, with the others written.
func TestLabelNameOfUnderscoresLeftOut(t *testing.T) {
	ok := func(ip string, tags map[string]string) probe.Result {
		return probe.Result{Target: ip, IP: ip, Protocol: config.ICMP, Tags: tags, Code: probe.OK, TTL: 64, Transmitted: 1, Received: 1,
			RTT: &probe.RTT{Min: 1, Avg: 1, Max: 1, Detail: true, Samples: []float64{1}}}
	}
	e := scrapeSetup(t, Histogram{}, core.Report{Start: epoch, Results: []probe.Result{
		ok("198.19.0.1", nil), ok("198.19.0.2", map[string]string{"_": "x"})}})
	var b bytes.Buffer
	w := newBufWriter(&b)
	err := e.text.write(context.Background(), w)
	w.Flush()
	if err == nil || !strings.Contains(err.Error(), "left out") {
		t.Errorf("error %v, want the series left out said", err)
	}
	mfs, gerr := e.registry.Gather()
	if gerr == nil {
		t.Errorf("the exporter gave no error")
	}
	var ref bytes.Buffer
	enc := expfmt.NewEncoder(&ref, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		enc.Encode(mf)
	}
	for _, text := range []string{b.String(), ref.String()} {
		fams := parseText(t, text)
		for _, name := range []string{"hping3_loss_ratio", "hping3_packet_sent_total", promRTTHistogram} {
			if f := fams[name]; f == nil || len(f.Metric) != 1 || !strings.Contains(fmt.Sprint(f.Metric[0].Label), "198.19.0.1") {
				t.Errorf("%s: %v, want the one series of 198.19.0.1", name, f)
			}
		}
	}
}
