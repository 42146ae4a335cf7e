package hardening

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// badConfig is a configuration the plugin must refuse before any packet.
type badConfig struct {
	name string
	file string   // TOML text, written to a file; "" for flags only
	args []string // extra flags
	want []string // every piece must be on one E! line: field, value, what is allowed
	// ownBinary: the file names the binary itself, so no --hping3 flag
	// (which would override it) is given.
	ownBinary bool
}

// TestBadConfigurationExits2BeforeAnyPacket covers the file forms of every
// rejected setting, and the flag forms not covered by cmd/hping3-plugin's
// tests. The recorder hping3 must never run.
func TestBadConfigurationExits2BeforeAnyPacket(t *testing.T) {
	dir := testbin.OpenDir(t)
	bin, log := recorder(t, dir)
	group := func(body string) string {
		return "[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n" + body
	}
	cases := []badConfig{
		{name: "protocol", file: group(`protocol = "sctp"` + "\n"), want: []string{`invalid protocol = "sctp"`, `one of "icmp", "tcp", "udp"`}},
		{name: "port 0", file: group("protocol = \"tcp\"\nport = 0\n"), want: []string{"invalid port = 0", "1..65535"}},
		{name: "port 70000", file: group("protocol = \"udp\"\nport = 70000\n"), want: []string{"invalid port = 70000", "1..65535"}},
		{name: "port missing", file: group("protocol = \"tcp\"\n"), want: []string{"invalid port = 0", "required for protocol tcp: 1..65535"}},
		{name: "count 0", file: group("count = 0\n"), want: []string{"invalid count = 0", "1..400"}},
		{name: "count -1", file: group("count = -1\n"), want: []string{"invalid count = -1", "1..400"}},
		{name: "count 1e9", file: group("count = 1000000000\n"), want: []string{"invalid count = 1000000000", "1..400"}},
		{name: "interval 0", file: group(`interval = "0s"` + "\n"), want: []string{"invalid interval = 0s", "1ms..999ms, or whole seconds 1s..60s"}},
		{name: "interval 500us", file: group(`interval = "500us"` + "\n"), want: []string{"invalid interval = 500µs", "1ms..999ms", "cannot receive below 1ms"}},
		{name: "interval abc", file: group(`interval = "abc"` + "\n"), want: []string{"line 3", "inputs.hping3.interval", `"abc"`, `a duration such as "200ms"`}},
		{name: "interval 61s", file: group(`interval = "61s"` + "\n"), want: []string{"invalid interval = 1m1s", "whole seconds 1s..60s"}},
		{name: "per-target rate", file: group(`interval = "5ms"` + "\n"), want: []string{"invalid interval = 5ms", "200 packets/s to one target exceeds the cap of 100/s", "at least 10ms"}},
		{name: "total rate", file: "max_packet_rate = 50\n" + group(`interval = "10ms"`+"\n"), want: []string{"invalid interval = 10ms", "100 packets/s exceeds max_packet_rate 50/s"}},
		{name: "total cap itself", file: "max_packet_rate = 20000\n" + group(""), want: []string{"invalid max_packet_rate = 20000", "1..10000"}},
		{name: "tcp flags", file: group("protocol = \"tcp\"\nport = 80\ntcp_flags = \"SX\"\n"), want: []string{`invalid tcp_flags = "SX"`, "one or more of S A F R P U"}},
		{name: "tcp flags empty", file: group("protocol = \"tcp\"\nport = 80\ntcp_flags = \"\"\n"), want: []string{`invalid tcp_flags = ""`, "one or more of S A F R P U"}},
		{name: "syntax", file: "[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n\ncount = = 3\n", want: []string{"line 4"}},
		{name: "unknown key", file: group("intervall = \"1s\"\n"), want: []string{"line 3", `unknown key "inputs.hping3.intervall"`, `did you mean "interval"?`}},
		{name: "unknown table", file: "[[inputs.ping]]\nurls = [\"127.0.0.1\"]\n", want: []string{`unknown key "inputs.ping"`}},
		{name: "empty target list", file: "[[inputs.hping3]]\ntargets = []\n", want: []string{"invalid targets = []", "at least one target"}},
		{name: "no tables", file: "poll_interval = \"10s\"\n", want: []string{"invalid targets = []", "at least one target"}},
		{name: "second table named", file: group("") + group("count = 0\n"), want: []string{"invalid inputs.hping3[1].count = 0", "1..400"}},
		{name: "hping3 as an option", file: group(`hping3 = "--flood"` + "\n"), want: []string{`invalid hping3 = "--flood"`, "a path to the hping3 binary"}, ownBinary: true},
		// Flag forms that cmd/hping3-plugin's own tests leave out.
		{name: "flag count -1", args: []string{"--target", "127.0.0.1", "--count", "-1"}, want: []string{"invalid count = -1", "1..400"}},
		{name: "flag count 1e9", args: []string{"--target", "127.0.0.1", "--count", "1000000000"}, want: []string{"invalid count = 1000000000", "1..400"}},
		{name: "flag interval 500us", args: []string{"--target", "127.0.0.1", "--interval", "500us"}, want: []string{"invalid interval = 500µs", "1ms..999ms"}},
		{name: "flag interval 61s", args: []string{"--target", "127.0.0.1", "--interval", "61s"}, want: []string{"invalid interval = 1m1s", "1s..60s"}},
		{name: "flag interval 5ms", args: []string{"--target", "127.0.0.1", "--interval", "5ms"}, want: []string{"invalid interval = 5ms", "cap of 100/s"}},
		{name: "flag port 70000", args: []string{"--target", "127.0.0.1", "--protocol", "tcp", "--port", "70000"}, want: []string{"invalid port = 70000", "1..65535"}},
		{name: "flag tcp flags", args: []string{"--target", "127.0.0.1", "--protocol", "tcp", "--port", "80", "--tcp-flags", "SY"}, want: []string{`invalid tcp_flags = "SY"`, "S A F R P U"}},
		{name: "flag overrides file into a bad value", file: group(""), args: []string{"--count", "0"}, want: []string{"invalid count = 0", "1..400"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--once"}, c.args...)
			if !c.ownBinary {
				args = append(args, "--hping3", bin)
			}
			if c.file != "" {
				f := filepath.Join(t.TempDir(), "c.toml")
				if err := os.WriteFile(f, []byte(c.file), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", f)
			}
			r := runPlugin(t, 10*time.Second, "", args...)
			if r.code != 2 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want exit 2 and no output. stderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if !oneLineHasAll(r.stderr, "E! ", c.want) {
				t.Errorf("stderr has no E! line with all of %q:\n%s", c.want, r.stderr)
			}
		})
	}
	if got := runs(t, log); len(got) != 0 {
		t.Errorf("hping3 ran %d times although every configuration was invalid: %q", len(got), got)
	}
}

// TestConfigurationErrorsInOtherModes: the same refusal in the long-running
// Telegraf mode and the OTLP mode, which would otherwise start serving.
func TestConfigurationErrorsInOtherModes(t *testing.T) {
	dir := testbin.OpenDir(t)
	bin, log := recorder(t, dir)
	for _, mode := range [][]string{nil, {"--otlp", "--otlp-endpoint", "http://127.0.0.1:1"}} {
		args := append(mode, "--hping3", bin, "--target", "127.0.0.1", "--count", "0")
		r := runPlugin(t, 10*time.Second, "\n\n", args...)
		if r.code != 2 || r.stdout != "" || !oneLineHasAll(r.stderr, "E! ", []string{"invalid count = 0", "1..400"}) {
			t.Errorf("%v: exit %d stdout %q stderr %q", mode, r.code, r.stdout, r.stderr)
		}
	}
	if got := runs(t, log); len(got) != 0 {
		t.Errorf("hping3 ran: %q", got)
	}
}

// oneLineHasAll reports whether one line of text starts with prefix and
// contains every piece.
func oneLineHasAll(text, prefix string, pieces []string) bool {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		all := true
		for _, p := range pieces {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
