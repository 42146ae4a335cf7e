package hardening

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// copyExec copies src to dst with mode 0755.
func copyExec(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// grant gives the file path the capabilities caps with setcap (the tool
// at that path).
func grant(t *testing.T, setcap, caps, path string) {
	t.Helper()
	if out, err := exec.Command(setcap, caps, path).CombinedOutput(); err != nil {
		t.Fatalf("setcap %s %s: %v: %s", caps, path, err, out)
	}
}

// TestWithoutRoot runs the plugin as nobody against 127.0.0.1 with a copy
// of the real hping3: with cap_net_raw+ep on the copy it measures, with
// hping3's clock and one W! naming the capability the plugin lacks; with
// the capability on the plugin's copy too, with the kernel's clock and no
// W!; without it on hping3, every target gets result_code 2 and the E!
// line gives the setcap fix for that very file. Nobody's ambient set stays
// empty (--inh-caps=-all): each binary holds only its own file capability.
func TestWithoutRoot(t *testing.T) {
	testbin.RequireRoot(t)
	hping3 := testbin.RequireTool(t, "hping3")
	setcap := testbin.RequireTool(t, "setcap")
	setpriv := testbin.RequireTool(t, "setpriv")
	dir := testbin.OpenDir(t)
	plugin := filepath.Join(dir, "hping3-plugin")
	copyExec(t, testbin.Plugin(t), plugin)
	withCap := filepath.Join(dir, "hping3-cap")
	withoutCap := filepath.Join(dir, "hping3-plain")
	copyExec(t, hping3, withCap)
	copyExec(t, hping3, withoutCap)
	grant(t, setcap, "cap_net_raw+ep", withCap)

	pluginCap := filepath.Join(dir, "hping3-plugin-cap")
	copyExec(t, testbin.Plugin(t), pluginCap)
	grant(t, setcap, "cap_net_raw=p", pluginCap)
	run := func(plugin, bin string) (string, string) {
		cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
			plugin, "--once", "--debug", "--hping3", bin, "--target", "127.0.0.1", "--count", "2", "--interval", "50ms", "--timeout", "300ms")
		cmd.Dir = dir
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v; stderr:\n%s", bin, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	asNobody := func(bin string) (string, string) { return run(plugin, bin) }

	noCap := "W! the plugin has no CAP_NET_RAW of its own"
	stdout, stderr := asNobody(withCap)
	lines := decodeLines(t, stdout)
	if len(lines) != 1 || lines[0].fields["result_code"].IntV() != 0 || lines[0].fields["packets_received"].IntV() != 2 {
		t.Errorf("as nobody with cap_net_raw on hping3: %s\nstderr:\n%s", stdout, stderr)
	}
	if strings.Count(stderr, noCap) != 1 || strings.Count(stderr, "(hping3 clock)") != 2 || strings.Contains(stderr, "(kernel clock)") {
		t.Errorf("as nobody, the plugin without the capability: want one %q and two packets on hping3's clock:\n%s", noCap, stderr)
	}

	stdout, stderr = run(pluginCap, withCap)
	lines = decodeLines(t, stdout)
	if len(lines) != 1 || lines[0].fields["result_code"].IntV() != 0 || lines[0].fields["packets_received"].IntV() != 2 {
		t.Errorf("as nobody with cap_net_raw on both: %s\nstderr:\n%s", stdout, stderr)
	}
	if strings.Contains(stderr, "W! ") || strings.Count(stderr, "(kernel clock)") != 2 {
		t.Errorf("as nobody with cap_net_raw on both: want no W! and two packets on the kernel's clock:\n%s", stderr)
	}

	stdout, stderr = asNobody(withoutCap)
	lines = decodeLines(t, stdout)
	if len(lines) != 1 || lines[0].fields["result_code"].IntV() != 2 {
		t.Errorf("as nobody without the capability: %s", stdout)
	}
	want := []string{`target "127.0.0.1"`, "hping3 has no permission to open raw sockets", "setcap cap_net_raw+ep " + withoutCap}
	if !oneLineHasAll(stderr, "E! ", want) {
		t.Errorf("stderr lacks an E! line with %q:\n%s", want, stderr)
	}
}

// TestAmbientNotWithFileCapability: why the packaged service gives
// CAP_NET_RAW ambient (AmbientCapabilities) and neither binary a file
// capability (docs/install.md). Run as nobody with CAP_NET_RAW ambient, as
// the unit runs it, a plugin without a file capability keeps the ambient
// set, times on the kernel's clock, and hands it to a plain hping3, which
// sends; the same plugin with cap_net_raw=p loses the ambient set at exec
// (the kernel clears it for a program with file capabilities), and hping3
// then cannot send: result_code 2.
func TestAmbientNotWithFileCapability(t *testing.T) {
	testbin.RequireRoot(t)
	hping3 := testbin.RequireTool(t, "hping3")
	setcap := testbin.RequireTool(t, "setcap")
	setpriv := testbin.RequireTool(t, "setpriv")
	dir := testbin.OpenDir(t)
	plain, withFileCap := filepath.Join(dir, "hping3-plugin"), filepath.Join(dir, "hping3-plugin-cap")
	copyExec(t, testbin.Plugin(t), plain)
	copyExec(t, testbin.Plugin(t), withFileCap)
	grant(t, setcap, "cap_net_raw=p", withFileCap)
	run := func(plugin string) (code int64, stderr string) {
		cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=+net_raw", "--ambient-caps=+net_raw",
			plugin, "--once", "--debug", "--hping3", hping3, "--target", "127.0.0.1", "--count", "2", "--interval", "50ms", "--timeout", "300ms")
		var stdout, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v; stderr:\n%s", plugin, err, errb.String())
		}
		lines := decodeLines(t, stdout.String())
		if len(lines) != 1 {
			t.Fatalf("%s: %d lines, want 1:\n%s", plugin, len(lines), stdout.String())
		}
		return lines[0].fields["result_code"].IntV(), errb.String()
	}
	if code, stderr := run(plain); code != 0 || strings.Count(stderr, "(kernel clock)") != 2 {
		t.Errorf("ambient CAP_NET_RAW, no file capability: result_code %d, want 0 with two packets on the kernel's clock:\n%s", code, stderr)
	}
	code, stderr := run(withFileCap)
	if want := []string{`target "127.0.0.1"`, "hping3 has no permission to open raw sockets"}; code != 2 || !oneLineHasAll(stderr, "E! ", want) {
		t.Errorf("ambient CAP_NET_RAW and cap_net_raw=p on the plugin: result_code %d, want 2 with an E! line %q:\n%s", code, want, stderr)
	}
}

