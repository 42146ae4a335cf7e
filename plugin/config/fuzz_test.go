package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoadConfig feeds arbitrary text to the TOML loader. It must never
// panic, and a text it accepts and that then passes Validate must keep every
// limit that protects hping3 and the network: the checks must not be
// bypassable through the file.
func FuzzLoadConfig(f *testing.F) {
	for _, pattern := range []string{"testdata/*.toml", "../../examples/*.conf", "../../examples/*.toml", "../../examples/*/*.toml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil && strings.Contains(string(b), "[[inputs.hping3]]") {
				f.Add(string(b))
			}
		}
	}
	for _, s := range []string{
		"[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n",
		"max_packet_rate = 1\n[[inputs.hping3]]\ntargets = [\"a\"]\ninterval = \"1s\"\n",
		"[[inputs.hping3]]\ntargets = [\"a\"]\nprotocol = \"TCP\"\nport = 1\ntcp_flags = \"SAFRPU\"\n",
		"[[inputs.hping3]]\ntargets = [\"a\"]\ninterval = \"abc\"\n",
		"[[inputs.hping3]]\ntargets = [\"a\"]\ncount = 1e9\n",
		"[[inputs.hping3]]\ntargets = [\"a\"]\n[inputs.hping3.tags]\nk = \"v\"\n[[inputs.hping3]]\ntargets = [\"b\"]\n",
		"poll_interval = 1\n",
		"[inputs]\nhping3 = 3\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseFile("fuzz.toml", text)
		if err != nil {
			if c != nil {
				t.Fatalf("error %v with a config", err)
			}
			return
		}
		if c.Validate() != nil {
			return
		}
		if c.MaxPacketRate < 1 || c.MaxPacketRate > MaxTotalRateLimit || len(c.Groups) == 0 {
			t.Fatalf("valid config out of bounds: %+v", c)
		}
		for _, g := range c.Groups {
			s := g.Settings
			if (len(g.Targets) == 0 && g.TargetsFile == "") || s.Count < 1 || s.Count > MaxCount || s.Interval < MinInterval || s.Interval > MaxInterval ||
				s.Rate() > MaxTargetRate || s.Rate() > float64(c.MaxPacketRate) ||
				(s.Interval > MaxSubSecond && s.Interval%time.Second != 0) ||
				s.Timeout < MinTimeout || s.Timeout > MaxTimeout || s.Concurrency < 1 || s.Concurrency > MaxConcurrency ||
				s.DataSize < 0 || s.DataSize > MaxDataSize || s.TTL < 0 || s.TTL > 255 || s.TOS < 0 || s.TOS > 255 ||
				strings.HasPrefix(s.HPing3, "-") {
				t.Fatalf("valid group out of bounds: %+v", g)
			}
			switch s.Protocol {
			case ICMP:
				if s.Port != 0 {
					t.Fatalf("icmp with port %d", s.Port)
				}
			case TCP, UDP:
				if s.Port < 1 || s.Port > 65535 {
					t.Fatalf("port %d", s.Port)
				}
			default:
				t.Fatalf("protocol %q", s.Protocol)
			}
			if s.Protocol == TCP && (s.TCPFlags == "" || strings.Trim(s.TCPFlags, tcpFlagSet) != "") {
				t.Fatalf("tcp flags %q", s.TCPFlags)
			}
			for k, v := range g.Tags {
				if k == "" || v == "" || reservedTags[k] {
					t.Fatalf("tag %q=%q", k, v)
				}
			}
		}
	})
}
