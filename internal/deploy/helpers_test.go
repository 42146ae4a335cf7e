package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/internal/testotlp"
)

// example reads a file of the repository (relative to its root).
func example(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// substitute replaces each old string of pairs by its new one, failing when
// an old one is missing: the example changed and the test must follow.
func substitute(t *testing.T, name, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("%s no longer contains %q", name, pairs[i])
		}
		text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
	}
	return text
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// probePoint accepts a point of metric that came from the plugin probing
// 127.0.0.1 from vantage.
func probePoint(metric, vantage string) func(testotlp.Point) bool {
	return func(p testotlp.Point) bool {
		return p.Metric == metric && p.Attrs["server.address"] == "127.0.0.1" && p.Attrs["vantage"] == vantage
	}
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// TestDeployTools builds what this package's tests cache (the Debian base
// for the container, Telegraf with outputs.influxdb_v2): `make tools` runs
// it first, so that no compilation or debootstrap runs beside the other
// packages' timing-sensitive tests.
func TestDeployTools(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "debootstrap")
	debianRootfs(t)
	telegrafInflux(t)
}
