package deploy

import (
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// The many-vantage-points tests probe 127.0.0.1 in rounds of two ICMP
// packets 100 ms apart (mode = "rounds", so that every report holds exactly
// two packets), one round a second.
var fleetProbe = []string{"--target", "127.0.0.1", "--count", "2", "--interval", "100ms", "--mode", "rounds"}

// TestAgentsToGateway runs examples/vantage/agent.yaml and gateway.yaml as
// they are, with only their addresses and file paths replaced: two hosts
// (vantage paris-1 and tokyo-2), each a plugin exporting to its own real
// agent Collector, both agents exporting over TLS to one real gateway
// Collector, the gateway exporting to an OTLP server in the test (the
// backend). Every probe point must reach the backend with the vantage of
// the plugin that measured it, through the gateway (its authorization
// header on every export).
func TestAgentsToGateway(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	plugin := testbin.Plugin(t)
	backend := testotlp.StartSink(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := testbin.ServerCertFiles(t, dir)

	gw := testotlp.FreePort(t)
	gwCfg := substitute(t, "examples/vantage/gateway.yaml", example(t, "examples/vantage/gateway.yaml"),
		"endpoint: 0.0.0.0:4317", "endpoint: "+gw,
		"/etc/otelcol/gateway.crt", certFile,
		"/etc/otelcol/gateway.key", keyFile,
		// The test's backend speaks no TLS.
		"endpoint: backend.example.com:4317", "endpoint: "+backend.Addr,
		"insecure: false", "insecure: true",
		"port: 8888", "port: "+portOf(testotlp.FreePort(t)))
	const token = "deploy-test-token"
	testotlp.StartCollector(t, testbin.Otelcol(t), writeFile(t, filepath.Join(dir, "gateway.yaml"), gwCfg), "BACKEND_TOKEN="+token)

	vantages := []string{"paris-1", "tokyo-2"}
	var plugins []*testotlp.Proc
	for _, v := range vantages {
		recv := testotlp.FreePort(t)
		cfg := substitute(t, "examples/vantage/agent.yaml", example(t, "examples/vantage/agent.yaml"),
			"endpoint: localhost:4317", "endpoint: "+recv,
			"endpoint: otel-gateway.example.com:4317", "endpoint: "+gw,
			"/etc/otelcol/gateway-ca.crt", caFile,
			"port: 8888", "port: "+portOf(testotlp.FreePort(t)))
		testotlp.StartCollector(t, testbin.Otelcol(t), writeFile(t, filepath.Join(dir, "agent-"+v+".yaml"), cfg))
		plugins = append(plugins, testotlp.Start(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + recv}, plugin,
			append([]string{"--otlp", "--poll-interval", "1s", "--vantage", v}, fleetProbe...)...))
	}

	for _, v := range vantages {
		p := backend.WaitPoint(t, 60*time.Second, "hping3.packets.received for 127.0.0.1 from "+v, probePoint("hping3.packets.received", v))
		if p.Value != 2 {
			t.Errorf("%s: hping3.packets.received = %v, want 2", v, p.Value)
		}
		if p.Resource["service.name"] != "hping3-plugin" {
			t.Errorf("%s: resource service.name %q, want hping3-plugin", v, p.Resource["service.name"])
		}
		s := backend.WaitPoint(t, 10*time.Second, "hping3.probe.status from "+v, probePoint("hping3.probe.status", v))
		if s.Value != 0 {
			t.Errorf("%s: hping3.probe.status = %v, want 0", v, s.Value)
		}
	}
	for i, p := range plugins {
		if code, _ := p.Stop(t, 10*time.Second); code != 0 {
			t.Errorf("plugin %s: exit status %d after SIGTERM, want 0", vantages[i], code)
		}
	}

	reqs := backend.Requests()
	points := testotlp.Points(reqs)
	seen := map[string]int{}
	roundPoints, roundVantage := 0, 0
	for _, p := range points {
		if strings.HasPrefix(p.Metric, "hping3.round.") || strings.HasPrefix(p.Metric, "hping3.config.") {
			// The plugin's own figures (per round, of its reloads), no target.
			roundPoints++
			if slices.Contains(vantages, p.Attrs["vantage"]) {
				roundVantage++
			} else {
				t.Errorf("%s: vantage %q, want one of %q: the round's own points carry it too", p.Metric, p.Attrs["vantage"], vantages)
			}
			continue
		}
		if p.Attrs["server.address"] != "127.0.0.1" {
			t.Errorf("%s: server.address %q, want 127.0.0.1", p.Metric, p.Attrs["server.address"])
		}
		if !slices.Contains(vantages, p.Attrs["vantage"]) {
			t.Errorf("%s: vantage %q, want one of %q (attributes %v)", p.Metric, p.Attrs["vantage"], vantages, p.Attrs)
		}
		seen[p.Attrs["vantage"]]++
	}
	t.Logf("probe points at the backend by vantage: %v, in %d exports; %d hping3.round.* points, %d of them with vantage", seen, len(reqs), roundPoints, roundVantage)
	if roundPoints == 0 {
		t.Error("no hping3.round.* point reached the backend")
	}
	for _, r := range reqs {
		if got := r.MD.Get("authorization"); !slices.Equal(got, []string{"Bearer " + token}) {
			t.Errorf("an export reached the backend with authorization %q, want the gateway's %q", got, "Bearer "+token)
		}
	}
}

// TestTelegrafFleet runs examples/vantage/telegraf.conf as it is, with only
// the output's URL, the paths and the intervals replaced: two Telegrafs
// (VANTAGE=fleet-a and fleet-b in their environment, as on two hosts), each
// running the plugin, write to one InfluxDB-compatible endpoint: an HTTP
// server in the test speaking InfluxDB 2's write API. Each Telegraf's lines
// must arrive with its own vantage tag, to the organization and bucket
// of the file, with the token from the environment. Without VANTAGE the
// file must refuse to load.
func TestTelegrafFleet(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	plugin := testbin.Plugin(t)
	telegraf := telegrafInflux(t)
	influx := startInflux(t)
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "hping3-plugin.conf"), `mode = "rounds"
[[inputs.hping3]]
targets = ["127.0.0.1"]
count = 2
interval = "100ms"
`)
	cfg := writeFile(t, filepath.Join(dir, "telegraf.conf"), substitute(t, "examples/vantage/telegraf.conf", example(t, "examples/vantage/telegraf.conf"),
		`interval = "30s"`, `interval = "1s"`,
		`flush_interval = "10s"`, `flush_interval = "1s"`,
		"https://influxdb.example.com:8086", "http://"+influx.addr,
		"/usr/bin/hping3-plugin", plugin,
		"/etc/hping3-plugin/hping3-plugin.conf", conf))
	const token = "fleet-test-token"

	// Without VANTAGE Telegraf refuses the file rather than tag nothing.
	cmd := exec.Command(telegraf, "--config", cfg, "--test")
	cmd.Env = append(withoutEnv("VANTAGE"), "INFLUX_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "required variable VANTAGE is missing a value") {
		t.Errorf("telegraf --test without VANTAGE: %v, want a refusal naming VANTAGE:\n%s", err, out)
	}

	vantages := []string{"fleet-a", "fleet-b"}
	var fleet []*testotlp.Proc
	for _, v := range vantages {
		fleet = append(fleet, testotlp.Start(t, []string{"VANTAGE=" + v, "INFLUX_TOKEN=" + token}, telegraf, "--config", cfg))
	}
	for _, v := range vantages {
		l := influx.waitLine(t, 60*time.Second, v)
		want := map[string]string{"target": "127.0.0.1", "ip": "127.0.0.1", "protocol": "icmp", "vantage": v}
		for k, w := range want {
			if l.tags[k] != w {
				t.Errorf("%s: tag %s=%q, want %q (line %s)", v, k, l.tags[k], w, l.text)
			}
		}
		if l.tags["host"] == "" {
			t.Errorf("%s: no host tag from Telegraf (line %s)", v, l.text)
		}
		for k, w := range map[string]string{"result_code": "0i", "packets_transmitted": "2i", "packets_received": "2i"} {
			if l.fields[k] != w {
				t.Errorf("%s: field %s=%s, want %s (line %s)", v, k, l.fields[k], w, l.text)
			}
		}
	}
	for i, p := range fleet {
		if code, _ := p.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("telegraf %s: exit status %d after SIGTERM, want 0", vantages[i], code)
		}
	}
	influx.mu.Lock()
	defer influx.mu.Unlock()
	for _, r := range influx.requests {
		if want := "POST /api/v2/write org=netops bucket=hping3 Token " + token; r != want {
			t.Errorf("request %q, want %q", r, want)
		}
	}
	seen := map[string]int{}
	for _, l := range influx.lines {
		if l.measurement == "hping3" {
			if !slices.Contains(vantages, l.tags["vantage"]) {
				t.Errorf("line without a fleet vantage: %s", l.text)
			}
			seen[l.tags["vantage"]]++
		}
	}
	t.Logf("hping3 lines written by vantage: %v, in %d writes", seen, len(influx.requests))
}

