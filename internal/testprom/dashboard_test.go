package testprom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// dashboards are the example dashboards, every one of them.
func dashboards(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testbin.RepoRoot(), "examples", "grafana", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hping3-overview.json", "hping3-path.json"} {
		if !slices.ContainsFunc(paths, func(p string) bool { return filepath.Base(p) == want }) {
			t.Errorf("examples/grafana has no %s: %v", want, paths)
		}
	}
	return paths
}

// TestDashboardsImportable checks what Grafana's import needs and what
// keeps the dashboards working on any Grafana: a fixed uid, the data
// source asked for at import (DS_PROMETHEUS) rather than any data source's
// uid, and the variables every query filters on.
func TestDashboardsImportable(t *testing.T) {
	for _, path := range dashboards(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var d map[string]any
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			if uid, _ := d["uid"].(string); uid == "" || uid != strings.TrimSuffix(filepath.Base(path), ".json") {
				t.Errorf("uid %q, want the file's name", d["uid"])
			}
			if v, _ := d["schemaVersion"].(float64); v < 39 {
				t.Errorf("schemaVersion %v, want 39 or later", d["schemaVersion"])
			}
			if d["id"] != nil {
				t.Errorf("id %v, want null: Grafana gives it", d["id"])
			}
			inputs, _ := d["__inputs"].([]any)
			if len(inputs) != 1 || fmt.Sprint(inputs[0].(map[string]any)["name"]) != "DS_PROMETHEUS" ||
				fmt.Sprint(inputs[0].(map[string]any)["pluginId"]) != "prometheus" {
				t.Errorf("__inputs %v, want the one data source input DS_PROMETHEUS", inputs)
			}

			// Every data source reference is the datasource variable (or
			// Grafana's own, for the built-in annotations), and the
			// variable's default is the input: a uid of the author's
			// Grafana would break elsewhere.
			walk(d, "", func(where string, v any) {
				obj, ok := v.(map[string]any)
				if !ok || !strings.HasSuffix(where, ".datasource") {
					if s, ok := v.(string); ok && strings.Contains(s, "${DS_PROMETHEUS}") && !strings.HasPrefix(where, ".templating.list[0].current.") {
						t.Errorf("%s = %q: ${DS_PROMETHEUS} only as the datasource variable's default", where, s)
					}
					return
				}
				if uid := fmt.Sprint(obj["uid"]); uid != "${datasource}" && obj["type"] != "grafana" {
					t.Errorf("%s = %v, want uid ${datasource}", where, obj)
				}
			})
			vars := map[string]map[string]any{}
			for _, v := range d["templating"].(map[string]any)["list"].([]any) {
				v := v.(map[string]any)
				vars[v["name"].(string)] = v
			}
			if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" ||
				ds["current"].(map[string]any)["value"] != "${DS_PROMETHEUS}" {
				t.Errorf("datasource variable %v, want a prometheus data source variable defaulting to ${DS_PROMETHEUS}", ds)
			}
			for _, name := range []string{"vantage", "target", "protocol"} {
				v := vars[name]
				if v == nil || v["type"] != "query" || v["multi"] != true || v["includeAll"] != true || v["allValue"] != ".*" {
					t.Errorf("variable %s = %v, want a multi query variable with All as .*", name, v)
				}
			}

			panels, err := dashboardPanels(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range panels {
				if p.Type != "row" && p.Queries == 0 {
					t.Errorf("panel %q (%s) has no query", p.Title, p.Type)
				}
			}
			checkLayout(t, d)
		})
	}
}

// walk calls f on every value of the JSON v, with its path.
func walk(v any, where string, f func(where string, v any)) {
	f(where, v)
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			walk(e, where+"."+k, f)
		}
	case []any:
		for i, e := range v {
			walk(e, fmt.Sprintf("%s[%d]", where, i), f)
		}
	}
}

// checkLayout checks that panel ids are unique and that no two panels
// overlap on the 24-column grid.
func checkLayout(t *testing.T, d map[string]any) {
	t.Helper()
	type rect struct {
		title      string
		x, y, w, h float64
	}
	ids := map[float64]string{}
	var rects []rect
	for _, p := range d["panels"].([]any) {
		p := p.(map[string]any)
		title := fmt.Sprint(p["title"])
		id, _ := p["id"].(float64)
		if other, dup := ids[id]; dup {
			t.Errorf("panels %q and %q share id %v", other, title, id)
		}
		ids[id] = title
		g := p["gridPos"].(map[string]any)
		r := rect{title, g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)}
		if r.x+r.w > 24 {
			t.Errorf("panel %q is wider than the grid: %v", title, g)
		}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("panels %q and %q overlap", o.title, r.title)
			}
		}
		rects = append(rects, r)
	}
}

