package site24x7

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

var pathOpts = Options{Header: oldHeader, Deadline: DefaultDeadline}

// pathRun is the result of one run of the default monitor whose path has
// id and hops hops.
func pathRun(id string, hops int) []probe.Result {
	r := tcpResult()
	r.Path = &probe.Path{HopCount: hops, Reached: true, ID: id}
	return []probe.Result{r}
}

// reportPath runs report as one agent poll does and returns the JSON's hop
// count and path changed (-1 when absent) and what was logged.
func reportPath(t *testing.T, results []probe.Result) (hops, changed int, log string) {
	t.Helper()
	var logs strings.Builder
	o := report(pathOpts, results, nil, logger.New(&logs, false))
	if _, down := o.get(keyStatus); down {
		t.Fatalf("the report is Down: %v", o)
	}
	hops, changed = -1, -1
	if v, ok := o.get(keyHopCount); ok {
		hops = v.(int)
	}
	if v, ok := o.get(keyPathChanged); ok {
		changed = v.(int)
	}
	return hops, changed, logs.String()
}

// Across runs, each one a new process as under the agent: 0 on the first
// run, 0 for the same path, 1 when it changed, 0 again when it holds.
func TestPathChangedAcrossRuns(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	for i, run := range []struct {
		id          string
		hops        int
		wantChanged int
	}{
		{"0123456789abcdef", 3, 0}, // first run: nothing to compare with
		{"0123456789abcdef", 3, 0},
		{"00000000000000ff", 4, 1},
		{"00000000000000ff", 4, 0},
	} {
		hops, changed, log := reportPath(t, pathRun(run.id, run.hops))
		if hops != run.hops || changed != run.wantChanged || log != "" {
			t.Errorf("run %d: hop count %d, path changed %d, log %q; want %d, %d, nothing logged", i+1, hops, changed, log, run.hops, run.wantChanged)
		}
	}
	file := filepath.Join(cache, "hping3-plugin", "site24x7-localhost-tcp-8040.path")
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "00000000000000ff\n" {
		t.Errorf("%s: %q, %v; want the last path", file, b, err)
	}
	for path, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode(), err, want)
		}
	}
	// Nothing left behind by the atomic writes.
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("%d files in %s, want 1: %v", len(entries), filepath.Dir(file), entries)
	}
}

// Without XDG_CACHE_HOME the path goes under ~/.cache; each monitor (host,
// protocol, port) keeps its own, so another port is a first run.
func TestPathChangedPerMonitorUnderHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", home)
	reportPath(t, pathRun("0123456789abcdef", 3))
	other := pathRun("00000000000000ff", 3)
	other[0].Port = 8041
	if _, changed, _ := reportPath(t, other); changed != 0 {
		t.Errorf("another port's first run: path changed %d, want 0", changed)
	}
	icmp := pathRun("00000000000000ff", 3)
	icmp[0].Protocol, icmp[0].Port, icmp[0].PortState = config.ICMP, 0, ""
	reportPath(t, icmp)
	for _, name := range []string{"site24x7-localhost-tcp-8040.path", "site24x7-localhost-tcp-8041.path", "site24x7-localhost-icmp.path"} {
		if _, err := os.Stat(filepath.Join(home, ".cache", "hping3-plugin", name)); err != nil {
			t.Error(err)
		}
	}
	if _, changed, _ := reportPath(t, pathRun("00000000000000ff", 3)); changed != 1 {
		t.Errorf("port 8040 with a new path: path changed %d, want 1", changed)
	}
}

