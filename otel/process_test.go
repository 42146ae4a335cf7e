package otel

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// rssKiB reads the resident set size of a running process.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
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
