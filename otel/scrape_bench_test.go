package otel

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// The cost of one Prometheus scrape of a large configuration: the meter
// provider with the Prometheus reader, the recorder (gauges), the totals
// (counters and classic-bucket histogram) and the reload gauges, built as
// Run builds them, holding one continuous window of n ICMP targets. Each
// iteration is one GET /metrics:
//   - plain, gzip: through the handler endpoint.serve mounts on /metrics
//     (promhttp.HandlerFor on the endpoint's registry, same options), into
//     a ResponseWriter that only counts the bytes;
//   - http-plain, http-gzip: through endpoint.serve itself on a loopback
//     listener (exporter-toolkit, net/http), read by a client in the same
//     process, so its CPU counts too.
//
// Reported beside ns/op: bytes/scrape (the body as sent: gzipped when
// asked), cpu-ms/scrape (the whole process' user + system time over the
// loop, from getrusage: the exporter's goroutines and the GC included) and
// series/scrape (sample lines of one uncompressed scrape).
//
//	go test -run '^$' -bench Scrape -benchmem -count 3 ./otel/
func BenchmarkScrape10000(b *testing.B) { benchScrape(b, 10000) }
func BenchmarkScrape1000(b *testing.B)  { benchScrape(b, 1000) }
func BenchmarkScrape300(b *testing.B)   { benchScrape(b, 300) }

func benchScrape(b *testing.B, n int) {
	log := logger.Discard()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tot := newTotals(Histogram{})
	web, err := newEndpoint(Prometheus{Listener: ln}, tot, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	res := newResource(ctx, log)
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(web.exporter),
		sdkmetric.WithResource(res),
		sdkmetric.WithCardinalityLimit(0))
	defer provider.Shutdown(ctx)
	meter := web.text.learn(provider.Meter(scopeName), res)
	rec, err := newRecorder(meter)
	if err != nil {
		b.Fatal(err)
	}
	rl, err := newReloads(meter, nil, rec.vantage, log)
	if err != nil {
		b.Fatal(err)
	}
	rd := scrapeWindow(n)
	tot.add(&rd)
	rec.set(rd)

	var ready atomic.Bool
	ready.Store(true)
	go web.serve(&ready, rl)
	defer web.close(time.Second)
	url := "http://" + ln.Addr().String() + "/metrics"

	// The handler endpoint.serve mounts on /metrics.
	handler := web.metrics

	// One uncompressed scrape, checked and counted once.
	var body strings.Builder
	if code := scrapeHandler(handler, false, &body); code != http.StatusOK {
		b.Fatalf("GET /metrics: %d", code)
	}
	series := 0
	for line := range strings.Lines(body.String()) {
		if !strings.HasPrefix(line, "#") && strings.TrimSpace(line) != "" {
			series++
		}
	}
	if want := `hping3_rtt_duration_seconds_count{network_peer_address="198.19.0.1",network_transport="icmp",server_address="198.19.0.1",vantage="paris-1"} 10`; !strings.Contains(body.String(), want) {
		b.Fatalf("scrape lacks %s", want)
	}

	for _, c := range []struct {
		name string
		gzip bool
		http bool
	}{{"plain", false, false}, {"gzip", true, false}, {"http-plain", false, true}, {"http-gzip", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			var bytes, scrapes int64
			b.ReportAllocs()
			b.ResetTimer()
			before := cpuTime(b)
			for b.Loop() {
				scrapes++
				if c.http {
					bytes += scrapeHTTP(b, client, url, c.gzip)
				} else {
					w := &countingWriter{header: http.Header{}}
					if code := scrapeHandler(handler, c.gzip, w); code != http.StatusOK {
						b.Fatalf("GET /metrics: %d", code)
					}
					bytes += w.n
				}
			}
			cpu := cpuTime(b) - before
			b.StopTimer()
			b.ReportMetric(float64(bytes)/float64(scrapes), "bytes/scrape")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(scrapes), "cpu-ms/scrape")
			b.ReportMetric(float64(series), "series/scrape")
		})
	}
}

// scrapeWindow is a continuous window of n ICMP targets (198.19.x.y),
// each with 10 packets answered and RTT samples spread log-uniformly from
// 0.05 to 50 ms, so that most of the histogram's buckets are not empty;
// no percentiles.
func scrapeWindow(n int) core.Report {
	rnd := rand.New(rand.NewPCG(1, 2))
	rd := core.Report{Window: true, Start: time.Now().Add(-10 * time.Second), Duration: 10 * time.Second,
		Processes: 1, Packets: 10 * n, Stamps: probe.Stamps{Kernel: 10 * n}, Vantage: "paris-1"}
	tags := map[string]string{config.VantageTag: "paris-1"}
	for i := range n {
		ip := fmt.Sprintf("198.19.%d.%d", (i+1)/256, (i+1)%256)
		samples := make([]float64, 10)
		for j := range samples {
			samples[j] = 0.05 * math.Pow(1000, rnd.Float64()) // ms
		}
		rd.Results = append(rd.Results, probe.Result{Target: ip, IP: ip, Protocol: config.ICMP, Tags: tags,
			Code: probe.OK, TTL: 63, Transmitted: 10, Received: 10, RTT: rttOf(samples)})
	}
	return rd
}

func rttOf(s []float64) *probe.RTT {
	r := &probe.RTT{Min: s[0], Max: s[0], Detail: true, HasJitter: len(s) > 1, Samples: s}
	var sum, jit float64
	for i, v := range s {
		r.Min, r.Max = min(r.Min, v), max(r.Max, v)
		sum += v
		if i > 0 {
			jit += math.Abs(v - s[i-1])
		}
	}
	r.Avg = sum / float64(len(s))
	var sq float64
	for _, v := range s {
		sq += (v - r.Avg) * (v - r.Avg)
	}
	r.StdDev = math.Sqrt(sq / float64(len(s)))
	r.Jitter = jit / float64(len(s)-1)
	return r
}

// scrapeHandler serves one GET /metrics into w and returns its status.
func scrapeHandler(h http.Handler, gzip bool, w io.Writer) int {
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	cw, ok := w.(*countingWriter)
	if !ok {
		cw = &countingWriter{header: http.Header{}, w: w}
	}
	h.ServeHTTP(cw, req)
	return cw.status()
}

// scrapeHTTP does one GET over the connection and returns the body's
// length as received.
func scrapeHTTP(b *testing.B, c *http.Client, url string, gzip bool) int64 {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	if gzip != (resp.Header.Get("Content-Encoding") == "gzip") {
		b.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	return n
}

// countingWriter is a ResponseWriter that counts the body (and copies it
// to w, when set).
type countingWriter struct {
	header http.Header
	code   int
	n      int64
	w      io.Writer
}

func (c *countingWriter) Header() http.Header { return c.header }
func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
func (c *countingWriter) Write(p []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	c.n += int64(len(p))
	if c.w != nil {
		return c.w.Write(p)
	}
	return len(p), nil
}
func (c *countingWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// cpuTime is the process' user + system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
