package otel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// window is a continuous source's window so far, as Peek and Next give it.
type window struct{ rtts []float64 } // ms, all answered

func (w window) result(code probe.Code) probe.Result {
	r := probe.Result{Target: "198.19.0.1", IP: "198.19.0.1", Protocol: config.ICMP, Code: code,
		Transmitted: len(w.rtts), Received: len(w.rtts)}
	if code != probe.OK {
		r.Err = errors.New("the engine was started again")
		return r
	}
	if len(w.rtts) > 0 {
		r.RTT = &probe.RTT{Detail: true, Samples: w.rtts}
	}
	return r
}

// A scrape between reports shows the packets decided so far on top of the
// totals, in the text and the protobuf formats alike (classic and native
// buckets of the same samples); the report then counts them once; a
// window that fails after a scrape showed part of it keeps that part, so
// that no counter goes down.
func TestScrapeShowsTheWindowSoFar(t *testing.T) {
	e := scrapeSetup(t, Histogram{}, core.Report{Start: epoch, Results: []probe.Result{window{[]float64{1, 1}}.result(probe.OK)}})
	tot := e.text.totals
	var now window
	code := probe.OK
	tot.peek = func() core.Report { return core.Report{Results: []probe.Result{now.result(code)}} }
	next := func(context.Context) core.Report {
		rd := core.Report{Start: epoch, Results: []probe.Result{now.result(code)}}
		now = window{}
		return rd
	}
	text := func() (sent, count, le2ms float64) {
		t.Helper()
		var b strings.Builder
		w := newBufWriter(&b)
		if err := e.text.write(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		fams := parseText(t, b.String())
		h := fams[promRTTHistogram].Metric[0].Histogram
		for _, bk := range h.Bucket {
			if bk.GetUpperBound() == 0.002 {
				le2ms = float64(bk.GetCumulativeCount())
			}
		}
		return fams["hping3_packet_sent_total"].Metric[0].Counter.GetValue(), float64(h.GetSampleCount()), le2ms
	}
	proto := func() (count uint64, native uint64) {
		t.Helper()
		mfs, err := e.registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == promRTTHistogram {
				h := mf.Metric[0].Histogram
				var n int64
				for _, d := range h.PositiveDelta {
					n += d
					native += uint64(n)
				}
				return h.GetSampleCount(), native + h.GetZeroCount()
			}
		}
		t.Fatal("no histogram")
		return 0, 0
	}
	check := func(when string, wantSent, wantCount, wantLE2 float64) {
		t.Helper()
		sent, count, le2 := text()
		pc, pn := proto()
		if sent != wantSent || count != wantCount || le2 != wantLE2 || float64(pc) != wantCount || float64(pn) != wantCount {
			t.Errorf("%s: text: %v sent, %v RTTs, %v at le=0.002; protobuf: %d RTTs, %d in native buckets; want %v sent, %v RTTs, %v at le=0.002",
				when, sent, count, le2, pc, pn, wantSent, wantCount, wantLE2)
		}
	}
	check("first report", 2, 2, 2)
	now = window{[]float64{1.5, 3}}
	check("two packets into the window", 4, 4, 3)
	now = window{[]float64{1.5, 3, 0.5}}
	check("three", 5, 5, 4)
	tot.take(context.Background(), next)
	check("the report of those three", 5, 5, 4)
	now = window{[]float64{4}}
	check("one into the next window", 6, 6, 4)
	// The engine fails: the window's result is not OK from now on.
	code = probe.Failed
	check("the window failing", 6, 6, 4)
	tot.take(context.Background(), next)
	check("its report, failed", 6, 6, 4)
	code = probe.OK
	now = window{[]float64{1}}
	check("the window after", 7, 7, 5)
}

// Two targets of one series (the same host in two tables that differ only
// in settings): a scrape shows both windows; when one then fails, the
// counter does not go down below what was shown.
func TestShownNeverTakenBack(t *testing.T) {
	tot := newTotals(Histogram{})
	tot.add(&core.Report{Start: epoch, Results: []probe.Result{window{[]float64{1}}.result(probe.OK)}})
	t1, t2 := window{[]float64{1, 1, 1, 1}}, window{[]float64{2, 2, 2}}
	tot.peek = func() core.Report {
		return core.Report{Results: []probe.Result{t1.result(probe.OK), t2.result(probe.OK)}}
	}
	sent := func() int64 {
		tot.gather.RLock()
		defer tot.gather.RUnlock()
		v := tot.view(false)
		if len(v) != 1 {
			t.Fatalf("%d series, want 1", len(v))
		}
		return v[0].sent
	}
	if got := sent(); got != 8 {
		t.Fatalf("scrape: %d sent, want 1 + 4 + 3", got)
	}
	tot.peek = nil
	t2 = window{[]float64{2, 2, 2, 2, 2}}
	tot.take(context.Background(), func(context.Context) core.Report {
		return core.Report{Start: epoch, Results: []probe.Result{t1.result(probe.Failed), t2.result(probe.OK)}}
	})
	// Not below the 8 shown; not above 1 + the first's 4 shown + the
	// second's 5.
	if got := sent(); got < 8 || got > 10 {
		t.Errorf("after the report in which the first failed: %d sent, want 8 to 10", got)
	}
}

// Scrapes in both formats from several scrapers at once, while a real
// continuous source (hping3 on loopback) reports every 300 ms: no counter
// goes down for any scraper, and within each text scrape the histogram
// counts one RTT per packet received (one view). Run under -race, this is
// where the scrape's locks meet the reports'.
func TestConcurrentScrapesAndReports(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	s := config.DefaultSettings()
	s.Interval, s.Timeout = 20*time.Millisecond, 200*time.Millisecond
	cfg := &config.Config{MaxPacketRate: 1000, Engine: config.EngineTcl, Mode: config.ModeContinuous,
		Groups: []config.Group{{Targets: []string{"127.0.0.1"}, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src := core.NewSource(cfg, logger.Discard())
	defer src.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/metrics"
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, src, Options{Prometheus: &Prometheus{Listener: ln}, PollInterval: 300 * time.Millisecond, Log: logger.Discard()})
	}()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	value := func(body, prefix string) (float64, bool) {
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, prefix) {
				v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' '):]), 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	end := time.Now().Add(3 * time.Second)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proto := i == 3
			last, scrapes := 0.0, 0
			for time.Now().Before(end) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if proto {
					req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				time.Sleep(5 * time.Millisecond)
				if proto {
					continue // (it races the others; its values are TestScrapeShowsTheWindowSoFar's)
				}
				sent, ok := value(string(body), "hping3_packet_sent_total{")
				if !ok {
					continue // no report yet
				}
				received, _ := value(string(body), "hping3_packet_received_total{")
				count, _ := value(string(body), "hping3_rtt_duration_seconds_count{")
				scrapes++
				if sent < last {
					errs <- fmt.Sprintf("scraper %d: %v sent after %v", i, sent, last)
				}
				if count != received {
					errs <- fmt.Sprintf("scraper %d: %v RTTs for %v received in one scrape", i, count, received)
				}
				last = sent
			}
			if !proto && (scrapes < 10 || last < 50) {
				errs <- fmt.Sprintf("scraper %d: %d scrapes, last %v sent; want at least 10 and 50", i, scrapes, last)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
