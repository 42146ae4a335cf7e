package hardening

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// line is one decoded line-protocol line.
type line struct {
	tags   map[string]string
	fields map[string]lineprotocol.Value
}

func decodeLines(t testing.TB, out string) []line {
	t.Helper()
	var lines []line
	dec := lineprotocol.NewDecoderWithBytes([]byte(out))
	for dec.Next() {
		l := line{tags: map[string]string{}, fields: map[string]lineprotocol.Value{}}
		if m, err := dec.Measurement(); err != nil || string(m) != "hping3" {
			t.Fatalf("measurement %q, %v", m, err)
		}
		for k, v, err := dec.NextTag(); k != nil || err != nil; k, v, err = dec.NextTag() {
			if err != nil {
				t.Fatal(err)
			}
			l.tags[string(k)] = string(v)
		}
		for k, v, err := dec.NextField(); k != nil || err != nil; k, v, err = dec.NextField() {
			if err != nil {
				t.Fatal(err)
			}
			l.fields[string(k)] = v
		}
		if _, err := dec.Time(lineprotocol.Nanosecond, time.Time{}); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := dec.Err(); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	return lines
}

// TestBadTargetsBesideAGoodOne runs one round with the real hping3 where
// every target but 127.0.0.1 is hostile or impossible. Each bad one gets its
// own line with result_code 1 or 2 and an E! line; 127.0.0.1, listed twice,
// is probed once and normally.
//
// The IPv6-only name comes from a hosts file bind-mounted over /etc/hosts in
// a mount namespace of the plugin's own (the machine's file is untouched),
// with a resolv.conf pointing at 127.0.0.1, so no query leaves the host.
func TestBadTargetsBesideAGoodOne(t *testing.T) {
	testbin.RequireRoot(t)
	hping3 := testbin.RequireTool(t, "hping3")
	unshare := testbin.RequireTool(t, "unshare")
	dir := testbin.OpenDir(t)
	sandbox := filepath.Join(dir, "sandbox")
	if err := os.Mkdir(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(dir, "hosts")
	resolv := filepath.Join(dir, "resolv.conf")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 v6only.test\n"), 0o644)
	os.WriteFile(resolv, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644)

	long := strings.Repeat("a", 300)
	bad := map[string]struct {
		code int64
		msg  string
	}{
		"-c":                                   {1, "begins with '-'"},
		"--flood":                              {1, "begins with '-'"},
		"-a 10.0.0.1 --rand-source":            {1, "begins with '-'"},
		long:                                   {1, "300 characters, more than 253"},
		"a b":                                  {1, `character ' ' is not allowed`},
		"127.0.0.1;touch " + sandbox + "/x":    {1, `character ';' is not allowed`},
		"$(touch " + sandbox + "/y)":           {1, `character '$' is not allowed`},
		"`touch " + sandbox + "/z`":            {1, "character '`' is not allowed"},
		"127.0.0.1 && touch " + sandbox + "/w": {1, `character ' ' is not allowed`},
		"::1":                                  {2, "IPv6 address: hping3 probes IPv4 only"},
		"2001:db8::1":                          {2, "IPv6 address: hping3 probes IPv4 only"},
		"v6only.test":                          {2, "has only IPv6 addresses: hping3 probes IPv4 only"},
	}
	var toml strings.Builder
	toml.WriteString("[[inputs.hping3]]\ncount = 2\ninterval = \"50ms\"\ntimeout = \"300ms\"\ntargets = [\"127.0.0.1\"")
	for name := range bad {
		fmt.Fprintf(&toml, ", %q", name)
	}
	toml.WriteString(", \"127.0.0.1\"]\n")
	cfg := filepath.Join(dir, "targets.toml")
	os.WriteFile(cfg, []byte(toml.String()), 0o644)
	for _, engine := range []string{"cli", "tcl"} {
		t.Run(engine, func(t *testing.T) {
			badTargetsBesideAGoodOne(t, engine, unshare, hosts, resolv, hping3, cfg, sandbox, bad)
		})
	}
}

func badTargetsBesideAGoodOne(t *testing.T, engine, unshare, hosts, resolv, hping3, cfg, sandbox string, bad map[string]struct {
	code int64
	msg  string
}) {

	before := childrenOf(os.Getpid())
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"`,
		"sh", hosts, resolv, testbin.Plugin(t), "--once", "--debug", "--engine", engine, "--hping3", hping3, "--config", cfg)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	lines := decodeLines(t, stdout.String())
	if len(lines) != len(bad)+1 {
		t.Errorf("%d lines for %d distinct targets:\n%s", len(lines), len(bad)+1, stdout.String())
	}
	seen := map[string]bool{}
	for _, l := range lines {
		name := l.tags["target"]
		if seen[name] {
			t.Errorf("target %.40q has two lines", name)
		}
		seen[name] = true
		code := l.fields["result_code"].IntV()
		if name == "127.0.0.1" {
			if code != 0 || l.fields["packets_transmitted"].IntV() != 2 || l.fields["packets_received"].IntV() != 2 || l.tags["ip"] != "127.0.0.1" {
				t.Errorf("the good target: %v %v", l.tags, l.fields)
			}
			continue
		}
		want, ok := bad[name]
		if !ok {
			t.Errorf("line for unknown target %.40q", name)
			continue
		}
		if _, sent := l.fields["packets_transmitted"]; code != want.code || l.tags["ip"] != "" || sent {
			t.Errorf("target %.40q: result_code %d (want %d), tags %v fields %v", name, code, want.code, l.tags, l.fields)
		}
		if !oneLineHasAll(stderr.String(), "E! ", []string{"target " + fmt.Sprintf("%q", name), want.msg}) {
			t.Errorf("target %.40q: no E! line saying %q", name, want.msg)
		}
	}
	errs := strings.Count(stderr.String(), "\nE! ") + boolInt(strings.HasPrefix(stderr.String(), "E! "))
	if errs != len(bad) {
		t.Errorf("%d E! lines for %d bad targets:\n%s", errs, len(bad), stderr.String())
	}
	if !oneLineHasAll(stderr.String(), "W! ", []string{`"127.0.0.1"`, "listed twice", "probing it once"}) {
		t.Errorf("no W! line for the duplicate:\n%s", stderr.String())
	}
	// Exactly one target was probed, 127.0.0.1: with the CLI engine one
	// hping3 ran, with the address after "--"; with the Tcl engine one
	// engine process sent packets to 127.0.0.1 only.
	var ran []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "D! ") && (strings.Contains(l, ": ran ") || strings.Contains(l, ": probing ")) {
			ran = append(ran, l)
		}
	}
	switch {
	case len(ran) != 1:
		t.Errorf("hping3 runs: %q", ran)
	case engine == "cli" && (!strings.HasPrefix(ran[0], `D! target "127.0.0.1": ran `) || !strings.HasSuffix(ran[0], " -- 127.0.0.1")):
		t.Errorf("hping3 runs: %q", ran)
	case engine == "tcl" && !strings.HasPrefix(ran[0], `D! target "127.0.0.1": probing 127.0.0.1 from 127.0.0.1 on lo: 2 packets`):
		t.Errorf("engine probes: %q", ran)
	}
	if ents, _ := os.ReadDir(sandbox); len(ents) != 0 {
		t.Errorf("a target's shell text ran: %s holds %v", sandbox, ents)
	}
	if after := childrenOf(os.Getpid()); len(after) > len(before) {
		t.Errorf("child processes left: %v", after)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
