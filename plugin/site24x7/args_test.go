package site24x7

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

func TestParseHeartbeat(t *testing.T) {
	for in, want := range map[string]bool{
		"True": true, "true": true, "TRUE": true, "1": true, "yes": true, " True ": true,
		"False": false, "false": false, "FALSE": false, "0": false, "no": false,
	} {
		got, err := parseHeartbeat(in)
		if err != nil || got != want {
			t.Errorf("parseHeartbeat(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Fals", "2", "None"} {
		if _, err := parseHeartbeat(in); err == nil {
			t.Errorf("parseHeartbeat(%q) accepted", in)
		}
	}
}

func TestParseArgsOldCommandLine(t *testing.T) {
	// The old plugin's documented test command, and the key the agent
	// passes from the .cfg (plugin_version).
	for _, args := range [][]string{
		{"--site24x7", "--host", "localhost", "--plugin-version", "1", "--heartbeat", "True"},
		{"--site24x7", "--host=localhost", "--plugin_version=1", "--heartbeat=True"},
		// .cfg values keep their quotes if the agent passes them through.
		{"--site24x7", `--host="localhost"`, `--plugin_version="1"`, `--heartbeat='True'`},
		{"--site24x7", "--host", `"localhost"`, "--plugin-version", `"1"`, "--heartbeat", `"True"`},
	} {
		o, cfg, err := parseArgs(args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		want := Header{Host: "localhost", PluginVersion: 1, Heartbeat: true}
		if o.Header != want || o.Deadline != DefaultDeadline {
			t.Errorf("%q: options %+v", args, o)
		}
		if len(cfg.Groups) != 1 || len(cfg.Groups[0].Targets) != 1 || cfg.Groups[0].Targets[0] != "localhost" {
			t.Fatalf("%q: groups %+v", args, cfg.Groups)
		}
		s := cfg.Groups[0].Settings
		if s.Protocol != config.TCP || s.Port != 8040 || s.TCPFlags != "S" || s.Count != 2 ||
			s.Interval != 2*time.Second || s.Timeout != time.Second {
			t.Errorf("%q: probe %+v, want the old plugin's tcp SYN port 8040, 2 packets 2s apart", args, s)
		}
	}
}

func TestParseArgsOverrides(t *testing.T) {
	o, cfg, err := parseArgs([]string{"--site24x7", "--host", "198.18.0.1", "--plugin_version", "3",
		"--heartbeat", "False", "--deadline", "12", "--protocol", "icmp", "--port", "0",
		"--count", "4", "--interval", "100ms", "--dns_timeout", "1s", "--tcp_flags", "SA"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.PluginVersion != 3 || o.Heartbeat || o.Deadline != 12*time.Second {
		t.Errorf("options %+v", o)
	}
	s := cfg.Groups[0].Settings
	if s.Protocol != config.ICMP || s.Count != 4 || s.Interval != 100*time.Millisecond ||
		s.DNSTimeout != time.Second || s.TCPFlags != "SA" {
		t.Errorf("settings %+v", s)
	}
}

func TestParseArgsErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of the error, all present
	}{
		{[]string{"--host", "localhost", "--heartbeat", "Fals", "--plugin-version", "x", "--count", "0"},
			[]string{`heartbeat "Fals"`, `plugin_version "x"`, "invalid count = 0"}},
		{[]string{"--host", ""}, []string{"host is empty"}},
		{[]string{"--host", "localhost", "--bogus", "1"}, []string{"-bogus", "hping3.cfg"}},
		{[]string{"--host", "localhost", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"--host", "localhost", "--target", "127.0.0.2"}, []string{"--target is not used"}},
		{[]string{"--host", "localhost", "--deadline", "soon"}, []string{`deadline "soon"`}},
		{[]string{"--host", "localhost", "--deadline", "1h"}, []string{"deadline 1h0m0s is out of range"}},
		{[]string{"--host", "localhost", "--count", "20"}, []string{"deadline 25s is too short", "39s"}},
	}
	for _, c := range cases {
		o, cfg, err := parseArgs(append([]string{"--site24x7"}, c.args...), io.Discard)
		if err == nil || cfg != nil {
			t.Errorf("%q: accepted", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", c.args, err, w)
			}
		}
		if o.PluginVersion != 1 || !o.Heartbeat {
			t.Errorf("%q: header %+v, want the defaults kept for the failure JSON", c.args, o.Header)
		}
	}
}

// An unknown .cfg key stops the flag parser; the keys after it still name
// the monitor in the failure JSON.
func TestParseArgsUnknownKeyKeepsTheHeader(t *testing.T) {
	o, cfg, err := parseArgs([]string{"--site24x7", "--cuont", "3", "--debug", "--host", `"db1"`,
		"--plugin_version=2", "--heartbeat", "False"}, io.Discard)
	if err == nil || cfg != nil || !strings.Contains(err.Error(), "-cuont") {
		t.Fatalf("error %v, config %v: want the unknown key named", err, cfg)
	}
	if want := (Header{Host: "db1", PluginVersion: 2, Heartbeat: false}); o.Header != want {
		t.Errorf("header %+v, want %+v", o.Header, want)
	}
	// A value that does not parse keeps the default, as in a full parse.
	o, _, _ = parseArgs([]string{"--site24x7", "--bogus", "--plugin-version", "x", "--host"}, io.Discard)
	if want := (Header{Host: "localhost", PluginVersion: 1, Heartbeat: true}); o.Header != want {
		t.Errorf("header %+v, want the defaults %+v", o.Header, want)
	}
}

func TestParseArgsICMPDropsTheOldPort(t *testing.T) {
	_, cfg, err := parseArgs([]string{"--site24x7", "--host", "127.0.0.1", "--protocol", "icmp"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Groups[0].Settings; s.Protocol != config.ICMP || s.Port != 0 {
		t.Errorf("protocol %s port %d, want icmp without a port", s.Protocol, s.Port)
	}
	// udp keeps the port: it needs one.
	_, cfg, err = parseArgs([]string{"--site24x7", "--host", "127.0.0.1", "--protocol", "udp"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Groups[0].Settings; s.Protocol != config.UDP || s.Port != 8040 {
		t.Errorf("protocol %s port %d, want udp to 8040", s.Protocol, s.Port)
	}
}

// Another mode beside --site24x7 is refused alone, as a *modeError, with the
// header still parsed so the failure JSON names the monitor.
func TestParseArgsModeConflict(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--once"}, "--site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)"},
		{[]string{"--otlp=true"}, "--site24x7 and --otlp are two modes: --site24x7 prints JSON for the Site24x7 agent, --otlp exports to an OpenTelemetry Collector; run them as two commands (see hping3-plugin --help)"},
		{[]string{"-otlp", "--once=1"}, "--site24x7, --once and --otlp are three modes: give only --site24x7 for the Site24x7 agent (see hping3-plugin --help)"},
		// A bad value elsewhere does not hide the conflict.
		{[]string{"--count", "0", "--once"}, "--site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)"},
		// Nor does an unknown key that stops the parser after the mode.
		{[]string{"--once", "--bogus", "1"}, "--site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)"},
	}
	for _, c := range cases {
		args := append([]string{"--site24x7", "--host", "db1", "--plugin-version", "3", "--heartbeat", "False"}, c.args...)
		o, cfg, err := parseArgs(args, io.Discard)
		var me *modeError
		if !errors.As(err, &me) || err.Error() != c.want || cfg != nil {
			t.Errorf("%q: error %v (%T), want modeError %q", c.args, err, err, c.want)
		}
		if want := (Header{Host: "db1", PluginVersion: 3, Heartbeat: false}); o.Header != want {
			t.Errorf("%q: header %+v, want %+v", c.args, o.Header, want)
		}
	}
	// Switched off, the other modes are no conflict.
	if _, _, err := parseArgs([]string{"--site24x7", "--host", "127.0.0.1", "--once=false", "--otlp=0"}, io.Discard); err != nil {
		t.Errorf("--once=false --otlp=0: %v", err)
	}
}

// The other modes' flags are named as such, and refused like any wrong key.
func TestParseArgsOtherModesFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "/etc/hping3-plugin.conf"}, "--config is for the Telegraf, --once and OTLP modes, not --site24x7: remove it from the command line or the hping3.cfg section"},
		{[]string{"--poll_interval=10s"}, "--poll-interval is for the Telegraf and OTLP modes, not --site24x7: remove it from the command line or the hping3.cfg section"},
		{[]string{"--otlp-endpoint", "http://localhost:4317"}, "--otlp-endpoint is for the OTLP mode, not --site24x7: remove it from the command line or the hping3.cfg section"},
		{[]string{"--mode=continuous"}, "--mode is for the Telegraf and OTLP modes, not --site24x7: remove it from the command line or the hping3.cfg section"},
	} {
		_, cfg, err := parseArgs(append([]string{"--site24x7", "--host", "127.0.0.1"}, c.args...), io.Discard)
		var me *modeError
		if err == nil || err.Error() != c.want || cfg != nil || errors.As(err, &me) {
			t.Errorf("%q: error %v, want %q (not a modeError)", c.args, err, c.want)
		}
	}
}

// The help lists the mode's flags with their defaults and leaves out the
// other modes' flags, which are defined only to be refused.
func TestHelpListsOnlyThisMode(t *testing.T) {
	var b strings.Builder
	if _, _, err := parseArgs([]string{"--site24x7", "--help"}, &b); err != errHelp {
		t.Fatalf("error %v, want errHelp", err)
	}
	help := b.String()
	if !strings.HasPrefix(help, "Usage: hping3-plugin --site24x7 --host HOST") {
		t.Errorf("help starts %q", help[:min(len(help), 60)])
	}
	for _, want := range []string{"\n  -host string\n", `(default "localhost")`, "\n  -plugin-version string\n", "\n  -deadline string\n", `(default "25s")`,
		"\n  -protocol string\n", `(default "tcp")`, "\n  -port int\n", "(default 8040)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	for _, not := range []string{"-once", "-otlp", "-config", "-poll-interval", "-poll_interval", "-mode", "-target", "-tcp_flags", "-site24x7"} {
		if strings.Contains(help, "\n  "+not+" ") || strings.Contains(help, "\n  "+not+"\n") {
			t.Errorf("help lists %s:\n%s", not, help)
		}
	}
}

func TestModeFlags(t *testing.T) {
	var names []string
	ModeFlags().VisitAll(func(f *flag.Flag) { names = append(names, f.Name+"="+f.DefValue) })
	if got, want := strings.Join(names, " "), "deadline=25s heartbeat=True host=localhost plugin-version=1"; got != want {
		t.Errorf("ModeFlags: %s, want %s", got, want)
	}
}
