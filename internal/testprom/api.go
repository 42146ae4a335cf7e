package testprom

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// Sample is one series of an instant query's result: its labels (__name__
// among them when the expression keeps it) and its value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Vector is an instant query's result, in the order Prometheus returned it.
type Vector []Sample

// String shows the samples one a line, for a test's message.
func (v Vector) String() string {
	var b strings.Builder
	for _, s := range v {
		fmt.Fprintf(&b, "%v %v\n", s.Labels, s.Value)
	}
	return b.String()
}

// Query evaluates expr now, through /api/v1/query. A scalar result is a
// Vector of one sample without labels; a range vector or a string is an
// error. An error of the API (a parse error, an execution error) is
// returned with Prometheus's message.
func (s *Server) Query(expr string) (Vector, error) {
	return s.query(url.Values{"query": {expr}})
}

// QueryRecorded is Query for an expression that may read recording rules
// ("hping3:..." series), which exist only once Prometheus has evaluated
// them after a scrape: it asks again, up to within, until expr finds
// series. Any other expression is asked once.
func (s *Server) QueryRecorded(expr string, within time.Duration) (Vector, error) {
	deadline := time.Now().Add(within)
	for {
		v, err := s.Query(expr)
		if err != nil || len(v) > 0 || !strings.Contains(expr, "hping3:") || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ExampleRules is the path of examples/prometheus/rules.yml.
func ExampleRules() string {
	return filepath.Join(testbin.RepoRoot(), "examples", "prometheus", "rules.yml")
}

// QueryAt evaluates expr at time at.
func (s *Server) QueryAt(expr string, at time.Time) (Vector, error) {
	return s.query(url.Values{
		"query": {expr},
		"time":  {strconv.FormatFloat(float64(at.UnixMilli())/1e3, 'f', 3, 64)},
	})
}

func (s *Server) query(form url.Values) (Vector, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.api(http.MethodPost, "/api/v1/query", form, &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", form.Get("query"), err)
	}
	switch data.ResultType {
	case "vector":
		var res []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &res); err != nil {
			return nil, fmt.Errorf("query %q: %w", form.Get("query"), err)
		}
		v := make(Vector, 0, len(res))
		for _, r := range res {
			f, err := sampleValue(r.Value)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", form.Get("query"), err)
			}
			if r.Metric == nil {
				r.Metric = map[string]string{}
			}
			v = append(v, Sample{Labels: r.Metric, Value: f})
		}
		return v, nil
	case "scalar":
		var res []any
		if err := json.Unmarshal(data.Result, &res); err != nil {
			return nil, fmt.Errorf("query %q: %w", form.Get("query"), err)
		}
		f, err := sampleValue(res)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", form.Get("query"), err)
		}
		return Vector{{Labels: map[string]string{}, Value: f}}, nil
	default:
		return nil, fmt.Errorf("query %q: result is a %s, not an instant vector", form.Get("query"), data.ResultType)
	}
}

// sampleValue reads the API's [time, "value"] pair; the value is a string
// so that NaN and ±Inf fit in JSON.
func sampleValue(pair []any) (float64, error) {
	if len(pair) != 2 {
		return 0, fmt.Errorf("sample %v is not [time, value]", pair)
	}
	str, ok := pair[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", pair[1])
	}
	return strconv.ParseFloat(str, 64)
}

// api calls a Prometheus API endpoint and decodes its data into data. The
// API answers errors with an error type and a message, which the error
// returned carries.
func (s *Server) api(method, path string, form url.Values, data any) error {
	var (
		resp *http.Response
		err  error
	)
	if method == http.MethodPost {
		resp, err = s.client.PostForm(s.URL+path, form)
	} else {
		u := s.URL + path
		if len(form) > 0 {
			u += "?" + form.Encode()
		}
		resp, err = s.client.Get(u)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: %s: %.500s", path, resp.Status, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s (%s): %s", r.ErrorType, resp.Status, r.Error)
	}
	return json.Unmarshal(r.Data, data)
}

