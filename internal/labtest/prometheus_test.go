package labtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testprom"
)

// promListen is where the plugin serves /metrics inside the client
// namespace, which nothing else uses.
const promListen = "127.0.0.1:10027"

// startProber runs `hping3-plugin --prometheus-listen` with toml (and
// args) in the client namespace until the test ends, and a real Prometheus
// scraping it there every second.
func startProber(t *testing.T, l *netlab.Lab, toml string, args ...string) (*testprom.Server, *testbin.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "prober.toml")
	if err := os.WriteFile(file, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, testbin.Plugin(t), append([]string{"--engine", "tcl", "--config", file,
		"--prometheus-listen", promListen}, args...)...)
	stderr := &testbin.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		t.Logf("plugin stderr:\n%s", stderr.String())
	})
	srv := testprom.Start(t, testprom.Config{Targets: []string{promListen}, Namespace: l.Client, RuleFiles: []string{testprom.ExampleRules()}})
	return srv, stderr, file
}

// query returns expr's one sample, failing the test without exactly one.
func queryOne(t *testing.T, srv *testprom.Server, expr string) float64 {
	t.Helper()
	v, err := srv.Query(expr)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 {
		t.Fatalf("%s: %d samples, want 1: %v", expr, len(v), v)
	}
	return v[0].Value
}

// A real Prometheus scrapes the prober probing the lab. The loss it
// computes from the counters is exactly the packets the lab dropped; the
// median of the RTT histogram lands within the emulator's recorded RTTs;
// and every query of both dashboards returns series for the lab's targets.
func TestTclPrometheusScrapesTheLab(t *testing.T) {
	l := lab(t)
	e := emulator(t, l)
	lossy, jittery, path, closed := netlab.Target(1), netlab.Emu(1), netlab.Target(2), netlab.Target(3)
	e.Set(netip.PrefixFrom(jittery, 32), netlab.Profile{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond})
	drops, err := l.Loss(20, lossy)
	if err != nil {
		t.Fatal(err)
	}
	srv, stderr, _ := startProber(t, l, fmt.Sprintf(`vantage = "lab"
[[inputs.hping3]]
targets = [%q, %q]
interval = "50ms"
timeout = "300ms"
[[inputs.hping3]]
targets = [%q]
interval = "200ms"
timeout = "300ms"
path = true
max_hops = 3
flows = 4
[[inputs.hping3]]
targets = [%q]
protocol = "tcp"
port = 7
interval = "200ms"
timeout = "300ms"
`, lossy, jittery, path, closed), "--poll-interval", "1s")
	// A second Prometheus asks for native histograms (protobuf).
	native := testprom.Start(t, testprom.Config{Targets: []string{promListen}, Namespace: l.Client,
		Flags: []string{"--enable-feature=native-histograms"}})
	srv.WaitForScrapes(t, 3, 30*time.Second)
	time.Sleep(8 * time.Second)

	// The loss stops; once every packet sent before is decided and
	// counted (a timeout, a poll and a scrape later), the counters hold
	// exactly the lab's drops.
	if err := netlab.Run("ip", "netns", "exec", l.Target, "nft", "flush", "chain", "inet", "lab", "input_chain"); err != nil {
		t.Fatal(err)
	}
	dropped, err := drops.Packets()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	sel := fmt.Sprintf(`{server_address=%q, vantage="lab", job="hping3"}`, lossy)
	sent := queryOne(t, srv, "hping3_packet_sent_total"+sel)
	received := queryOne(t, srv, "hping3_packet_received_total"+sel)
	t.Logf("%s: %v sent, %v received; the lab dropped %d", lossy, sent, received, dropped)
	if int(sent-received) != dropped {
		t.Errorf("%s: sent %v - received %v = %v lost, the lab dropped %d", lossy, sent, received, sent-received, dropped)
	}
	// About 15-20 s at 20 packets/s.
	if sent < 200 || sent > 600 || dropped < 20 {
		t.Errorf("%s: %v sent, %d dropped; want 200..600 sent, 20%% dropped", lossy, sent, dropped)
	}

	// The median of every RTT of the jittery path, from the classic
	// buckets, against what the emulator recorded.
	truth := netlab.TruthRTTs(e.Events(jittery))
	sort.Float64s(truth)
	q := 1000 * queryOne(t, srv, fmt.Sprintf(`histogram_quantile(0.5, hping3_rtt_duration_seconds_bucket{server_address=%q})`, jittery))
	median := netlab.Median(truth)
	t.Logf("%s: histogram median %.3f ms; recorded %d RTTs %.3f..%.3f ms, median %.3f", jittery, q, len(truth), truth[0], truth[len(truth)-1], median)
	if q < truth[0] || q > truth[len(truth)-1] || q < median*0.8 || q > median*1.25 {
		t.Errorf("%s: histogram median %.3f ms; recorded RTTs %.3f..%.3f ms, median %.3f: want within the recorded range and within a bucket of the median",
			jittery, q, truth[0], truth[len(truth)-1], median)
	}

	// The same median from the native buckets, which the second
	// Prometheus took instead of the classic ones.
	nq := 1000 * queryOne(t, native, fmt.Sprintf(`histogram_quantile(0.5, hping3_rtt_duration_seconds{server_address=%q})`, jittery))
	t.Logf("%s: native histogram median %.3f ms", jittery, nq)
	if nq < truth[0] || nq > truth[len(truth)-1] || nq < median*0.9 || nq > median*1.1 {
		t.Errorf("%s: native histogram median %.3f ms; recorded RTTs %.3f..%.3f ms, median %.3f", jittery, nq, truth[0], truth[len(truth)-1], median)
	}

	// Every dashboard query returns series for the lab.
	for _, dash := range []string{"hping3-overview.json", "hping3-path.json"} {
		qs, err := testprom.DashboardQueries(filepath.Join(testbin.RepoRoot(), "examples", "grafana", dash))
		if err != nil {
			t.Fatal(err)
		}
		for _, pq := range qs {
			v, err := srv.QueryRecorded(pq.Expr, 30*time.Second)
			if err != nil {
				t.Errorf("%s %q: %v", dash, pq.Panel+pq.Variable, err)
				continue
			}
			if len(v) == 0 {
				t.Errorf("%s %q: no series for %s", dash, pq.Panel+pq.Variable, pq.Expr)
			}
		}
	}
	if strings.Contains(stderr.String(), "E! ") {
		t.Errorf("the prober logged an error:\n%s", stderr.String())
	}
}

