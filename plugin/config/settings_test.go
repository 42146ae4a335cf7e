package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md's settings table from the settings table")

const (
	tableStart = "<!-- settings table: generated from plugin/config (go test ./plugin/config -run TestSettingsTable -update); do not edit by hand -->"
	tableEnd   = "<!-- end of settings table -->"
)

// TestSettingsTable: docs/configuration.md shows the settings table as the
// code has it. With -update it rewrites that part of the file.
func TestSettingsTable(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(doc), tableStart)
	_, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok || !ok2 {
		t.Fatalf("%s lacks the marker lines\n%s\n%s", path, tableStart, tableEnd)
	}
	want := "\n" + MarkdownTable() + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(before+tableStart+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := rest[:strings.Index(rest, tableEnd)]; got != want {
		t.Errorf("%s's settings table differs from the code's: run go test ./plugin/config -run TestSettingsTable -update\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// The table's rows come from the entries: spot-check a few by hand, so a
// renderer that drops a column or a row fails.
func TestMarkdownTableRows(t *testing.T) {
	md := MarkdownTable()
	for _, row := range []string{
		"| `count` | `--count` | 5 | 1..400 packets per target per round | packets per target per round (hping3 keeps send times for 400 sequence numbers) |",
		"| `tags` |  | none |",
		"| `max_packet_rate` (top level) | `--max-packet-rate` | 1000 | 1..10000 packets/s over all targets |",
		"| `concurrency` | `--concurrency` | 32 | 1..256 hping3 processes at once | engine \"cli\" only: hping3 processes",
	} {
		if !strings.Contains(md, row) {
			t.Errorf("table lacks %q:\n%s", row, md)
		}
	}
	if n := strings.Count(md, "\n"); n != 2+len(settingsTable)-1 {
		t.Errorf("table has %d lines, want a header, a rule and %d rows", n+1, len(settingsTable))
	}
}

// TestExampleConfShowsEveryKey: examples/hping3-plugin.conf shows every key
// of the table, the commented-out ones with the table's default, and, with
// every commented-out setting and table enabled, it loads and validates:
// no key there is stale.
func TestExampleConfShowsEveryKey(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "hping3-plugin.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, s := range settingsTable {
		re := regexp.MustCompile(`(?m)^\s*#?\s*` + regexp.QuoteMeta(s.Key) + `\s*=\s*(.*)$`)
		if s.Key == "tags" {
			re = regexp.MustCompile(`(?m)^\s*#?\s*\[inputs\.hping3\.tags\]()`)
		}
		m := re.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s does not show %q", path, s.Key)
			continue
		}
		if s.DefaultText == "" && s.Key != "targets" {
			if v := strings.Trim(m[1], `"`); v != s.Default() {
				t.Errorf("%s shows %s = %s, the default is %s", path, s.Key, m[1], s.Default())
			}
		}
	}
	enable := regexp.MustCompile(`(?m)^(\s*)#\s*(\[|[a-z_0-9]+\s*=)`)
	all := enable.ReplaceAllString(text, "$1$2")
	c, err := parseFile(path+" (all enabled)", all)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s with everything enabled: %v", path, err)
	}
	if len(c.Groups) != 2 {
		t.Errorf("%d tables with everything enabled, want the two shown", len(c.Groups))
	}
}