// withoutEnv is the test's environment without the variable name.
func withoutEnv(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// telegrafInflux is Telegraf with inputs.execd and outputs.influxdb_v2,
// built once from the Go module proxy and cached like testbin.Telegraf.
func telegrafInflux(t *testing.T) string {
	t.Helper()
	name := "telegraf-" + strings.TrimPrefix(testbin.TelegrafVersion, "v") + "-influxdb"
	return testbin.Tool(t, name, "telegraf", func(dir string) error {
		cmd := exec.Command("go", "install", "-tags", "custom,inputs.execd,outputs.influxdb_v2",
			"github.com/influxdata/telegraf/cmd/telegraf@"+testbin.TelegrafVersion)
		cmd.Dir = os.TempDir() // outside this module
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return &buildError{out: string(out), err: err}
		}
		return nil
	})
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// influx is an HTTP server taking InfluxDB 2's write API,
// POST /api/v2/write?org=...&bucket=..., gzip or not, as Telegraf's
// outputs.influxdb_v2 sends it.
type influx struct {
	addr string

	mu       sync.Mutex
	requests []string // "METHOD PATH org bucket AUTHORIZATION"
	lines    []influxLine
	arrived  chan struct{}
}

type influxLine struct {
	text, measurement string
	tags, fields      map[string]string
}

func startInflux(t *testing.T) *influx {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &influx{addr: l.Addr().String(), arrived: make(chan struct{}, 1)}
	srv := &http.Server{Handler: s}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *influx) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = z
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []influxLine
	for _, text := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if text == "" {
			continue
		}
		l, err := parseLine(text)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, l)
	}
	s.mu.Lock()
	q := r.URL.Query()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+" org="+q.Get("org")+" bucket="+q.Get("bucket")+" "+r.Header.Get("Authorization"))
	s.lines = append(s.lines, got...)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitLine waits for an hping3 line tagged vantage=v.
func (s *influx) waitLine(t *testing.T, within time.Duration, v string) influxLine {
	t.Helper()
	deadline := time.After(within)
	for {
		s.mu.Lock()
		for _, l := range s.lines {
			if l.measurement == "hping3" && l.tags["vantage"] == v {
				s.mu.Unlock()
				return l
			}
		}
		n := len(s.lines)
		s.mu.Unlock()
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("no hping3 line with vantage=%s written within %s (%d lines arrived)", v, within, n)
		}
	}
}

// parseLine reads one line of line protocol; field values keep their
// written form (2i, 0.5, "text").
func parseLine(text string) (influxLine, error) {
	dec := lineprotocol.NewDecoderWithBytes([]byte(text))
	l := influxLine{text: text, tags: map[string]string{}, fields: map[string]string{}}
	if !dec.Next() {
		return l, io.ErrUnexpectedEOF
	}
	m, err := dec.Measurement()
	if err != nil {
		return l, err
	}
	l.measurement = string(m)
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return l, err
		}
		if k == nil {
			break
		}
		l.tags[string(k)] = string(v)
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return l, err
		}
		if k == nil {
			break
		}
		l.fields[string(k)] = v.String() // as written: 2i, 0.5, "text"
	}
	return l, nil
}