// nsClient is an HTTP client whose connections are made in namespace ns.
func nsClient(ns string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: netlab.Dialer(ns)}}
}

// fileSD writes a file_sd targets file: two entries, rack a and rack b.
func fileSD(t *testing.T, path string, a, b []netip.Addr) {
	t.Helper()
	list := func(as []netip.Addr) string {
		q := make([]string, len(as))
		for i, x := range as {
			q[i] = strconv.Quote(x.String())
		}
		return strings.Join(q, ", ")
	}
	text := fmt.Sprintf(`[{"targets": [%s], "labels": {"rack": "a"}}, {"targets": [%s], "labels": {"rack": "b"}}]`, list(a), list(b))
	writeAtomic(t, path, text)
}

func writeAtomic(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitQuery waits until expr's one sample has the value want.
func waitQuery(t *testing.T, srv *testprom.Server, expr string, want float64, limit time.Duration) {
	t.Helper()
	var last testprom.Vector
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		v, err := srv.Query(expr)
		if err == nil && len(v) == 1 && v[0].Value == want {
			return
		}
		last = v
	}
	t.Fatalf("%s: %v after %v, want %v", expr, last, limit, want)
}

// Reload under load: 300 targets from a targets file, probed once a
// second. The file changes (10 targets leave, 10 come); the 290 that stay
// keep their counters (never down, no jump, nothing counted lost), the 10
// removed vanish, the 10 new appear with their labels. A broken targets
// file and a broken configuration (POST /-/reload) are refused with one E!
// each, the reload gauge says so, and the old targets go on.
func TestTclPrometheusReloadUnderLoad(t *testing.T) {
	l := lab(t)
	var addrs []netip.Addr
	for i := 1; i <= 310; i++ {
		addrs = append(addrs, netlab.Target(i))
	}
	dir := t.TempDir()
	sd := filepath.Join(dir, "targets.json")
	fileSD(t, sd, addrs[:150], addrs[150:300])
	toml := fmt.Sprintf(`[[inputs.hping3]]
targets_file = %q
interval = "500ms"
timeout = "300ms"
`, sd)
	// Reports every 2 s, four packets a target: the pause of a reload
	// (the packets in flight decided before the engine starts again)
	// leaves every window some.
	srv, stderr, conf := startProber(t, l, toml, "--poll-interval", "2s")
	srv.WaitForScrapes(t, 2, 30*time.Second)
	waitQuery(t, srv, `count(hping3_packet_sent_total)`, 300, 30*time.Second)
	time.Sleep(5 * time.Second)

	// 10 leave (rack a's first ten), 10 come (into rack b).
	reloadedAt := time.Now()
	fileSD(t, sd, addrs[10:150], addrs[150:310])
	waitQuery(t, srv, `count(hping3_packet_sent_total{rack="b"})`, 160, 30*time.Second)
	waitQuery(t, srv, `count(hping3_packet_sent_total)`, 300, 10*time.Second)
	waitQuery(t, srv, `hping3_config_last_reload_successful`, 1, 10*time.Second)
	time.Sleep(5 * time.Second)
	secs := int(time.Since(reloadedAt).Seconds()) + 15
	span, sub := fmt.Sprintf("[%ds]", secs), fmt.Sprintf("[%ds:1s]", secs)
	staying := `{rack=~"a|b", server_address!~"` + strings.ReplaceAll(addrsRegex(addrs[:10])+"|"+addrsRegex(addrs[300:]), ".", `\\.`) + `"}`
	if n := queryOne(t, srv, `count(hping3_packet_sent_total`+staying+`)`); n != 290 {
		t.Fatalf("%v staying targets, want 290", n)
	}
	// Never down, and nothing counted lost (the lab loses nothing).
	if v := queryOne(t, srv, `sum(resets(hping3_packet_sent_total`+staying+span+`))`); v != 0 {
		t.Errorf("%v counter resets among the staying targets, want 0", v)
	}
	if v := queryOne(t, srv, `sum(hping3_packet_sent_total`+staying+` - hping3_packet_received_total`+staying+`)`); v != 0 {
		t.Errorf("staying targets: %v packets counted sent and not received, want 0", v)
	}
	// No jump: at two packets a second, a report every 2 s, no scrape
	// sees more than a report's few new packets.
	if v := queryOne(t, srv, `max(max_over_time(idelta(hping3_packet_sent_total`+staying+`[3s])`+sub+`))`); v > 6 {
		t.Errorf("a staying target's counter jumped by %v packets between scrapes, want at most 6", v)
	}
	// Nothing of the removed targets is left.
	for _, a := range addrs[:10] {
		if v, err := srv.Query(fmt.Sprintf(`hping3_packet_sent_total{server_address=%q}`, a)); err != nil || len(v) != 0 {
			t.Errorf("removed %s still scraped: %v %v", a, v, err)
		}
	}

	// A broken targets file: refused, the 300 go on.
	before := queryOne(t, srv, `sum(hping3_packet_sent_total)`)
	writeAtomic(t, sd, `[{"targets": ["198.19.0.1"], "labels": {"job": "x"}}]`)
	waitQuery(t, srv, `hping3_config_last_reload_successful`, 0, 20*time.Second)
	time.Sleep(3 * time.Second)
	if n := queryOne(t, srv, `count(hping3_packet_sent_total)`); n != 300 {
		t.Errorf("%v targets after a broken targets file, want the 300 before", n)
	}
	if after := queryOne(t, srv, `sum(hping3_packet_sent_total)`); after < before+600 {
		t.Errorf("%v packets sent in all, %v before the broken file: probing stopped", after, before)
	}
	if !strings.Contains(stderr.String(), `E! reload refused, the previous configuration keeps running: config `) || !strings.Contains(stderr.String(), "job and instance are Prometheus' own") {
		t.Errorf("no E! line for the broken targets file:\n%s", stderr.String())
	}

	// A broken configuration through POST /-/reload: 500, and the old one
	// goes on.
	fileSD(t, sd, addrs[10:150], addrs[150:310])
	writeAtomic(t, conf, toml+"interval = \"soon\"\n")
	c := nsClient(l.Client)
	resp, err := c.Post("http://"+promListen+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "interval") {
		t.Errorf("POST /-/reload with a broken configuration: %s %q, want 500 naming interval", resp.Status, body)
	}
	waitQuery(t, srv, `hping3_config_last_reload_successful`, 0, 10*time.Second)
	if n := queryOne(t, srv, `count(hping3_packet_sent_total)`); n != 300 {
		t.Errorf("%v targets after a broken configuration, want 300", n)
	}
	// Mended: the reload succeeds.
	writeAtomic(t, conf, toml)
	resp, err = c.Post("http://"+promListen+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /-/reload with the mended configuration: %s, want 200", resp.Status)
	}
	waitQuery(t, srv, `hping3_config_last_reload_successful`, 1, 10*time.Second)
}

func addrsRegex(as []netip.Addr) string {
	q := make([]string, len(as))
	for i, a := range as {
		q[i] = a.String()
	}
	return strings.Join(q, "|")
}
