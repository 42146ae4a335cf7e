package main

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

func stamp(t *testing.T, v, c string) {
	t.Helper()
	oldV, oldC := version, commit
	version, commit = v, c
	t.Cleanup(func() { version, commit = oldV, oldC })
}

func TestVersionText(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	devel := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "5eade62c0ffee"}, {Key: "vcs.modified", Value: "true"},
	}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}}
	cases := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		bin             string
		binErr, tclErr  error
		want            string
	}{
		{"release build", "1.2.0", "0123456789abcdef", vcs, "/usr/sbin/hping3", nil, nil,
			"hping3-plugin 1.2.0\ncommit: 0123456789abcdef\ngo: go1.26.8 " + platform + "\nhping3: /usr/sbin/hping3 (Tcl API: yes, engine tcl)\n"},
		{"checkout build", "", "", vcs, "/usr/sbin/hping3", nil, nil,
			"hping3-plugin dev\ncommit: 5eade62c0ffee-dirty\ngo: go1.26.8 " + platform + "\nhping3: /usr/sbin/hping3 (Tcl API: yes, engine tcl)\n"},
		{"go install @v1.4.0", "", "", installed, "/usr/local/bin/hping3", nil, nil,
			"hping3-plugin 1.4.0\ncommit: unknown\ngo: go1.26.1 " + platform + "\nhping3: /usr/local/bin/hping3 (Tcl API: yes, engine tcl)\n"},
		{"no vcs information", "", "", devel, "/usr/sbin/hping3", nil, errors.New("/usr/sbin/hping3 is built without Tcl (it does not link libtcl)"),
			"hping3-plugin dev\ncommit: unknown\ngo: go1.26.8 " + platform + "\nhping3: /usr/sbin/hping3 (Tcl API: no, engine cli: /usr/sbin/hping3 is built without Tcl (it does not link libtcl))\n"},
		{"no build information", "", "", nil, "", errors.New("hping3 not found at /usr/sbin/hping3: install it (apt-get install hping3)"), nil,
			"hping3-plugin dev\ncommit: unknown\ngo: " + runtime.Version() + " " + platform + "\nhping3: none (hping3 not found at /usr/sbin/hping3: install it (apt-get install hping3))\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stamp(t, c.version, c.commit)
			tclAsked := ""
			env := versionEnv{
				buildInfo: func() (*debug.BuildInfo, bool) { return c.bi, c.bi != nil },
				hping3Binary: func(configured string) (string, error) {
					if configured != "" {
						t.Errorf("hping3.Binary(%q): --version must look up the default hping3, Binary(\"\")", configured)
					}
					return c.bin, c.binErr
				},
				tclAvailable: func(bin string) error { tclAsked = bin; return c.tclErr },
			}
			if got := versionText(env); got != c.want {
				t.Errorf("versionText:\n%s\nwant:\n%s", got, c.want)
			}
			if c.binErr == nil && tclAsked != c.bin {
				t.Errorf("Tcl API checked on %q, want the binary found, %q", tclAsked, c.bin)
			}
			if c.binErr != nil && tclAsked != "" {
				t.Errorf("Tcl API checked on %q although no hping3 was found", tclAsked)
			}
		})
	}
}

// TestVersionTextRealHPing3 runs the real lookups: Debian's hping3 has the
// Tcl API, so the default engine is tcl.
func TestVersionTextRealHPing3(t *testing.T) {
	bin := testbin.RequireTool(t, "hping3")
	stamp(t, "", "")
	var b strings.Builder
	writeVersion(&b)
	lines := strings.Split(b.String(), "\n")
	if len(lines) != 5 || lines[4] != "" {
		t.Fatalf("want 4 lines, got %q", b.String())
	}
	if lines[0] != "hping3-plugin dev" {
		t.Errorf("line 1 = %q, want %q (a test binary has no stamp and no module version)", lines[0], "hping3-plugin dev")
	}
	if want := "go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH; lines[2] != want {
		t.Errorf("line 3 = %q, want %q", lines[2], want)
	}
	if want := "hping3: " + bin + " (Tcl API: yes, engine tcl)"; lines[3] != want {
		t.Errorf("line 4 = %q, want %q", lines[3], want)
	}
}

func TestHasVersionFlag(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--once", "--target", "127.0.0.1", "--version"}, true},
		{[]string{"--site24x7", "--version"}, true},
		{[]string{"--version=true"}, true},
		{[]string{"--version=false"}, false},
		{[]string{"--version", "--version=0"}, false},
		{[]string{"--version=maybe"}, false},
		{[]string{"--", "--version"}, false},
		{[]string{"--versions"}, false},
		{[]string{"---version"}, false},
		{[]string{"version"}, false},
	}
	for _, c := range cases {
		if got := hasVersionFlag(c.args); got != c.want {
			t.Errorf("hasVersionFlag(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

// TestRunPrintsVersion: --version is wired into run() ahead of every mode
// and flag check, prints versionText and exits 0 with nothing on stderr.
func TestRunPrintsVersion(t *testing.T) {
	stamp(t, "1.2.0", "0123456789abcdef")
	want := versionText(realVersionEnv)
	for _, args := range [][]string{{"--version"}, {"-version"}, {"--once", "--otlp", "--version"}, {"--site24x7", "--version"}} {
		code, stdout, stderr := runMain(args...)
		if code != exitOK || stdout != want || stderr != "" {
			t.Errorf("run(%q) = %d\nstdout:\n%s\nstderr:\n%s\nwant 0 and:\n%s\n(is --version wired into run(): if hasVersionFlag(args) { writeVersion(stdout); return exitOK }?)",
				args, code, stdout, stderr, want)
		}
	}
}
