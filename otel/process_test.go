package otel

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// usage is what a running plugin holds, read from outside: its anonymous
// resident memory (heap, stacks, the runtime's own; not the binary's pages,
// which fault in as new code runs, nor a packet ring, which is a socket's),
// its open descriptors, and its goroutines, which its Prometheus endpoint
// reports (go_goroutines).
type usage struct {
	anonKiB, rssKiB int
	fds, goroutines int
}

func (u usage) String() string {
	return fmt.Sprintf("anon %d KiB (RSS %d KiB), %d fds, %d goroutines", u.anonKiB, u.rssKiB, u.fds, u.goroutines)
}

// readUsage samples pid, whose Prometheus endpoint is at prom.
func readUsage(t *testing.T, pid int, prom string) usage {
	t.Helper()
	var u usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "RssAnon:":
			u.anonKiB, err = strconv.Atoi(f[1])
		case "VmRSS:":
			u.rssKiB, err = strconv.Atoi(f[1])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if u.anonKiB == 0 || u.rssKiB == 0 {
		t.Fatalf("no RssAnon or VmRSS in /proc/%d/status", pid)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	u.fds = len(fds)
	req, err := http.NewRequest(http.MethodGet, "http://"+prom+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // no idle connection (and goroutine) left behind in the plugin
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	u.goroutines = -1
	for _, l := range strings.Split(string(text), "\n") {
		if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("go_goroutines %q: %v", v, err)
			}
			u.goroutines = int(n)
		}
	}
	if u.goroutines < 0 {
		t.Fatalf("no go_goroutines in the plugin's /metrics:\n%s", text)
	}
	return u
}

// startCollector runs a real Collector receiving on recv and forwarding to
// the sink and to the debug exporter, whose output is what a user watching
// the Collector sees, and waits until it is ready.
func startCollector(t *testing.T, bin, recv string, s *testotlp.Sink) *testotlp.Proc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(cfg, []byte(testotlp.ForwardingConfig(recv, s.Addr, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	return testotlp.StartCollector(t, bin, cfg)
}

// prerequisites skips (fails in CI) without root or hping3, and returns
// the plugin and Collector binaries.
func prerequisites(t *testing.T) (plugin, collector string) {
	t.Helper()
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	return testbin.Plugin(t), testbin.Otelcol(t)
}
