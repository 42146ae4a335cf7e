package site24x7

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the current output")

var oldHeader = Header{Host: "localhost", PluginVersion: 1, Heartbeat: true}

// tcpResult is a TCP SYN probe of localhost's closed port 8040, the old
// plugin's default probe.
func tcpResult() probe.Result {
	return probe.Result{
		Target: "localhost", IP: "127.0.0.1", Protocol: config.TCP, Port: 8040,
		Transmitted: 2, Received: 2, Loss: 0,
		RTT: &probe.RTT{Min: 0.6, Avg: 0.65, Max: 0.7, Detail: true, StdDev: 0.05,
			Jitter: 0.1, HasJitter: true, Samples: []float64{0.6, 0.7}},
		TTL: 64, PortState: probe.PortClosed, DNS: 420 * time.Microsecond,
	}
}

func TestGolden(t *testing.T) {
	_, missing := hping3.Binary("/nonexistent/hping3")
	if missing == nil {
		t.Fatal("hping3.Binary found /nonexistent/hping3")
	}
	cases := []struct {
		name     string
		host     string // --host; "localhost" when empty
		results  []probe.Result
		stop     error
		deadline time.Duration
		changed  bool // the path is not the previous run's
	}{
		{name: "success", results: []probe.Result{tcpResult()}},
		// path = true: the hop count, and a path that changed since
		// the previous run.
		{name: "path_changed", changed: true, results: func() []probe.Result {
			r := tcpResult()
			r.Path = &probe.Path{HopCount: 3, Reached: true, ID: "0123456789abcdef", Hops: []probe.Hop{
				{Hop: 1, IP: "10.0.0.1", Transmitted: 2, Received: 2},
				{Hop: 2, Transmitted: 2, Loss: 100},
				{Hop: 3, IP: "127.0.0.1", Transmitted: 2, Received: 2, PortState: probe.PortClosed},
			}}
			return []probe.Result{r}
		}()},
		// --dscp ef --source-address 127.0.0.1: what the probes carried.
		{name: "class_and_source", results: func() []probe.Result {
			r := tcpResult()
			r.Tags = map[string]string{"dscp": "EF", "source_address": "127.0.0.1"}
			return []probe.Result{r}
		}()},
		{name: "partial_loss", host: "198.18.0.7", results: func() []probe.Result {
			r := probe.Result{
				Target: "198.18.0.7", IP: "198.18.0.7", Protocol: config.ICMP,
				Transmitted: 6, Received: 4, Loss: 100 - 4*100.0/6, Duplicates: 1, Late: 1,
				RTT: &probe.RTT{Min: 1.2, Avg: 1.7333333333, Max: 2.9, Detail: true, StdDev: 0.6574360974,
					Jitter: 0.8666666667, HasJitter: true,
					Percentiles: []probe.Percentile{{P: 50, Value: 1.35}, {P: 95, Value: 2.795}}},
				TTL: 63,
			}
			return []probe.Result{r}
		}()},
		{name: "total_loss", results: func() []probe.Result {
			r := tcpResult()
			r.Received, r.Loss, r.RTT, r.TTL, r.PortState = 0, 100, nil, -1, probe.PortNone
			return []probe.Result{r}
		}()},
		{name: "unreachable", host: "198.18.0.9", results: []probe.Result{{
			Target: "198.18.0.9", IP: "198.18.0.9", Protocol: config.ICMP,
			Transmitted: 2, Received: 0, Loss: 100, ICMPErrors: 2, TTL: -1,
		}}},
		{name: "unresolvable", host: "no-such-host.invalid", results: []probe.Result{{
			Target: "no-such-host.invalid", Protocol: config.TCP, Port: 8040, TTL: -1,
			Code: probe.NoSuchHost, Err: errors.New(`"no-such-host.invalid" did not resolve: no such host`),
			DNS: 3 * time.Millisecond,
		}}},
		{name: "hping3_missing", results: []probe.Result{{
			Target: "localhost", IP: "127.0.0.1", Protocol: config.TCP, Port: 8040, TTL: -1,
			Code: probe.Failed, Err: missing,
		}}},
		{name: "no_permission", results: []probe.Result{{
			Target: "localhost", IP: "127.0.0.1", Protocol: config.TCP, Port: 8040, TTL: -1,
			Code: probe.Failed, Err: errors.New("hping3 has no permission to open raw sockets: run the plugin as root, or grant the capability with `setcap cap_net_raw+ep /usr/sbin/hping3`"),
		}}},
		{name: "deadline", stop: context.DeadlineExceeded, deadline: 25 * time.Second, results: []probe.Result{{
			Target: "localhost", IP: "127.0.0.1", Protocol: config.TCP, Port: 8040, TTL: -1,
			Code: probe.Failed, Err: errors.New("probe cancelled: the plugin is stopping"),
		}}},
		// The round did not return within the grace after the deadline:
		// the same object, from no result at all.
		{name: "deadline", stop: context.DeadlineExceeded, deadline: 25 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := oldHeader
			if c.host != "" {
				h.Host = c.host
			}
			got := encode(t, render(h, c.results, c.stop, c.deadline, c.changed))
			path := filepath.Join("testdata", c.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// encode returns the JSON as Main prints it, indented for readable goldens,
// after checking that it is one valid object.
func encode(t *testing.T, o object) []byte {
	t.Helper()
	b, err := marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, b)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestRenderInvariants checks the rules every object follows whatever the
// result, on the same cases as the goldens plus a stopped-but-finished round.
func TestRenderInvariants(t *testing.T) {
	ok := tcpResult()
	cases := map[string]object{
		"ok":                 render(oldHeader, []probe.Result{ok}, nil, DefaultDeadline, false),
		"ok despite expired": render(oldHeader, []probe.Result{ok}, context.DeadlineExceeded, DefaultDeadline, false),
		"no result":          render(oldHeader, nil, nil, DefaultDeadline, false),
		"interrupted":        render(oldHeader, nil, context.Canceled, DefaultDeadline, false),
	}
	for name, o := range cases {
		var m map[string]any
		b, _ := marshal(o)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m["host"] != "localhost" || m["plugin_version"] != 1.0 || m["heartbeat_required"] != true {
			t.Errorf("%s: header = %v %v %v", name, m["host"], m["plugin_version"], m["heartbeat_required"])
		}
		_, hasStatus := m["status"]
		_, hasMsg := m["msg"]
		_, hasRTT := m["rt avg"]
		if hasStatus != hasMsg || hasStatus == hasRTT {
			t.Errorf("%s: status %v, msg %v, rt avg %v: want status and msg together, exactly when no RTT", name, hasStatus, hasMsg, hasRTT)
		}
	}
	// A round that finished although the deadline then passed keeps its numbers.
	if v, _ := cases["ok despite expired"].get(keyRTTAvg); v != 0.65 {
		t.Errorf("ok despite expired: rt avg = %v, want 0.65", v)
	}
	if v, _ := cases["interrupted"].get(keyMsg); v == nil || !bytes.Contains([]byte(v.(string)), []byte("interrupted")) {
		t.Errorf("interrupted: msg = %v", v)
	}
}
