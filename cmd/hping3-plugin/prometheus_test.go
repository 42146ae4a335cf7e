package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
	"github.com/hping3-plugin/hping3-plugin/internal/testprom"
)

// Bad input to the Prometheus mode: exit 2 at start with one E! line
// naming the problem, and hping3 never runs.
func TestPrometheusBadInputExits2(t *testing.T) {
	bin, mark := recorder(t)
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badEntry := write("bad-entry.json", `[{"targets": ["127.0.0.1:80"]}]`)
	badLabel := write("bad-label.json", `[{"targets": ["127.0.0.1"], "labels": {"instance": "x"}}]`)
	table := func(file string) string {
		return write(filepath.Base(file)+".toml", fmt.Sprintf("[[inputs.hping3]]\ntargets_file = %q\n", file))
	}
	cases := []struct {
		args []string
		want string // a part of the one E! line
	}{
		{[]string{"--prometheus-listen", busy.Addr().String()}, "E! --prometheus-listen " + busy.Addr().String() + ": listen tcp " + busy.Addr().String() + ": bind: address already in use"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--web-config", filepath.Join(dir, "missing.yml")}, "E! --web-config " + filepath.Join(dir, "missing.yml") + ": "},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--config", table(badEntry)}, "entry 0: target \"127.0.0.1:80\": a port only in a tcp or udp table"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--config", table(badLabel)}, "entry 0: label \"instance\": job and instance are Prometheus' own"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--once"}, "E! --once and --prometheus-listen are two modes"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--config", write("job.toml", "[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n[inputs.hping3.tags]\njob = \"x\"\n")},
			"inputs.hping3[0].tags.job: with --prometheus-listen a tag may not be job, instance or start with __"},
		{[]string{"--web-config", "x.yml", "--once"}, "E! --web-config is for the Prometheus endpoint: add --prometheus-listen"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--config", write("underscore.toml", "[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n[inputs.hping3.tags]\n_ = \"x\"\n")},
			"inputs.hping3[0].tags._: with --prometheus-listen a name without a letter or digit is no Prometheus label name"},
		{[]string{"--site24x7", "--host", "127.0.0.1", "--prometheus-listen", "127.0.0.1:0"}, "E! --prometheus-listen is for the standalone modes"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--histogram-buckets", "0.1,0.05"}, "E! --histogram-buckets: 0.05 is not above 0.1"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--histogram-buckets", "0,0.05"}, "E! --histogram-buckets: 0: a bound must be above 0 s"},
		{[]string{"--prometheus-listen", "127.0.0.1:0", "--native-histogram-factor", "1"}, "E! --native-histogram-factor 1: give a factor above 1"},
		{[]string{"--histogram-buckets", "0.1", "--once"}, "E! --histogram-buckets is for the Prometheus endpoint's classic buckets: add --prometheus-listen"},
		{[]string{"--native-histogram-factor", "1.1"}, "E! --native-histogram-factor is for the histogram of the OTLP and Prometheus modes"},
		{[]string{"--site24x7", "--host", "127.0.0.1", "--histogram-buckets", "0.1"}, "E! --histogram-buckets is for the standalone modes"},
	}
	for _, c := range cases {
		args := append([]string{"--hping3", bin, "--target", "127.0.0.1"}, c.args...)
		code, stdout, stderr := runMain(args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) || strings.Count(stderr, "E! ") != 1 {
			t.Errorf("%q:\nexit %d, stdout %q, stderr %q\nwant exit 2, no stdout, one E! line with %q", c.args, code, stdout, stderr, c.want)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("hping3 ran although the input was wrong")
	}
}

// TLS and basic auth through a web configuration file: the endpoint
// answers 401 without credentials (and to a wrong password), 200 with
// them; a real Prometheus with the credentials and the CA scrapes it, one
// with a wrong password gets 401. The plugin probes loopback for real.
func TestPrometheusTLSAndBasicAuth(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	dir := t.TempDir()
	caFile, certFile, keyFile := testbin.ServerCertFiles(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	os.WriteFile(webConfig, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prober: %s\n",
		certFile, keyFile, hash)), 0o600)
	addr := testotlp.FreePort(t)

	cmd, stderr := servePlugin(t, "--prometheus-listen", addr, "--web-config", webConfig, "--poll-interval", "1s")

	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get("", "")
		if code != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d %q, want 401", code, body)
	}
	if code, body := get("prober", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d %q, want 401", code, body)
	}
	if code, body := get("prober", "s3cret"); code != http.StatusOK || !strings.Contains(body, "hping3_config_last_reload_successful 1") {
		t.Errorf("with the credentials: %d, want 200 with the plugin's metrics:\n%s", code, body)
	}
	// Plain HTTP to the TLS endpoint gets nothing useful either.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP: 200, want a refusal")
		}
	}

	good := testprom.Start(t, testprom.Config{Targets: []string{addr}, Scheme: "https", CAFile: caFile, ServerName: "localhost",
		Username: "prober", Password: "s3cret"})
	bad := testprom.Start(t, testprom.Config{Targets: []string{addr}, Scheme: "https", CAFile: caFile, ServerName: "localhost",
		Username: "prober", Password: "wrong"})
	good.WaitForScrapes(t, 2, 30*time.Second)
	bad.WaitForScrapes(t, 2, 30*time.Second)
	if v, err := good.Query(`hping3_packet_sent_total{server_address="127.0.0.1"}`); err != nil || len(v) != 1 || v[0].Value < 1 {
		t.Errorf("the scrape with credentials: %v %v, want the counter", v, err)
	}
	if tg := bad.Target(t, addr); tg.Health != "down" || !strings.Contains(tg.LastError, "401") {
		t.Errorf("the scrape with a wrong password: %s %q, want down with 401", tg.Health, tg.LastError)
	}

	// SIGHUP reloads in this mode (it does not end the process).
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "I! reload: 1 target from the configuration"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged within 10 s of SIGHUP")
		}
	}
	if code, _ := get("prober", "s3cret"); code != http.StatusOK {
		t.Errorf("after SIGHUP: %d, want the endpoint still serving", code)
	}
}

