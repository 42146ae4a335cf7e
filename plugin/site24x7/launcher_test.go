package site24x7

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// installLauncher copies examples/site24x7/hping3.sh into a fresh plugin
// directory, with the binary next to it when bin is not empty.
func installLauncher(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, filepath.Join(testbin.RepoRoot(), "examples", "site24x7", "hping3.sh"), filepath.Join(dir, "hping3.sh"))
	if bin != "" {
		copyFile(t, bin, filepath.Join(dir, "hping3-plugin"))
	}
	return filepath.Join(dir, "hping3.sh")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// The launcher hands the agent's arguments to the binary unchanged, hostile
// ones included, and exits with the binary's JSON.
func TestLauncherForwardsArguments(t *testing.T) {
	sh := installLauncher(t, testbin.Plugin(t))
	m := runPlugin(t, nil, sh, "--host=localhost", "--plugin_version=4", "--heartbeat=False", "--hping3=/nonexistent/hping3")
	wantDown(t, m, "hping3 not found at /nonexistent/hping3")
	if m["host"] != "localhost" || m["plugin_version"] != 4.0 || m["heartbeat_required"] != false {
		t.Errorf("header %v %v %v", m["host"], m["plugin_version"], m["heartbeat_required"])
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	m = runPlugin(t, nil, sh, "--host", "$(touch "+pwned+")", "--plugin-version", "1", "--heartbeat", "True")
	wantDown(t, m, "is not a valid host name")
	if _, err := os.Stat(pwned); err == nil {
		t.Error("the launcher let a hostile host run a command")
	}
}

// Without the binary the launcher still prints a Down object with the fix,
// keyed to the section's own monitor; a host that is not a plain name stays
// out of the JSON.
func TestLauncherWithoutBinary(t *testing.T) {
	sh := installLauncher(t, "")
	t.Setenv("HPING3_PLUGIN", filepath.Join(t.TempDir(), "hping3-plugin")) // not /usr/bin's, which a package may hold
	for _, c := range []struct {
		args      []string
		host      any
		version   float64
		heartbeat bool
	}{
		{[]string{"--host=localhost", "--plugin_version=1", "--heartbeat=True"}, "localhost", 1, true},
		{[]string{"--host", `"db-1.example"`, "--plugin-version", `"7"`, "--heartbeat", "False"}, "db-1.example", 7, false},
		{[]string{"--host", `a"b`, "--plugin_version=x", "--heartbeat=0"}, nil, 1, false},
		{[]string{"--heartbeat"}, nil, 1, true},
	} {
		m := runPlugin(t, nil, sh, c.args...)
		wantDown(t, m, "hping3-plugin not found next to hping3.sh nor at", "install the hping3-plugin package", "README")
		if m["host"] != c.host || m["plugin_version"] != c.version || m["heartbeat_required"] != c.heartbeat {
			t.Errorf("%q: header %v %v %v, want %v %v %v", c.args, m["host"], m["plugin_version"], m["heartbeat_required"], c.host, c.version, c.heartbeat)
		}
	}
}

// Without a binary next to it the launcher runs the package's
// (/usr/bin/hping3-plugin, or HPING3_PLUGIN): the packaged install needs
// only hping3.sh and hping3.cfg in the plugin directory.
func TestLauncherRunsThePackagedBinary(t *testing.T) {
	sh := installLauncher(t, "")
	t.Setenv("HPING3_PLUGIN", testbin.Plugin(t))
	m := runPlugin(t, nil, sh, "--host=localhost", "--plugin_version=2", "--heartbeat=True", "--hping3=/nonexistent/hping3")
	wantDown(t, m, "hping3 not found at /nonexistent/hping3")
	if m["plugin_version"] != 2.0 {
		t.Errorf("plugin_version %v, want 2", m["plugin_version"])
	}
}
