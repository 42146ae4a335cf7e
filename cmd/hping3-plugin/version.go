package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
)

// version and commit are stamped by release builds (make dist):
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=<full hash>"
//
// Left empty, --version falls back on the build information: the module
// version of a `go install ...@v1.2.0`, the vcs.revision of a build from a
// checkout, else "dev" and "unknown".
var version, commit string

// versionEnv is what --version asks about the build and the machine; tests
// replace each part.
type versionEnv struct {
	buildInfo    func() (*debug.BuildInfo, bool)
	hping3Binary func(configured string) (string, error)
	tclAvailable func(binary string) error
}

var realVersionEnv = versionEnv{
	buildInfo:    debug.ReadBuildInfo,
	hping3Binary: hping3.Binary,
	tclAvailable: tcl.Available,
}

// writeVersion prints --version's text for this build and machine.
func writeVersion(w io.Writer) {
	fmt.Fprint(w, versionText(realVersionEnv))
}

// versionText is --version's output, one fact per line:
//
//	hping3-plugin 1.2.0
//	commit: 0123abcd...
//	go: go1.26.8 linux/amd64
//	hping3: /usr/sbin/hping3 (Tcl API: yes, engine tcl)
//
// The hping3 line names the binary the default settings would run (hping3
// on PATH, else /usr/sbin/hping3) and the engine engine = "auto" picks for
// it, or why there is none.
func versionText(env versionEnv) string {
	v, c, goVersion := version, commit, runtime.Version()
	if bi, ok := env.buildInfo(); ok && bi != nil {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = strings.TrimPrefix(bi.Main.Version, "v")
		}
		if c == "" {
			c = vcsRevision(bi)
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hping3-plugin %s\n", v)
	fmt.Fprintf(&b, "commit: %s\n", c)
	fmt.Fprintf(&b, "go: %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	bin, err := env.hping3Binary("")
	switch {
	case err != nil:
		fmt.Fprintf(&b, "hping3: none (%v)\n", err)
	default:
		if terr := env.tclAvailable(bin); terr != nil {
			fmt.Fprintf(&b, "hping3: %s (Tcl API: no, engine cli: %v)\n", bin, terr)
		} else {
			fmt.Fprintf(&b, "hping3: %s (Tcl API: yes, engine tcl)\n", bin)
		}
	}
	return b.String()
}

// vcsRevision is the commit go build recorded from the checkout, with
// "-dirty" when the tree had changes; "" when it recorded none (a build
// with -buildvcs=false, or outside a repository).
func vcsRevision(bi *debug.BuildInfo) string {
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" && modified {
		rev += "-dirty"
	}
	return rev
}

// hasVersionFlag reports whether args ask for --version (boolFlagSet). It
// is checked before any other parsing, so it works in every mode.
func hasVersionFlag(args []string) bool { return boolFlagSet(args, "version") }