// --histogram-buckets sets the le labels a scrape shows, in the text format
// gzipped (what Prometheus asks for): three buckets, +Inf included, which
// hold every RTT of loopback (over 1 us, under 10 ms).
func TestPrometheusHistogramBuckets(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	addr := testotlp.FreePort(t)
	servePlugin(t, "--prometheus-listen", addr, "--histogram-buckets", "0.000001,0.01", "--poll-interval", "1s")
	client := &http.Client{Timeout: 5 * time.Second} // asks for gzip, and unzips
	var body string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !resp.Uncompressed {
			t.Fatalf("the body was not gzipped (Content-Type %q)", resp.Header.Get("Content-Type"))
		}
		if body = string(b); strings.Contains(body, "hping3_rtt_duration_seconds_count{") {
			break
		}
	}
	var buckets []string
	count := ""
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "hping3_rtt_duration_seconds_bucket{") {
			le := line[strings.Index(line, "le="):]
			buckets = append(buckets, strings.TrimSpace(le))
		}
		if strings.HasPrefix(line, "hping3_rtt_duration_seconds_count{") {
			count = strings.TrimSpace(line[strings.LastIndex(line, " "):])
		}
	}
	if count == "" || count == "0" {
		t.Fatalf("no RTT counted: %q", count)
	}
	want := []string{`le="1e-06"} 0`, `le="0.01"} ` + count, `le="+Inf"} ` + count}
	if strings.Join(buckets, "|") != strings.Join(want, "|") {
		t.Errorf("buckets %q, want %q", buckets, want)
	}
}

// servePlugin runs the plugin with args, probing 127.0.0.1 ten times a
// second, until the test ends; its stderr is logged if the test failed.
func servePlugin(t *testing.T, args ...string) (*exec.Cmd, *testbin.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, testbin.Plugin(t), append(args, "--target", "127.0.0.1", "--interval", "100ms")...)
	stderr := &testbin.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("plugin stderr:\n%s", stderr)
		}
	})
	return cmd, stderr
}

// A scrape counts every packet decided up to it, not only those of the
// reports: between two reports 5 s apart, scrapes every 500 ms see the
// packet counter and the histogram's count grow by one per 100 ms since the
// scrape before (loopback answers every packet), and across a report
// neither jumps nor goes back.
func TestPrometheusCountersBetweenReports(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	addr := testotlp.FreePort(t)
	servePlugin(t, "--prometheus-listen", addr, "--poll-interval", "5s")
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := get("/-/ready"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready within 15 s")
		}
	}
	value := func(body, prefix string) float64 {
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, prefix) {
				v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndex(line, " "):]), 64)
				if err == nil {
					return v
				}
			}
		}
		t.Fatalf("no %s in the scrape", prefix)
		return 0
	}
	type scrape struct {
		at          time.Time
		sent, count float64
	}
	var scrapes []scrape
	for range 14 { // 7 s: every scrape of one report, then across the next
		before := time.Now()
		_, body := get("/metrics")
		at := before.Add(time.Since(before) / 2)
		scrapes = append(scrapes, scrape{at, value(body, "hping3_packet_sent_total{"), value(body, "hping3_rtt_duration_seconds_count{")})
		time.Sleep(500 * time.Millisecond)
	}
	for i := 1; i < len(scrapes); i++ {
		a, b := scrapes[i-1], scrapes[i]
		want := float64(b.at.Sub(a.at) / (100 * time.Millisecond))
		if d := b.sent - a.sent; d < want-3 || d > want+3 || b.count-a.count != d {
			t.Errorf("scrape %d, %v after the one before: %v more sent, %v more RTTs; want %v +/- 3 of each",
				i, b.at.Sub(a.at).Round(time.Millisecond), d, b.count-a.count, want)
		}
	}
}