// TestEveryFlagSetsItsSetting: each flag, given a value other than its
// default, lands in the configuration. The expected values are written
// here by hand; a flag the table adds without a row here fails.
func TestEveryFlagSetsItsSetting(t *testing.T) {
	cases := map[string]struct {
		arg  string
		want func(c *Config) any
		is   any
	}{
		"target":          {"192.0.2.1", func(c *Config) any { return c.Groups[0].Targets }, []string{"192.0.2.1"}},
		"protocol":        {"UDP", func(c *Config) any { return c.Groups[0].Settings.Protocol }, UDP},
		"port":            {"53", func(c *Config) any { return c.Groups[0].Settings.Port }, 53},
		"tcp-flags":       {"SA", func(c *Config) any { return c.Groups[0].Settings.TCPFlags }, "SA"},
		"count":           {"3", func(c *Config) any { return c.Groups[0].Settings.Count }, 3},
		"interval":        {"200ms", func(c *Config) any { return c.Groups[0].Settings.Interval }, 200 * time.Millisecond},
		"timeout":         {"300ms", func(c *Config) any { return c.Groups[0].Settings.Timeout }, 300 * time.Millisecond},
		"data-size":       {"64", func(c *Config) any { return c.Groups[0].Settings.DataSize }, 64},
		"ttl":             {"9", func(c *Config) any { return c.Groups[0].Settings.TTL }, 9},
		"tos":             {"16", func(c *Config) any { return c.Groups[0].Settings.TOS }, 16},
		"dscp":            {"af41", func(c *Config) any { return c.Tags(0)["dscp"] }, "AF41"},
		"dont-fragment":   {"true", func(c *Config) any { return c.Groups[0].Settings.DontFrag }, true},
		"source-address":  {"127.0.0.1", func(c *Config) any { return c.Tags(0)["source_address"] }, "127.0.0.1"},
		"interface":       {"lo", func(c *Config) any { return c.Groups[0].Settings.Interface }, "lo"},
		"dns-timeout":     {"5s", func(c *Config) any { return c.Groups[0].Settings.DNSTimeout }, 5 * time.Second},
		"concurrency":     {"4", func(c *Config) any { return c.Groups[0].Settings.Concurrency }, 4},
		"hping3":          {"/opt/hping3", func(c *Config) any { return c.Groups[0].Settings.HPing3 }, "/opt/hping3"},
		"percentiles":     {"50,99", func(c *Config) any { return c.Groups[0].Settings.Percentiles }, []int{50, 99}},
		"path":            {"true", func(c *Config) any { return c.Groups[0].Settings.Path }, true},
		"max-hops":        {"12", func(c *Config) any { return c.Groups[0].Settings.MaxHops }, 12},
		"flows":           {"8", func(c *Config) any { return c.Groups[0].Settings.Flows }, 8},
		"poll-interval":   {"30s", func(c *Config) any { return c.PollInterval }, 30 * time.Second},
		"max-packet-rate": {"200", func(c *Config) any { return c.MaxPacketRate }, 200},
		"engine":          {"CLI", func(c *Config) any { return c.Engine }, EngineCLI},
		"mode":            {"Rounds", func(c *Config) any { return c.Mode }, ModeRounds},
		"vantage":         {"paris-1", func(c *Config) any { return c.Tags(0)["vantage"] }, "paris-1"},
	}
	for _, s := range settingsTable {
		if s.Flag == "" {
			continue
		}
		c, ok := cases[s.Flag]
		if !ok {
			t.Errorf("--%s has no case here: add one", s.Flag)
			continue
		}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		pf := RegisterProbeFlags(fs, DefaultSettings())
		args := []string{"--" + s.Flag + "=" + c.arg} // the form a boolean flag needs too
		if s.Flag != "target" {
			args = append(args, "--target", "192.0.2.1")
		}
		switch s.Flag {
		case "port":
			args = append(args, "--protocol", "tcp")
		case "protocol":
			args = append(args, "--port", "53")
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := pf.Build("", DefaultSettings())
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if got := c.want(cfg); !reflect.DeepEqual(got, c.is) {
			t.Errorf("%v: got %#v, want %#v", args, got, c.is)
		}
	}
	// One-round modes have no flag for settings only rounds use.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterOneRoundFlags(fs, DefaultSettings())
	if fs.Lookup("poll-interval") != nil || fs.Lookup("count") == nil {
		t.Error("RegisterOneRoundFlags: want --count and no --poll-interval")
	}
}

// TestEverySettingIsValidated: each key has a value validation refuses with
// an error naming it, so no setting reaches hping3 or the network
// unchecked. The bad values are written here by hand; a key the table adds
// without one fails.
func TestEverySettingIsValidated(t *testing.T) {
	bad := map[string]string{
		"targets":         `targets = []`,
		"targets_file":    `targets_file = "hosts.txt"`,
		"protocol":        `protocol = "sctp"`,
		"port":            `port = 70000` + "\n" + `protocol = "tcp"`,
		"tcp_flags":       `tcp_flags = "SX"` + "\n" + `protocol = "tcp"` + "\nport = 1",
		"count":           `count = 401`,
		"interval":        `interval = "5ms"`, // 200 packets/s to one target
		"timeout":         `timeout = "31s"`,
		"data_size":       `data_size = 8973`,
		"dont_fragment":   `dont_fragment = "yes"`, // a boolean: only its type can be wrong
		"ttl":             `ttl = 256`,
		"tos":             `tos = -1`,
		"dscp":            `dscp = "AF44"`,
		"source_address":  `source_address = "192.0.2.1"`, // TEST-NET-1: no interface here holds it
		"interface":       `interface = "no-such-if0"`,
		"dns_timeout":     `dns_timeout = "31s"`,
		"concurrency":     `concurrency = 0`,
		"hping3":          `hping3 = "--flood"`,
		"percentiles":     `percentiles = [100]`,
		"path":            `path = true`, // with engine = "cli" (companion below)
		"max_hops":        `max_hops = 65`,
		"flows":           `flows = 33`,
		"tags":            "[inputs.hping3.tags]\nhost = \"x\"",
		"poll_interval":   `poll_interval = "500ms"`,
		"max_packet_rate": `max_packet_rate = 10001`,
		"engine":          `engine = "fast"`,
		"mode":            `mode = "continuous"` + "\n" + `engine = "cli"`,
		"vantage":         `vantage = "` + strings.Repeat("x", 65) + `"`,
	}
	for _, s := range settingsTable {
		line, ok := bad[s.Key]
		if !ok {
			t.Errorf("%s has no bad value here: add one", s.Key)
			continue
		}
		text := "[[inputs.hping3]]\n"
		if s.Key != "targets" {
			text += "targets = [\"192.0.2.1\"]\n"
		}
		// A group setting refused only beside a top-level one.
		if top, ok := map[string]string{"path": `engine = "cli"`}[s.Key]; ok {
			text = top + "\n" + text
		}
		if s.Top {
			text = line + "\n" + text
		} else {
			text += line + "\n"
		}
		c, err := parseFile("t.toml", text)
		if s.Key == "dont_fragment" {
			if err == nil || !strings.Contains(err.Error(), s.Key) {
				t.Errorf("%q: error %v, want one naming %s", text, err, s.Key)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", s.Key, err)
			continue
		}
		err = c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, s.Key) {
			t.Errorf("%q: error %v, want a FieldError for %s", text, err, s.Key)
		}
	}
}
