package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Versions of the OpenTelemetry Collector used in tests. The builder and the
// components must carry the same collector release, or the builder refuses
// the manifest.
const (
	OtelcolVersion = "0.165.0"
	builderModule  = "go.opentelemetry.io/collector/cmd/builder@v" + OtelcolVersion
)

// otelcolManifest is the collector builder's configuration: an OTLP
// receiver for the plugin to export to, an OTLP exporter so a test can see
// what the Collector passed on, and the debug exporter a user would watch.
// Only core components: the module proxy serves them all.
const otelcolManifest = `dist:
  name: otelcol
  description: hping3-plugin test collector
  output_path: %s
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v%[2]s
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v%[2]s
  - gomod: go.opentelemetry.io/collector/exporter/otlpexporter v%[2]s
`

// Builder returns the OpenTelemetry collector builder (ocb), installing it
// from the Go module proxy into the tools cache when it is missing.
func Builder(t testing.TB) string {
	t.Helper()
	return Tool(t, "builder", "builder", func(dir string) error {
		cmd := exec.Command("go", "install", builderModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return &buildError{what: builderModule, out: string(out), err: err}
		}
		return nil
	})
}

// Otelcol returns a real OpenTelemetry Collector binary built with the
// collector builder from the Go module proxy, cached between runs (the cold
// build takes about two minutes).
func Otelcol(t testing.TB) string {
	t.Helper()
	return Tool(t, "otelcol-"+OtelcolVersion, "otelcol", func(dir string) error {
		builder := Builder(t)
		// The builder writes its generated sources next to the binary; keep
		// them in a scratch directory (on the cache's file system, so the
		// binary can be renamed into place) and keep only the binary.
		src, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(src)
		manifest := filepath.Join(src, "manifest.yaml")
		out := filepath.Join(src, "dist")
		if err := os.WriteFile(manifest, fmt.Appendf(nil, otelcolManifest, out, OtelcolVersion), 0o644); err != nil {
			return err
		}
		cmd := exec.Command(builder, "--config="+manifest)
		if b, err := cmd.CombinedOutput(); err != nil {
			return &buildError{what: "otelcol " + OtelcolVersion, out: string(b), err: err}
		}
		return os.Rename(filepath.Join(out, "otelcol"), filepath.Join(dir, "otelcol"))
	})
}
