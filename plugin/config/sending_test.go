package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// TestDSCP: a class name or number gives the TOS byte of RFC 2474 (DSCP in
// the upper six bits), and one class is one tag value however it is
// written. The bytes are those of the RFCs' tables, written here by hand.
func TestDSCP(t *testing.T) {
	cases := []struct {
		dscp string
		tos  int
		tag  string
	}{
		{"EF", 184, "EF"}, {"ef", 184, "EF"}, {"46", 184, "EF"},
		{"AF41", 136, "AF41"}, {"af11", 40, "AF11"}, {"CS1", 32, "CS1"}, {"cs6", 192, "CS6"},
		{"LE", 4, "LE"}, {"VOICE-ADMIT", 176, "VOICE-ADMIT"},
		{"0", 0, "DF"}, {"CS0", 0, "DF"}, {"df", 0, "DF"},
		{"63", 252, "63"}, {"5", 20, "5"},
	}
	for _, c := range cases {
		s := DefaultSettings()
		s.DSCP = c.dscp
		if err := s.Validate(""); err != nil {
			t.Errorf("dscp %q: %v", c.dscp, err)
			continue
		}
		if got := s.TOSByte(); got != c.tos {
			t.Errorf("dscp %q: TOS byte %d, want %d", c.dscp, got, c.tos)
		}
		if got := s.SettingTags(); !maps.Equal(got, map[string]string{"dscp": c.tag}) {
			t.Errorf("dscp %q: tags %v, want dscp=%s", c.dscp, got, c.tag)
		}
	}
	for _, bad := range []string{"AF14", "EF ", "064", "-1", "64", "0x2e", "be"} {
		s := DefaultSettings()
		s.DSCP = bad
		if err := s.Validate(""); err == nil || !strings.Contains(err.Error(), `invalid dscp = "`+bad+`"`) {
			t.Errorf("dscp %q: error %v, want it refused", bad, err)
		}
	}
}

// TestSettingTags: a table that sets none of tos, dscp and source_address
// keeps its tags as they are; one that does gets each it sets, beside its
// own tags and vantage, and may not have a tag or label of that name.
func TestSettingTags(t *testing.T) {
	c := validCfg(func(s *Settings) {})
	c.Groups[0].Tags = map[string]string{"site": "paris"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Tags(0); !maps.Equal(got, map[string]string{"site": "paris"}) {
		t.Errorf("no sending settings: tags %v, want site only", got)
	}
	c = validCfg(func(s *Settings) { s.TOS, s.Source = 16, "127.0.0.1" })
	c.Groups[0].Tags, c.Vantage = map[string]string{"site": "paris"}, "v1"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"site": "paris", "vantage": "v1", "tos": "16", "source_address": "127.0.0.1"}
	if got := c.Tags(0); !maps.Equal(got, want) {
		t.Errorf("tos and source: tags %v, want %v", got, want)
	}

	c = validCfg(func(s *Settings) { s.DSCP = "EF" })
	c.Groups[0].Tags = map[string]string{"dscp": "voice"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `invalid tags.dscp = "voice": a key other than`) {
		t.Errorf("tag dscp beside dscp: error %v, want it refused", err)
	}
	c = validCfg(func(s *Settings) {})
	c.Groups[0].Tags = map[string]string{"dscp": "voice", "tos": "x", "source_address": "y"}
	if err := c.Validate(); err != nil {
		t.Errorf("tags dscp, tos, source_address on a table that sets none: %v", err)
	}
}

// TestLongTimeout: a timeout over 1s is the Tcl engine's only, and
// timeout × max_packet_rate stays within 60000 packets in flight, so the
// 16-bit IP id and ICMP sequence cannot wrap within a timeout.
func TestLongTimeout(t *testing.T) {
	cases := []struct {
		timeout time.Duration
		rate    int
		engine  Engine
		want    string // "" valid
	}{
		{3 * time.Second, 1000, EngineAuto, ""},
		{30 * time.Second, 2000, EngineTcl, ""},
		{30 * time.Second, 2001, EngineTcl, "invalid timeout = 30s: with max_packet_rate 2001, at most 29.985s"},
		{6 * time.Second, 10000, EngineTcl, ""},
		{6001 * time.Millisecond, 10000, EngineTcl, "with max_packet_rate 10000, at most 6s"},
		{time.Second, 10000, EngineCLI, ""},
		{1001 * time.Millisecond, 10, EngineCLI, "invalid timeout = 1.001s: a timeout over 1s needs the tcl engine"},
	}
	for _, c := range cases {
		cfg := validCfg(func(s *Settings) { s.Timeout = c.timeout })
		cfg.MaxPacketRate, cfg.Engine, cfg.Mode = c.rate, c.engine, ModeRounds
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("timeout %v at %d/s, engine %s: %v", c.timeout, c.rate, c.engine, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("timeout %v at %d/s, engine %s: error %v, want %q", c.timeout, c.rate, c.engine, err, c.want)
		}
	}
	cfg := validCfg(func(s *Settings) { s.DataSize = 1473 })
	cfg.Engine = EngineCLI
	cfg.Mode = ModeRounds
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "invalid data_size = 1473: a data_size over 1472 needs the tcl engine") {
		t.Errorf("data_size 1473, engine cli: error %v", err)
	}
}