// TestPluginCapabilityReachesNoChild: the plugin's own file capability
// (cap_net_raw=p, as the packages set it; it raises it itself, on one
// thread, to open its packet sockets) reaches no program it starts.
// Run as nobody with every engine and a stand-in for hping3 that records
// its capability sets, the stand-in holds none: the plugin never raises
// the ambient set, so --hping3 cannot hand CAP_NET_RAW to a program of the
// user's choosing.
func TestPluginCapabilityReachesNoChild(t *testing.T) {
	testbin.RequireRoot(t)
	setcap := testbin.RequireTool(t, "setcap")
	setpriv := testbin.RequireTool(t, "setpriv")
	dir := testbin.OpenDir(t)
	plugin := filepath.Join(dir, "hping3-plugin")
	copyExec(t, testbin.Plugin(t), plugin)
	grant(t, setcap, "cap_net_raw=p", plugin)
	if err := os.Chmod(dir, 0o777); err != nil { // the stand-in writes here as nobody
		t.Fatal(err)
	}
	for _, engine := range []string{"tcl", "cli"} {
		record := filepath.Join(dir, "caps-"+engine)
		bin := script(t, dir, "hping3-"+engine, "grep '^Cap' /proc/self/status >"+record+"\nexit 3\n")
		cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
			plugin, "--once", "--engine", engine, "--hping3", bin, "--target", "127.0.0.1", "--count", "1", "--timeout", "300ms")
		out, _ := cmd.CombinedOutput()
		b, err := os.ReadFile(record)
		if err != nil {
			t.Fatalf("engine %s: the stand-in did not run: %v\n%s", engine, err, out)
		}
		for _, field := range []string{"CapInh:", "CapPrm:", "CapEff:", "CapAmb:"} {
			if got := statusLine(string(b), field); got != "0000000000000000" {
				t.Errorf("engine %s: the program the plugin started has %s %s, want none:\n%s", engine, field, got, b)
			}
		}
	}
}

func statusLine(status, field string) string {
	for _, l := range strings.Split(status, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == field {
			return f[1]
		}
	}
	return ""
}
