package testotlp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ready is what a Collector prints once its pipelines run.
const ready = "Everything is ready. Begin running and processing data."

// StartCollector runs the Collector bin (testbin.Otelcol) with the
// configuration file cfg, its environment the test's plus env, and waits
// up to 30 s until it is ready: until then an export to it would fail.
func StartCollector(t testing.TB, bin, cfg string, env ...string) *Proc {
	t.Helper()
	c := Start(t, env, bin, "--config", cfg)
	deadline := time.After(30 * time.Second)
	for {
		for _, ln := range c.Out.All() {
			if strings.Contains(ln.Text, ready) {
				return c
			}
		}
		select {
		case <-c.Out.added:
		case <-c.exited:
			t.Fatalf("collector exited before it was ready:\n%s", c.Out)
		case <-deadline:
			t.Fatalf("collector not ready within 30 s:\n%s", c.Out)
		}
	}
}

// ForwardingConfig is the configuration of a Collector that receives OTLP
// over gRPC on recv and passes every metric on, in plain text, to the OTLP
// gRPC server at to (a Sink's Addr). With debug the debug exporter prints
// them too, in detail: what a user watching the Collector sees. Its own
// telemetry is off, so that it listens on no further port.
func ForwardingConfig(recv, to string, debug bool) string {
	exporters, debugExporter := "[otlp_grpc]", ""
	if debug {
		exporters = "[otlp_grpc, debug]"
		debugExporter = "  debug:\n    verbosity: detailed\n"
	}
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
%sservice:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: %s
`, recv, to, debugExporter, exporters)
}