// Target is how Prometheus last scraped one target, from /api/v1/targets.
type Target struct {
	// Instance is the target's instance label: its host:port.
	Instance string
	// ScrapeURL is the URL scraped.
	ScrapeURL string
	// Health is "up", "down", or "unknown" before the first scrape.
	Health string
	// LastError is why the last scrape failed ("server returned HTTP
	// status 401 Unauthorized"); empty when it did not.
	LastError string
	// LastScrape is when the last scrape began; zero before the first.
	LastScrape time.Time
	// LastScrapeDuration is how long the last scrape took.
	LastScrapeDuration time.Duration
	// Labels are the target's labels (job, instance).
	Labels map[string]string
}

// TargetHealth returns the active targets of the scrape job and how their
// last scrape went.
func (s *Server) TargetHealth() ([]Target, error) {
	var data struct {
		ActiveTargets []struct {
			Labels             map[string]string `json:"labels"`
			ScrapePool         string            `json:"scrapePool"`
			ScrapeURL          string            `json:"scrapeUrl"`
			LastError          string            `json:"lastError"`
			LastScrape         time.Time         `json:"lastScrape"`
			LastScrapeDuration float64           `json:"lastScrapeDuration"`
			Health             string            `json:"health"`
		} `json:"activeTargets"`
	}
	if err := s.api(http.MethodGet, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	var ts []Target
	for _, a := range data.ActiveTargets {
		if a.ScrapePool != Job {
			continue
		}
		last := a.LastScrape
		if last.Year() <= 1 {
			last = time.Time{}
		}
		ts = append(ts, Target{
			Instance:           a.Labels["instance"],
			ScrapeURL:          a.ScrapeURL,
			Health:             a.Health,
			LastError:          a.LastError,
			LastScrape:         last,
			LastScrapeDuration: time.Duration(a.LastScrapeDuration * float64(time.Second)),
			Labels:             a.Labels,
		})
	}
	slices.SortFunc(ts, func(a, b Target) int { return strings.Compare(a.Instance, b.Instance) })
	return ts, nil
}

// Target returns the target whose instance is instance (one of
// Config.Targets), failing the test when Prometheus has none such.
func (s *Server) Target(t testing.TB, instance string) Target {
	t.Helper()
	ts, err := s.TargetHealth()
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Instance == instance {
			return tg
		}
	}
	t.Fatalf("prometheus has no target %q: %+v", instance, ts)
	return Target{}
}

// WaitForScrapes waits until Prometheus has scraped every one of
// Config.Targets at least n times, successfully or not (it counts the
// samples of up{job="hping3"}, which every scrape appends, 0 for a failed
// one), and fails the test, showing the targets' health, after timeout.
// A rate() over what was scraped needs n >= 2.
func (s *Server) WaitForScrapes(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	// The range reaches back further than any test runs.
	expr := fmt.Sprintf(`count_over_time(up{job=%q}[1d])`, Job)
	deadline := time.Now().Add(timeout)
	var last string
	for {
		v, err := s.Query(expr)
		if err != nil {
			last = err.Error()
		} else if scrapedEnough(v, s.cfg.Targets, n) {
			return
		} else {
			last = "scrapes so far:\n" + v.String()
		}
		if time.Now().After(deadline) {
			ts, err := s.TargetHealth()
			t.Fatalf("prometheus did not scrape %v %d times within %s: %s\ntargets: %+v %v", s.cfg.Targets, n, timeout, last, ts, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrapedEnough reports whether v, count_over_time(up[...]), counts n
// scrapes or more for every one of targets.
func scrapedEnough(v Vector, targets []string, n int) bool {
	counts := map[string]float64{}
	for _, s := range v {
		counts[s.Labels["instance"]] = s.Value
	}
	for _, tg := range targets {
		if counts[tg] < float64(n) {
			return false
		}
	}
	return true
}
