package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// recorder is a stand-in hping3 that only records that it ran.
func recorder(t *testing.T) (bin, mark string) {
	t.Helper()
	dir := t.TempDir()
	mark = filepath.Join(dir, "ran")
	bin = filepath.Join(dir, "hping3")
	script := "#!/bin/sh\nprintf '%s ' \"$@\" >>" + mark + "\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, mark
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInvalidConfigExits2BeforeProbing(t *testing.T) {
	bin, mark := recorder(t)
	cfgFile := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfgFile, []byte("[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\ncuont = 3\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--once", "--target", "127.0.0.1", "--count", "0"}, "E! invalid count = 0: 1..400 packets per target per round"},
		{[]string{"--once", "--target", "127.0.0.1", "--protocol", "sctp"}, `E! invalid protocol = "sctp"`},
		{[]string{"--once", "--target", "127.0.0.1", "--interval", "abc"}, `invalid value "abc" for flag -interval`},
		{[]string{"--once"}, "E! invalid targets = []: at least one target"},
		{[]string{"--once", "--config", cfgFile}, `line 3: unknown key "inputs.hping3.cuont" (did you mean "count"?)`},
		{[]string{"--once", "--config", "/nonexistent.toml"}, "E! config: open /nonexistent.toml"},
		{[]string{"--once", "--target", "127.0.0.1", "stray"}, `E! unexpected argument "stray"`},
		{[]string{"--target", "127.0.0.1", "--poll-interval", "10ms"}, "E! invalid poll_interval = 10ms"},
		{[]string{"--otlp", "--target", "127.0.0.1", "--otlp-endpoint", "ftp://x:1"}, `E! invalid --otlp-endpoint "ftp://x:1"`},
	}
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "127.0.0.1:4317")
	cases = append(cases, struct {
		args []string
		want string
	}{[]string{"--otlp", "--target", "127.0.0.1"}, `E! invalid OTEL_EXPORTER_OTLP_METRICS_ENDPOINT "127.0.0.1:4317": give http://HOST:PORT`})
	for _, c := range cases {
		code, stdout, stderr := runMain(append(c.args, "--hping3", bin)...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "E! ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want exit 2 and one E! line with %q", c.args, code, stdout, stderr, c.want)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("hping3 ran although the configuration was invalid")
	}
}

// TestOnceArgumentInjection: an option-like target gets its own failed line
// and never reaches hping3, while the other target is probed.
func TestOnceArgumentInjection(t *testing.T) {
	bin, mark := recorder(t)
	code, stdout, stderr := runMain("--once", "--target=-c", "--target", "127.0.0.1", "--count", "1", "--interval", "10ms", "--hping3", bin)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "hping3,protocol=icmp,target=-c result_code=1i ") ||
		!strings.HasPrefix(lines[1], "hping3,ip=127.0.0.1,protocol=icmp,target=127.0.0.1 dns_ms=0,result_code=2i ") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, `E! target "-c": "-c" is not a valid host name (begins with '-'); nothing was sent`) {
		t.Errorf("stderr: %s", stderr)
	}
	ran, _ := os.ReadFile(mark)
	// The source port is drawn at random from 10000..32767; everything else
	// is fixed by the flags.
	got := strings.Fields(string(ran))
	want := []string{"-n", "-c", "1", "-i", "u10000", "-1", "-s", "PORT", "--", "127.0.0.1"}
	if len(got) != len(want) {
		t.Fatalf("hping3 ran with %q, want %q", got, want)
	}
	for i := range want {
		if want[i] == "PORT" {
			if p, err := strconv.Atoi(got[i]); err != nil || p < 10000 || p > 32767 {
				t.Errorf("source port %q, want 10000..32767", got[i])
			}
		} else if got[i] != want[i] {
			t.Errorf("hping3 ran with %q, want %q", got, want)
			break
		}
	}
}

