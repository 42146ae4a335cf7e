package testprom

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const exposition = `# HELP demo_total A counter that stays at 3.
# TYPE demo_total counter
demo_total 3
# TYPE demo_ratio gauge
demo_ratio{kind="a b\"c"} 0.25
`

// demo serves the static exposition, to requests with the basic auth
// user:pass when user is not empty (401 to others), and counts the
// requests it served.
func demo(user, pass string, served *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="hping3"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		served.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(exposition))
	})
}

func TestQuery(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	ts := httptest.NewServer(demo("", "", &served))
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")
	start := time.Now()

	p := Start(t, Config{Targets: []string{addr}})
	p.WaitForScrapes(t, 2, 20*time.Second)
	if served.Load() < 2 {
		t.Errorf("the endpoint served %d scrapes, want 2 or more", served.Load())
	}

	v, err := p.Query("demo_total")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"__name__": "demo_total", "job": "hping3", "instance": addr}
	if len(v) != 1 || v[0].Value != 3 || !sameLabels(v[0].Labels, want) {
		t.Errorf("demo_total = %v, want one sample %v 3", v, want)
	}
	v, err = p.Query(`demo_ratio{kind="a b\"c"} * 4`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Value != 1 || v[0].Labels["kind"] != `a b"c` || v[0].Labels["__name__"] != "" {
		t.Errorf("demo_ratio * 4 = %v, want one sample kind=a b\"c 1 without a name", v)
	}
	// A scalar, and values JSON has no numbers for.
	for expr, want := range map[string]float64{"1 + 2": 3, "scalar(demo_total)": 3} {
		v, err := p.Query(expr)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 || v[0].Value != want || len(v[0].Labels) != 0 {
			t.Errorf("%s = %v, want %v", expr, v, want)
		}
	}
	v, err = p.Query("demo_total / 0")
	if err != nil || len(v) != 1 || v[0].Value <= 0 || v[0].Value*0 == 0 {
		t.Errorf("demo_total / 0 = %v, %v, want +Inf", v, err)
	}

	// Before the first scrape there was nothing.
	v, err = p.QueryAt("demo_total", start.Add(-time.Minute))
	if err != nil || len(v) != 0 {
		t.Errorf("demo_total a minute before the start = %v, %v, want nothing", v, err)
	}
	v, err = p.QueryAt("demo_total", time.Now())
	if err != nil || len(v) != 1 || v[0].Value != 3 {
		t.Errorf("demo_total at now = %v, %v, want 3", v, err)
	}

	// The API's errors come back with its message.
	if _, err := p.Query("sum(demo_total"); err == nil || !strings.Contains(err.Error(), "bad_data") || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("a parse error gave %v, want bad_data: parse error", err)
	}
	if _, err := p.Query("demo_total[1m]"); err == nil || !strings.Contains(err.Error(), "matrix") {
		t.Errorf("a range vector gave %v, want an error naming the matrix", err)
	}

	tg := p.Target(t, addr)
	if tg.Health != "up" || tg.LastError != "" || tg.ScrapeURL != ts.URL+"/metrics" || tg.LastScrape.IsZero() || tg.Labels["job"] != "hping3" {
		t.Errorf("target = %+v, want up with no error, scraping %s/metrics", tg, ts.URL)
	}
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	ts := httptest.NewServer(demo("scraper", `pa:ss "word"`, &served))
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")

	t.Run("right", func(t *testing.T) {
		t.Parallel()
		p := Start(t, Config{Targets: []string{addr}, Username: "scraper", Password: `pa:ss "word"`})
		p.WaitForScrapes(t, 1, 20*time.Second)
		v, err := p.Query("demo_total")
		if err != nil || len(v) != 1 || v[0].Value != 3 {
			t.Errorf("demo_total = %v, %v, want 3", v, err)
		}
		if tg := p.Target(t, addr); tg.Health != "up" {
			t.Errorf("target = %+v, want up", tg)
		}
	})
	t.Run("wrong", func(t *testing.T) {
		t.Parallel()
		p := Start(t, Config{Targets: []string{addr}, Username: "scraper", Password: "guess"})
		p.WaitForScrapes(t, 1, 20*time.Second)
		tg := p.Target(t, addr)
		if tg.Health != "down" || !strings.Contains(tg.LastError, "401") {
			t.Errorf("target = %+v, want down with a 401", tg)
		}
		v, err := p.Query("demo_total")
		if err != nil || len(v) != 0 {
			t.Errorf("demo_total = %v, %v, want nothing", v, err)
		}
		v, err = p.Query(`up{job="hping3"}`)
		if err != nil || len(v) != 1 || v[0].Value != 0 {
			t.Errorf("up = %v, %v, want 0", v, err)
		}
	})
}

func TestHTTPS(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	ts := httptest.NewTLSServer(demo("u", "p", &served))
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		cfg  Config
		up   bool
		err  string
	}{
		{"ca", Config{Scheme: "https", CAFile: ca, Username: "u", Password: "p"}, true, ""},
		{"insecure", Config{Scheme: "https", InsecureSkipVerify: true, Username: "u", Password: "p"}, true, ""},
		{"unknown-ca", Config{Scheme: "https", Username: "u", Password: "p"}, false, "certificate"},
		{"plain-http", Config{Username: "u", Password: "p"}, false, "400"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.cfg.Targets = []string{addr}
			p := Start(t, c.cfg)
			p.WaitForScrapes(t, 1, 20*time.Second)
			tg := p.Target(t, addr)
			if c.up {
				v, err := p.Query("demo_total")
				if tg.Health != "up" || err != nil || len(v) != 1 || v[0].Value != 3 {
					t.Errorf("target %+v, demo_total = %v, %v; want up and 3", tg, v, err)
				}
			} else if tg.Health != "down" || !strings.Contains(tg.LastError, c.err) {
				t.Errorf("target = %+v, want down with %q", tg, c.err)
			}
		})
	}
}

func TestConfigRefusesScheme(t *testing.T) {
	if _, err := configFile(Config{Scheme: "ftp"}); err == nil {
		t.Error("scheme ftp accepted")
	}
}

func TestWaitForScrapesCountsEveryTarget(t *testing.T) {
	v := Vector{
		{Labels: map[string]string{"instance": "a:1"}, Value: 3},
		{Labels: map[string]string{"instance": "b:1"}, Value: 1},
	}
	for _, c := range []struct {
		targets []string
		n       int
		want    bool
	}{
		{[]string{"a:1"}, 3, true},
		{[]string{"a:1", "b:1"}, 2, false},
		{[]string{"a:1", "b:1"}, 1, true},
		{[]string{"a:1", "c:1"}, 1, false},
		{nil, 5, true},
	} {
		if got := scrapedEnough(v, c.targets, c.n); got != c.want {
			t.Errorf("scrapedEnough(%v, %d) = %v, want %v", c.targets, c.n, got, c.want)
		}
	}
}
