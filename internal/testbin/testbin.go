// Package testbin gives tests the real programs they run: the plugin binary
// built from this tree, and third-party binaries (Telegraf, an OpenTelemetry
// Collector) built once from the Go module proxy and cached between runs.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// InCI reports whether the tests run under CI, where nothing may skip.
func InCI() bool { return os.Getenv("CI") != "" }

// Skip skips the test with reason, or fails it under CI: there every
// prerequisite is installed by .ci/run, so a skip would hide a broken setup.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing in CI: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot skips (fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (raw sockets and network namespaces)")
	}
}

// RequireTool skips (fails in CI) unless name is on PATH or in /usr/sbin, and
// returns its path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); isExec(p) {
		return p
	}
	Skip(t, name+" is not installed (apt-get install "+name+")")
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// RepoRoot returns the module root, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
)

// Plugin builds cmd/hping3-plugin once per test process and returns its path.
func Plugin(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hping3-plugin-bin-")
		if err != nil {
			pluginErr = err
			return
		}
		pluginPath = filepath.Join(dir, "hping3-plugin")
		cmd := exec.Command("go", "build", "-o", pluginPath, "./cmd/hping3-plugin")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = &buildError{what: "hping3-plugin", out: string(out), err: err}
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return pluginPath
}

// ToolsDir is where third-party test binaries are cached:
// $HPING3_PLUGIN_TOOLS, or the user cache directory.
func ToolsDir() string {
	if d := os.Getenv("HPING3_PLUGIN_TOOLS"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "hping3-plugin-tools")
}

// Tool returns the cached binary ToolsDir()/name/bin (name carries the
// version, e.g. "telegraf-1.37.2"), building it with build(dir) when it is
// missing. A file lock keeps test processes running in parallel
// from building the same tool twice.
func Tool(t testing.TB, name, binName string, build func(dir string) error) string {
	t.Helper()
	dir := filepath.Join(ToolsDir(), name)
	bin := filepath.Join(dir, binName)
	if isExec(bin) {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(ToolsDir(), name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExec(bin) { // built by another process while we waited
		return bin
	}
	t.Logf("building %s into %s (cached for later runs)", name, dir)
	if err := build(dir); err != nil {
		t.Fatalf("building %s: %v", name, err)
	}
	if !isExec(bin) {
		t.Fatalf("building %s left no binary at %s", name, bin)
	}
	return bin
}

type buildError struct {
	what, out string
	err       error
}

func (e *buildError) Error() string { return "build " + e.what + ": " + e.err.Error() + "\n" + e.out }

// OpenDir returns a fresh directory under /tmp that every user may read and
// traverse (t.TempDir is 0700), so that programs a test runs as nobody can
// reach what it holds; it is removed when the test ends.
func OpenDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hping3-plugin-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