// TestOnceLoopback runs the real hping3 through the built binary, as
// `make run` does, and decodes its line protocol.
func TestOnceLoopback(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	code, stdout, stderr := runMain("--once", "--target", "127.0.0.1", "--target", "localhost", "--count", "2", "--interval", "50ms", "--timeout", "200ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dec := lineprotocol.NewDecoderWithBytes([]byte(stdout))
	n := 0
	for dec.Next() {
		n++
		m, _ := dec.Measurement()
		tags := map[string]string{}
		for k, v, _ := dec.NextTag(); k != nil; k, v, _ = dec.NextTag() {
			tags[string(k)] = string(v)
		}
		fields := map[string]lineprotocol.Value{}
		for k, v, _ := dec.NextField(); k != nil; k, v, _ = dec.NextField() {
			fields[string(k)] = v
		}
		if _, err := dec.Time(lineprotocol.Nanosecond, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if string(m) != "hping3" || tags["ip"] != "127.0.0.1" || tags["protocol"] != "icmp" {
			t.Errorf("line %d: %s %v", n, m, tags)
		}
		if fields["result_code"].IntV() != 0 || fields["packets_transmitted"].IntV() != 2 || fields["packets_received"].IntV() != 2 ||
			fields["percent_packet_loss"].FloatV() != 0 || fields["ttl"].IntV() != 64 {
			t.Errorf("line %d fields: %v", n, fields)
		}
		if avg := fields["average_response_ms"]; avg.Kind() != lineprotocol.Float || avg.FloatV() < 0 || avg.FloatV() > 50 {
			t.Errorf("line %d average_response_ms = %v", n, avg)
		}
	}
	if err := dec.Err(); err != nil || n != 2 {
		t.Fatalf("%d lines, decode error %v:\n%s", n, err, stdout)
	}
}

// Command lines that are wrong before any configuration is read: exit 2,
// nothing on stdout, exactly one E! line, and hping3 never runs.
func TestCommandLineErrors(t *testing.T) {
	bin, mark := recorder(t)
	const help = " (see hping3-plugin --help)"
	cases := []struct {
		args []string
		want string // the whole of stderr, one line
	}{
		// Two modes.
		{[]string{"--once", "--otlp"}, "E! --once and --otlp are two modes: --once prints one round as line protocol and exports nothing; " +
			"to export, give --otlp alone (it exports a round every --poll-interval until stopped)" + help},
		{[]string{"-otlp=true", "-once=1"}, "E! --once and --otlp are two modes: --once prints one round as line protocol and exports nothing; " +
			"to export, give --otlp alone (it exports a round every --poll-interval until stopped)" + help},
		// Flags of another mode.
		{[]string{"--host", "127.0.0.1"}, "E! --host is for the Site24x7 mode: add --site24x7" + help},
		{[]string{"--once", "--plugin-version", "1"}, "E! --plugin-version is for the Site24x7 mode: add --site24x7" + help},
		{[]string{"--once", "--plugin_version=1"}, "E! --plugin_version is for the Site24x7 mode: add --site24x7" + help},
		{[]string{"--otlp", "--heartbeat", "True", "--deadline", "20s"}, "E! --deadline and --heartbeat are for the Site24x7 mode: add --site24x7" + help},
		{[]string{"--site24x7=false", "--host", "127.0.0.1"}, "E! --host is for the Site24x7 mode: add --site24x7" + help},
		{[]string{"--site24x7", "--site24x7=false", "--host", "127.0.0.1"}, "E! --host is for the Site24x7 mode: add --site24x7" + help},
		{[]string{"--once", "--otlp-endpoint", "http://x:1"}, "E! --otlp-endpoint is for the OTLP mode: add --otlp" + help},
		{[]string{"--otlp-endpoint", "http://x:1"}, "E! --otlp-endpoint is for the OTLP mode: add --otlp" + help},
		{[]string{"--once", "--poll-interval", "10s"}, "E! --poll-interval is for the Telegraf, OTLP and Prometheus modes: --once runs one round, drop --poll-interval" + help},
		{[]string{"--once", "--mode", "rounds"}, "E! --mode is for the Telegraf, OTLP and Prometheus modes: --once runs one round, drop --mode" + help},
		{[]string{"--mode=continuous", "--once"}, "E! --mode is for the Telegraf, OTLP and Prometheus modes: --once runs one round, drop --mode" + help},
		// Several problems still make one line.
		{[]string{"--once", "--otlp", "--host", "x"}, "E! --once and --otlp are two modes: --once prints one round as line protocol and exports nothing; " +
			"to export, give --otlp alone (it exports a round every --poll-interval until stopped); --host is for the Site24x7 mode: add --site24x7" + help},
		// Flag parse errors: the reason, no usage dump.
		{[]string{"--once", "--bogus"}, "E! flag provided but not defined: -bogus" + help},
		{[]string{"--once", "--target"}, "E! flag needs an argument: -target" + help},
		{[]string{"--once", "--interval", "abc"}, `E! invalid value "abc" for flag -interval: parse error` + help},
		{[]string{"--once", "--count", "many"}, `E! invalid value "many" for flag -count: parse error` + help},
		{[]string{"--once=maybe"}, `E! invalid boolean value "maybe" for -once: parse error` + help},
		// Not a value Go's flag package reads as a boolean: not the Site24x7
		// mode, and refused with the reason.
		{[]string{"--site24x7=yes", "--host", "127.0.0.1"}, `E! invalid boolean value "yes" for -site24x7: parse error` + help},
		{[]string{"--once", "--tcp_flags", "S"}, "E! flag provided but not defined: -tcp_flags" + help},
	}
	for _, c := range cases {
		args := append([]string{"--hping3", bin, "--target", "127.0.0.1"}, c.args...)
		code, stdout, stderr := runMain(args...)
		if code != 2 || stdout != "" || stderr != c.want+"\n" {
			t.Errorf("%q:\nexit %d, stdout %q\nstderr %q\nwant exit 2, no stdout and stderr\n       %q", c.args, code, stdout, stderr, c.want+"\n")
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("hping3 ran although the command line was wrong")
	}
}

// Every spelling of the Site24x7 switch that Go's flag package reads as
// true selects the mode: stdout is the agent's JSON, here a Down object
// since hping3 is missing, and the exit status 0.
func TestSite24x7Spellings(t *testing.T) {
	want := `{"host":"127.0.0.1","plugin_version":3,"heartbeat_required":false,"status":0,` +
		`"msg":"hping3 not found at /nonexistent/hping3: install it (apt-get install hping3) or set hping3 = \"/path/to/hping3\""}` + "\n"
	for _, sw := range []string{"--site24x7", "-site24x7", "--site24x7=true", "--site24x7=1", "--site24x7=True", "-site24x7=T", "--site24x7=TRUE"} {
		code, stdout, stderr := runMain(sw, "--host", "127.0.0.1", "--plugin_version=3", "--heartbeat", "False", "--hping3", "/nonexistent/hping3")
		if code != 0 || stdout != want {
			t.Errorf("%s: exit %d, stdout\n%s\nwant exit 0 and\n%s", sw, code, stdout, want)
		}
		if !strings.HasPrefix(stderr, "E! ") || strings.Contains(stderr, "Usage") {
			t.Errorf("%s: stderr %q", sw, stderr)
		}
	}
}

// With --site24x7 a second mode exits 2 with one E! line, and stdout still
// carries the Down JSON the agent reads, whatever the order.
func TestSite24x7WithAnotherMode(t *testing.T) {
	bin, mark := recorder(t)
	const once = "--site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)"
	const otlp = "--site24x7 and --otlp are two modes: --site24x7 prints JSON for the Site24x7 agent, --otlp exports to an OpenTelemetry Collector; run them as two commands (see hping3-plugin --help)"
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--site24x7", "--once"}, once},
		{[]string{"--once", "--site24x7=true"}, once},
		{[]string{"--otlp", "-site24x7"}, otlp},
		{[]string{"--site24x7=1", "--otlp=true"}, otlp},
	} {
		code, stdout, stderr := runMain(append(c.args, "--host", "127.0.0.1", "--hping3", bin)...)
		wantOut := `{"host":"127.0.0.1","plugin_version":1,"heartbeat_required":true,"status":0,"msg":"invalid configuration: ` + c.msg + `"}` + "\n"
		wantErr := "E! 127.0.0.1: invalid configuration: " + c.msg + "\n"
		if code != 2 || stdout != wantOut || stderr != wantErr {
			t.Errorf("%q:\nexit %d\nstdout %s\nstderr %q\nwant exit 2\nstdout %s\nstderr %q", c.args, code, stdout, stderr, wantOut, wantErr)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("hping3 ran although two modes were given")
	}
}

// --help and -h print the description, the modes with an example each, and
// the flags in groups, to stdout with exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--once", "--help"}, {"-help"}} {
		code, stdout, stderr := runMain(args...)
		if code != 0 || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "hping3-plugin measures packet loss and round-trip time to each target with hping3\n") {
			t.Errorf("%q: help starts %q", args, stdout[:min(len(stdout), 90)])
		}
		// In this order: the modes, each with its example, then the groups.
		rest := stdout
		for _, want := range []string{
			"\nModes:\n",
			"\n  Telegraf (no mode flag)\n", "\n        hping3-plugin --config /etc/hping3-plugin/hping3-plugin.conf\n",
			"\n  --once\n", "\n        hping3-plugin --once --target 127.0.0.1 --count 3\n",
			"\n  --otlp\n", "\n        hping3-plugin --otlp --otlp-endpoint http://localhost:4317 --target 127.0.0.1\n",
			"\n  --site24x7\n", "\n        hping3-plugin --site24x7 --host 127.0.0.1 --plugin-version 1 --heartbeat True\n",
			"\nMode flags:\n  -once\n", "\n  -otlp\n", "\n  -site24x7\n",
			"\nFlags of the Telegraf, --once, OTLP and Prometheus modes:\n  -config string\n", "\n  -debug\n", "\n  -otlp-endpoint string\n", "\n  -poll-interval duration\n",
			"\nSite24x7 flags (", "\n  -deadline string\n", `(default "25s")`, "\n  -heartbeat string\n", "\n  -host string\n", "\n  -plugin-version string\n",
			"\nProbe flags (", "\n  -concurrency int\n", "\n  -count int\n", "(default 5)", "\n  -engine string\n", "\n  -protocol string\n", `(default "icmp")`, "\n  -target value\n", "\n  -ttl int\n",
		} {
			// Each pattern begins a line; the one before may have ended it.
			i := strings.Index("\n"+rest, want)
			if i < 0 {
				t.Fatalf("%q: help lacks %q after what came before:\n%s", args, want, stdout)
			}
			rest = rest[i+len(want)-1:]
		}
		// The Site24x7 flags are listed once, in their group, and the
		// underscore spelling, refused in these modes, not at all.
		if strings.Count(stdout, "\n  -host ") != 1 || strings.Contains(stdout, "-plugin_version") {
			t.Errorf("%q: help lists -host more than once or -plugin_version:\n%s", args, stdout)
		}
	}
	// The Site24x7 mode's own help.
	code, stdout, stderr := runMain("--site24x7", "--help")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: hping3-plugin --site24x7 --host HOST") || !strings.Contains(stdout, `(default 8040)`) {
		t.Errorf("--site24x7 --help: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}
