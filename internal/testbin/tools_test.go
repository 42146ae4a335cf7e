package testbin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTools builds (or finds cached) the third-party binaries the
// end-to-end tests run, and checks each has the components those tests
// need. `make tools` runs it alone, so that CI builds them before the
// timing-sensitive tests start rather than beside them.
func TestTools(t *testing.T) {
	out, err := exec.Command(Telegraf(t), "plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("telegraf plugins: %v\n%s", err, out)
	}
	for _, p := range []string{"inputs.execd", "inputs.ping", "outputs.file"} {
		if !strings.Contains(string(out), p+"\n") {
			t.Errorf("Telegraf lacks %s:\n%s", p, out)
		}
	}
	out, err = exec.Command(Otelcol(t), "components").CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol components: %v\n%s", err, out)
	}
	for _, c := range []string{"otlpreceiver v0.165.0", "debugexporter v0.165.0", "otlpexporter v0.165.0"} {
		if !strings.Contains(string(out), c) {
			t.Errorf("Collector lacks %s:\n%s", c, out)
		}
	}
}
