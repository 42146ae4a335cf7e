package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadFileTwoGroups(t *testing.T) {
	c, err := LoadFile("testdata/two-groups.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.PollInterval != 30*time.Second || c.MaxPacketRate != 500 || len(c.Groups) != 2 {
		t.Fatalf("top level = %v %d %d groups", c.PollInterval, c.MaxPacketRate, len(c.Groups))
	}
	g0 := DefaultSettings()
	g0.Count, g0.Interval, g0.Percentiles = 3, 200*time.Millisecond, []int{50, 95}
	if !reflect.DeepEqual(c.Groups[0].Settings, g0) {
		t.Errorf("group 0 settings\n got %+v\nwant %+v", c.Groups[0].Settings, g0)
	}
	if !reflect.DeepEqual(c.Groups[0].Tags, map[string]string{"site": "lab"}) {
		t.Errorf("group 0 tags = %v", c.Groups[0].Tags)
	}
	g1 := DefaultSettings()
	g1.Protocol, g1.Port, g1.TCPFlags, g1.Timeout = TCP, 443, "SA", 500*time.Millisecond
	g1.TTL, g1.TOS, g1.DataSize, g1.DNSTimeout, g1.Concurrency, g1.HPing3 = 32, 16, 100, time.Second, 4, "/usr/sbin/hping3"
	if !reflect.DeepEqual(c.Groups[1].Settings, g1) {
		t.Errorf("group 1 settings\n got %+v\nwant %+v", c.Groups[1].Settings, g1)
	}
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileErrors(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"syntax", "[[inputs.hping3]]\ntargets = [\"a\"\ncount = 3\n", []string{"line 3", "c.toml"}},
		{"unknown key with suggestion", "[[inputs.hping3]]\ntargets = [\"a\"]\n  cuont = 3\n", []string{"line 3", `unknown key "inputs.hping3.cuont"`, `did you mean "count"?`}},
		{"unknown top key", "poll_intreval = \"1s\"\n", []string{"line 1", `did you mean "poll_interval"?`}},
		{"unknown key far from any", "[[inputs.hping3]]\nzzzzzzzzzzzz = 1\n", []string{`unknown key "inputs.hping3.zzzzzzzzzzzz"`}},
		{"wrong type", "[[inputs.hping3]]\ncount = \"five\"\n", []string{"count"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFile(writeTemp(t, c.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if c.name == "unknown key far from any" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("error %q suggests a key for a name far from all", err)
			}
		})
	}
}