func TestDashboardQueriesSubstitutes(t *testing.T) {
	path := filepath.Join(testbin.RepoRoot(), "examples", "grafana", "hping3-overview.json")
	qs, err := DashboardQueries(path, map[string]string{"target": `192\.0\.2\.1`, "__rate_interval": "2m"})
	if err != nil {
		t.Fatal(err)
	}
	var sawTarget, sawRate bool
	for _, q := range qs {
		if q.Dashboard != "hping3 overview" || (q.Panel == "") == (q.Variable == "") {
			t.Errorf("%s: want the dashboard's title and either a panel or a variable", q)
		}
		sawTarget = sawTarget || strings.Contains(q.Expr, `server_address=~"192\.0\.2\.1"`)
		sawRate = sawRate || strings.Contains(q.Expr, "[2m]")
		if strings.Contains(q.Expr, "$") {
			t.Errorf("%s: a variable is left", q)
		}
	}
	if !sawTarget || !sawRate {
		t.Errorf("the values given were not used (target %v, rate interval %v)", sawTarget, sawRate)
	}
	i := slices.IndexFunc(qs, func(q PanelQuery) bool { return q.Variable == "target" })
	if i < 0 || qs[i].Expr != `group by (server_address) (hping3_probe_status{vantage=~".*"})` {
		t.Errorf("variable target's query: %v", qs[i])
	}
}

func TestVariableExpr(t *testing.T) {
	for q, want := range map[string]string{
		`label_values(vantage)`:                         `group by (vantage) ({vantage!=""})`,
		`label_values(up{a=~"x,y", b="$b"} , instance)`: `group by (instance) (up{a=~"x,y", b="$b"})`,
		`query_result(max(up))`:                         `max(up)`,
		`metrics(hping3_.*)`:                            "",
		`label_values(up, not-a-label)`:                 "",
	} {
		got, err := variableExpr(q)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("variableExpr(%q) = %q, %v; want %q", q, got, err, want)
		}
	}
	for in, want := range map[string]string{
		`a{x=~"$v"} ${v} ${v:regex} [[v]] [[v:csv]] $vv $__rate_interval`: `a{x=~"V"} V V V V $vv 1m`,
	} {
		if got := substitute(in, map[string]string{"v": "V", "__rate_interval": "1m"}); got != want {
			t.Errorf("substitute(%q) = %q, want %q", in, got, want)
		}
	}
}

// noVariableEquality finds a variable compared with = or != rather than
// =~ or !~: a multi-value or All selection is a regex.
var noVariableEquality = regexp.MustCompile(`[^=~!]!?=\s*"\$`)

// TestDashboardQueriesRun runs every query of the example dashboards
// against a real Prometheus scraping a stand-in for the plugin's /metrics
// (every metric the dashboards read, with counters that grow) and loading
// examples/prometheus/rules.yml, whose recording rules a panel reads: none may
// fail to parse or run, and every one must find series, so that a metric
// or label name the plugin does not have stands out. The lab test checks
// them against the plugin itself.
func TestDashboardQueriesRun(t *testing.T) {
	t.Parallel()
	var scrapes atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, standIn(scrapes.Add(1)))
	}))
	t.Cleanup(ts.Close)
	p := Start(t, Config{Targets: []string{strings.TrimPrefix(ts.URL, "http://")}, RuleFiles: []string{ExampleRules()}})
	// Three scrapes: rate() over them has two intervals to go on.
	p.WaitForScrapes(t, 3, 30*time.Second)

	for _, path := range dashboards(t) {
		qs, err := DashboardQueries(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) == 0 {
			t.Errorf("%s: no queries", path)
		}
		for _, q := range qs {
			if strings.Contains(q.Expr, "$") || strings.Contains(q.Expr, "[[") {
				t.Errorf("%s: a variable is left", q)
				continue
			}
			if noVariableEquality.MatchString(q.Expr) {
				t.Errorf("%s: a variable compared with = or !=, not =~", q)
			}
			v, err := p.QueryRecorded(q.Expr, 30*time.Second)
			if err != nil {
				t.Errorf("%s: %v", q, err)
			} else if len(v) == 0 {
				t.Errorf("%s: no series", q)
			}
		}
	}
}