// A cache that cannot be written never fails the report: the hop count is
// there, path changed is 0 in every run, and a W! line says why.
func TestPathChangedUnwritableCache(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", notDir) // a file: no directory can be made in it, even as root
	for _, id := range []string{"0123456789abcdef", "00000000000000ff"} {
		hops, changed, log := reportPath(t, pathRun(id, 3))
		want := "W! localhost: path changed is 0 in this run, as the previous run's path cannot be compared: keeping the path in " +
			notDir + "/hping3-plugin/site24x7-localhost-tcp-8040.path: mkdir " + notDir + ": not a directory " +
			"(the path is kept in $XDG_CACHE_HOME/hping3-plugin, or ~/.cache/hping3-plugin, which the agent's user must be able to write)\n"
		if hops != 3 || changed != 0 || log != want {
			t.Errorf("hop count %d, path changed %d, log\n%q\nwant 3, 0 and\n%q", hops, changed, log, want)
		}
	}

	// No cache directory at all (an agent started without HOME).
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	hops, changed, log := reportPath(t, pathRun("0123456789abcdef", 3))
	if hops != 3 || changed != 0 || !strings.HasPrefix(log, "W! localhost: path changed is 0 in this run, as the previous run's path cannot be compared: no cache directory: ") {
		t.Errorf("without HOME: hop count %d, path changed %d, log %q", hops, changed, log)
	}
}

// A directory where the file should be: every run says so and reports no
// change, until it is gone; then the runs compare again.
func TestPathChangedBlockedFileRecovers(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	file := filepath.Join(cache, "hping3-plugin", "site24x7-localhost-tcp-8040.path")
	if err := os.MkdirAll(file, 0o700); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, changed, log := reportPath(t, pathRun("0123456789abcdef", 3))
		if changed != 0 || !strings.Contains(log, ": keeping the path in "+file+": rename ") {
			t.Errorf("path changed %d, log %q; want 0 and the failed rename", changed, log)
		}
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	reportPath(t, pathRun("0123456789abcdef", 3))
	if _, changed, log := reportPath(t, pathRun("00000000000000ff", 3)); changed != 1 || log != "" {
		t.Errorf("after the directory went: path changed %d, log %q; want 1 and nothing logged", changed, log)
	}
}

// A file that cannot be read (here a symbolic link to itself) is replaced:
// that run reports no change and says why, the next ones compare again.
func TestPathChangedUnreadableFileIsReplaced(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	file := filepath.Join(cache, "hping3-plugin", "site24x7-localhost-tcp-8040.path")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, file); err != nil {
		t.Fatal(err)
	}
	_, changed, log := reportPath(t, pathRun("0123456789abcdef", 3))
	if want := ": reading " + file + ": open " + file + ": too many levels of symbolic links ("; changed != 0 || !strings.Contains(log, want) {
		t.Errorf("path changed %d, log %q; want 0 and %q", changed, log, want)
	}
	if _, changed, log := reportPath(t, pathRun("00000000000000ff", 3)); changed != 1 || log != "" {
		t.Errorf("after the file was replaced: path changed %d, log %q; want 1 and nothing logged", changed, log)
	}
}

// Without a path (path = false), or when the probe did not run, the JSON
// has neither key and nothing is kept.
func TestNoPathNoKeysNoFile(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	if hops, changed, _ := reportPath(t, []probe.Result{tcpResult()}); hops != -1 || changed != -1 {
		t.Errorf("no path: hop count %d, path changed %d; want neither key", hops, changed)
	}
	failed := pathRun("0123456789abcdef", 3)
	failed[0].Code = probe.Failed
	o := report(pathOpts, failed, nil, logger.Discard())
	if _, ok := o.get(keyHopCount); ok {
		t.Errorf("failed probe: %v has a hop count", o)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("the cache holds %v, want nothing", entries)
	}
}

func TestFileSafe(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	for host, want := range map[string]string{
		"LocalHost":              "localhost",
		"db_1.example":           "db_1.example",
		"198.18.0.7":             "198.18.0.7",
		"a/../b c":               "a_.._b_c",
		long:                     long[:183] + "-",
		long[:len(long)-1] + "e": long[:183] + "-",
	} {
		got := fileSafe(host)
		if len(want) == 184 { // cut: the prefix, then a hash of the whole name
			if !strings.HasPrefix(got, want) || len(got) != maxStateName {
				t.Errorf("fileSafe(%d characters) = %q, want %q and 16 hex digits", len(host), got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", host, got, want)
		}
	}
	if a, b := fileSafe(long), fileSafe(long[:len(long)-1]+"e"); a == b {
		t.Errorf("two long names share the file name %q", a)
	}
}
