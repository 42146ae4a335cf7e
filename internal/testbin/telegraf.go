package testbin

import (
	"os"
	"os/exec"
	"testing"
)

// TelegrafVersion is the Telegraf release the end-to-end tests run.
const TelegrafVersion = "v1.37.2"

// Telegraf returns a Telegraf binary with only the plugins the tests use
// (inputs.execd, outputs.file, and inputs.ping to compare against), built from
// the Go module proxy on first use (about a minute, 30 MB) and cached under
// ToolsDir().
func Telegraf(t testing.TB) string {
	t.Helper()
	return Tool(t, "telegraf-1.37.2", "telegraf", func(dir string) error {
		cmd := exec.Command("go", "install", "-tags", "custom,inputs.execd,outputs.file,inputs.ping",
			"github.com/influxdata/telegraf/cmd/telegraf@"+TelegrafVersion)
		// Outside this module, so its go.mod plays no part in the build.
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return &buildError{what: "telegraf " + TelegrafVersion, out: string(out), err: err}
		}
		return nil
	})
}