// standIn is an exposition of every metric the dashboards read, as the
// plugin names them, at the n-th scrape: an ICMP target at a vantage, and
// a TCP target with a three-hop path whose second hop does not answer,
// probed over two flows.
func standIn(n int64) string {
	var b strings.Builder
	icmp := `server_address="192.0.2.1",network_peer_address="192.0.2.1",network_transport="icmp",vantage="paris"`
	tcp := `server_address="web.example",network_peer_address="198.51.100.7",network_transport="tcp",server_port="443",vantage="paris"`
	metric := func(typ, name string, series ...string) {
		fmt.Fprintf(&b, "# TYPE %s %s\n", name, typ)
		for _, s := range series {
			fmt.Fprintf(&b, "%s%s\n", name, s)
		}
	}
	for _, c := range []struct {
		name string
		per  int64
	}{{"hping3_packet_sent_total", 10}, {"hping3_packet_received_total", 9}, {"hping3_packet_duplicate_total", 1}, {"hping3_packet_icmp_error_total", 1}} {
		metric("counter", c.name, fmt.Sprintf("{%s} %d", icmp, c.per*n), fmt.Sprintf("{%s} %d", tcp, c.per*n))
	}
	fmt.Fprintf(&b, "# TYPE hping3_rtt_duration_seconds histogram\n")
	for _, l := range []string{icmp, tcp} {
		for i, le := range []string{"0.001", "0.01", "0.1", "+Inf"} {
			fmt.Fprintf(&b, "hping3_rtt_duration_seconds_bucket{%s,le=%q} %d\n", l, le, int64(3*i)*n)
		}
		fmt.Fprintf(&b, "hping3_rtt_duration_seconds_sum{%s} %g\nhping3_rtt_duration_seconds_count{%s} %d\n", l, 0.05*float64(9*n), l, 9*n)
	}
	for name, v := range map[string]string{
		"hping3_packets_sent": "10", "hping3_packets_received": "9", "hping3_loss_ratio": "0.1",
		"hping3_rtt_min_seconds": "0.0012", "hping3_rtt_avg_seconds": "0.0031", "hping3_rtt_max_seconds": "0.0094",
		"hping3_rtt_stddev_seconds": "0.0011", "hping3_rtt_jitter_seconds": "0.0009", "hping3_reply_ttl": "57",
		"hping3_dns_duration_seconds": "0.0015",
	} {
		metric("gauge", name, fmt.Sprintf("{%s} %s", icmp, v), fmt.Sprintf("{%s} %s", tcp, v))
	}
	metric("gauge", "hping3_probe_status", fmt.Sprintf("{%s} 0", icmp), fmt.Sprintf(`{%s,hping3_port_state="open"} 0`, tcp))
	hops := []string{`hping3_hop_number="1",hping3_hop_address="10.0.0.1"`, `hping3_hop_number="2"`, `hping3_hop_number="3",hping3_hop_address="198.51.100.7"`}
	for name, v := range map[string]string{
		"hping3_hop_packets_sent": "4", "hping3_hop_packets_received": "4", "hping3_hop_loss_ratio": "0",
		"hping3_hop_rtt_min_seconds": "0.0004", "hping3_hop_rtt_avg_seconds": "0.0005", "hping3_hop_rtt_max_seconds": "0.0006",
	} {
		var series []string
		for _, h := range hops {
			// A hop nothing answered has no responder and no RTT.
			if strings.HasPrefix(name, "hping3_hop_rtt_") && !strings.Contains(h, "hping3_hop_address") {
				continue
			}
			series = append(series, fmt.Sprintf("{%s,%s} %s", tcp, h, v))
		}
		metric("gauge", name, series...)
	}
	metric("gauge", "hping3_path_hops", fmt.Sprintf(`{%s,hping3_path_id="0123456789abcdef"} 3`, tcp))
	// Its path probes take two flows, over two paths.
	metric("gauge", "hping3_path_distinct", fmt.Sprintf(`{%s} 2`, tcp))
	metric("gauge", "hping3_flow_hops", fmt.Sprintf(`{%s,hping3_flow="0",hping3_path_id="00000000000000a1"} 3`, tcp),
		fmt.Sprintf(`{%s,hping3_flow="1",hping3_path_id="00000000000000b2"} 3`, tcp))
	for name, v := range map[string]string{
		"hping3_round_duration_seconds": "10.002", "hping3_round_targets": "2", "hping3_round_failures": "0",
		"hping3_round_capture_drops": "0", "hping3_round_engine_restarts": "0", "hping3_config_last_reload_successful": "1",
		"hping3_config_last_reload_success_timestamp_seconds": fmt.Sprint(time.Now().Unix() - 60),
	} {
		metric("gauge", name, " "+v)
	}
	return b.String()
}