// validCfg returns a config with one valid group, changed by f.
func validCfg(f func(*Settings)) *Config {
	s := DefaultSettings()
	f(&s)
	return &Config{MaxPacketRate: DefaultMaxPacketRate, Groups: []Group{{Targets: []string{"127.0.0.1"}, Settings: s}}}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name string
		f    func(*Settings)
		want string // field, value and allowed range all named
	}{
		{"protocol", func(s *Settings) { s.Protocol = "sctp" }, `invalid protocol = "sctp": one of "icmp", "tcp", "udp"`},
		{"port 0", func(s *Settings) { s.Protocol = TCP; s.Port = 0 }, "invalid port = 0: required for protocol tcp: 1..65535"},
		{"port 70000", func(s *Settings) { s.Protocol = UDP; s.Port = 70000 }, "invalid port = 70000: required for protocol udp: 1..65535"},
		{"port on icmp", func(s *Settings) { s.Port = 80 }, "invalid port = 80: only for protocol tcp or udp"},
		{"count 0", func(s *Settings) { s.Count = 0 }, "invalid count = 0: 1..400"},
		{"count -1", func(s *Settings) { s.Count = -1 }, "invalid count = -1: 1..400"},
		{"count 1e9", func(s *Settings) { s.Count = 1e9 }, "invalid count = 1000000000: 1..400"},
		{"interval 0", func(s *Settings) { s.Interval = 0 }, "invalid interval = 0s: 1ms..999ms, or whole seconds 1s..60s"},
		{"interval 500us", func(s *Settings) { s.Interval = 500 * time.Microsecond }, "invalid interval = 500µs: 1ms..999ms"},
		{"interval 61s", func(s *Settings) { s.Interval = 61 * time.Second }, "invalid interval = 1m1s: 1ms..999ms, or whole seconds 1s..60s"},
		{"interval 1.5s", func(s *Settings) { s.Interval = 1500 * time.Millisecond }, "whole seconds"},
		{"rate per target", func(s *Settings) { s.Interval = 5 * time.Millisecond }, "invalid interval = 5ms: 200 packets/s to one target exceeds the cap of 100/s"},
		{"tcp flags", func(s *Settings) { s.Protocol = TCP; s.Port = 80; s.TCPFlags = "SX" }, `invalid tcp_flags = "SX": one or more of S A F R P U`},
		{"tcp flags repeated", func(s *Settings) { s.Protocol = TCP; s.Port = 80; s.TCPFlags = "SS" }, `invalid tcp_flags = "SS"`},
		{"timeout", func(s *Settings) { s.Timeout = 31 * time.Second }, "invalid timeout = 31s: 1ms..30s"},
		{"data size", func(s *Settings) { s.DataSize = 9000 }, "invalid data_size = 9000: 0..8972 bytes"},
		{"dscp unknown", func(s *Settings) { s.DSCP = "AF14" }, `invalid dscp = "AF14": a class name`},
		{"dscp 64", func(s *Settings) { s.DSCP = "64" }, `invalid dscp = "64": a class name`},
		{"dscp and tos", func(s *Settings) { s.DSCP, s.TOS = "EF", 184 }, `invalid dscp = "EF": a class name (DF, CS0..CS7, AF11..AF43, EF, VOICE-ADMIT, LE; any case) or 0..63; not with tos`},
		{"source not local", func(s *Settings) { s.Source = "192.0.2.1" }, `invalid source_address = "192.0.2.1": an IPv4 address of this host: no interface holds it`},
		{"source not literal", func(s *Settings) { s.Source = "localhost" }, `invalid source_address = "localhost": an IPv4 address literal of this host`},
		{"ttl", func(s *Settings) { s.TTL = 300 }, "invalid ttl = 300: 1..255"},
		{"interface", func(s *Settings) { s.Interface = "lo0nonexistent" }, `invalid interface = "lo0nonexistent": the exact name of an existing network interface`},
		{"concurrency", func(s *Settings) { s.Concurrency = 0 }, "invalid concurrency = 0: 1..256"},
		{"percentile", func(s *Settings) { s.Percentiles = []int{50, 100} }, "invalid percentiles = 100: each 1..99"},
		{"percentile twice", func(s *Settings) { s.Percentiles = []int{50, 95, 50} }, "invalid percentiles = 50: each 1..99, each once"},
		{"binary as option", func(s *Settings) { s.HPing3 = "--flood" }, `invalid hping3 = "--flood"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validCfg(c.f).Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FieldError", err)
			}
		})
	}
}

func TestValidateTotals(t *testing.T) {
	c := validCfg(func(s *Settings) { s.Interval = 10 * time.Millisecond })
	c.MaxPacketRate = 50
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "exceeds max_packet_rate 50/s") {
		t.Errorf("rate above total cap: %v", err)
	}
	c.MaxPacketRate = 20000
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "invalid max_packet_rate = 20000: 1..10000") {
		t.Errorf("max_packet_rate above limit: %v", err)
	}
	if err := (&Config{MaxPacketRate: 1000}).Validate(); err == nil || !strings.Contains(err.Error(), "invalid targets = []: at least one target") {
		t.Errorf("empty config: %v", err)
	}
	// Tags the plugin or Telegraf sets: host, the target's, the hop lines'.
	for _, k := range []string{"host", "target", "ip", "protocol", "port", "hop", "hop_ip", "flow"} {
		c = validCfg(func(*Settings) {})
		c.Groups[0].Tags = map[string]string{k: "x"}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tags."+k) {
			t.Errorf("%s tag: %v", k, err)
		}
	}
	for _, tags := range []map[string]string{{"": "x"}, {"k": ""}, {"k": "a\tb"}, {"k\n": "v"}, {"k": `v\`}, {"k": "\xff"}} {
		c = validCfg(func(*Settings) {})
		c.Groups[0].Tags = tags
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "invalid tags") || !strings.Contains(err.Error(), "printable UTF-8") {
			t.Errorf("tags %q: %v", tags, err)
		}
	}
	if err := validCfg(func(*Settings) {}).Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestFlagsBuild(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pf := RegisterProbeFlags(fs, DefaultSettings())
	if err := fs.Parse([]string{"--target", "a", "--target=-c", "--protocol", "UDP", "--port", "53", "--count", "2", "--interval", "100ms", "--percentiles", "50,99"}); err != nil {
		t.Fatal(err)
	}
	c, err := pf.Build("", DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	g := c.Groups[0]
	if !reflect.DeepEqual(g.Targets, []string{"a", "-c"}) || g.Settings.Protocol != UDP || g.Settings.Port != 53 ||
		g.Settings.Count != 2 || g.Settings.Interval != 100*time.Millisecond || !reflect.DeepEqual(g.Settings.Percentiles, []int{50, 99}) {
		t.Errorf("group = %+v", g)
	}
	// Flags override the same setting in a file's groups; unset flags do not.
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	pf = RegisterProbeFlags(fs, DefaultSettings())
	fs.Parse([]string{"--count", "7"})
	c, err = pf.Build("testdata/two-groups.toml", DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if c.Groups[0].Settings.Count != 7 || c.Groups[1].Settings.Count != 7 || c.Groups[0].Settings.Interval != 200*time.Millisecond {
		t.Errorf("override: %+v", c.Groups)
	}
}

// TestValidatePathNeedsNoPortPerTTL: a target's path probes share its flow,
// and so its one source port: 1000 TCP and 1000 UDP targets with path
// probes up to TTL 30 (31,000 ports each when every TTL had its own, more
// than the 11384 the plugin may hold) are valid. With flows a target holds
// a port per flow, and a configuration that needs more than 11384 is
// refused.
func TestValidatePathNeedsNoPortPerTTL(t *testing.T) {
	targets := make([]string, 1000)
	for i := range targets {
		targets[i] = fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)
	}
	s := DefaultSettings()
	s.Protocol, s.Port, s.Path, s.MaxHops = TCP, 443, true, 30
	cfg := &Config{MaxPacketRate: DefaultMaxPacketRate, Groups: []Group{{Targets: targets, Settings: s}, {Targets: targets, Settings: s}}}
	cfg.Groups[1].Settings.Protocol = UDP
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// With flows each target holds one port per flow: 1000 x 11 = 11000
	// fit the 11384, 1000 x 12 do not.
	cfg.Groups[0].Settings.Flows = 11
	if err := cfg.Validate(); err != nil {
		t.Errorf("1000 targets with 11 flows: %v", err)
	}
	cfg.Groups[0].Settings.Flows = 12
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "up to 12000 tcp source ports at once") {
		t.Errorf("1000 targets with 12 flows: %v, want 12000 tcp source ports refused", err)
	}
}

// TestValidateResolvesDefaults: Validate gives an unset mode and engine
// their defaults, so that nothing after it meets "". A mode left unset is
// not refused beside engine "cli" (the core then probes in rounds, with a
// W!), also when the configuration is validated again; continuous asked for
// with engine "cli" is refused.
func TestValidateResolvesDefaults(t *testing.T) {
	group := []Group{{Targets: []string{"127.0.0.1"}, Settings: DefaultSettings()}}
	c := &Config{MaxPacketRate: DefaultMaxPacketRate, Groups: group}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeContinuous || c.Engine != EngineAuto {
		t.Errorf("mode %q, engine %q after Validate, want %q and %q", c.Mode, c.Engine, ModeContinuous, EngineAuto)
	}
	cli := &Config{MaxPacketRate: DefaultMaxPacketRate, Engine: EngineCLI, Groups: group}
	for i := range 2 {
		if err := cli.Validate(); err != nil {
			t.Fatalf("validation %d of an unset mode with engine cli: %v", i+1, err)
		}
	}
	asked := &Config{MaxPacketRate: DefaultMaxPacketRate, Engine: EngineCLI, Mode: ModeContinuous, Groups: group}
	if err := asked.Validate(); err == nil || !strings.Contains(err.Error(), "continuous needs the tcl engine") {
		t.Errorf("mode continuous with engine cli: %v, want refused", err)
	}
}
