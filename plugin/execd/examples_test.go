package execd_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// A setting line of the example: "# key = value" with a single space, which
// the test uncomments; prose starts with "##", and the second example table
// is written "#  key" so it stays commented.
var settingLine = regexp.MustCompile(`(?m)^(\s*)# ([a-z_0-9]+ = .*)$`)

func exampleConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "examples", "hping3-plugin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadConf(t *testing.T, text string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hping3-plugin.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("loading:\n%s\n%v", text, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validating:\n%s\n%v", text, err)
	}
	return cfg
}

// The example loads as shipped, and every default it states is the real
// default: with all its settings uncommented the configuration is unchanged.
func TestExamplePluginConfStatesTheDefaults(t *testing.T) {
	text := exampleConf(t)
	shipped := loadConf(t, text)
	if len(shipped.Groups) != 1 || !reflect.DeepEqual(shipped.Groups[0].Targets, []string{"127.0.0.1"}) {
		t.Fatalf("shipped example: groups %+v, want one table probing 127.0.0.1", shipped.Groups)
	}

	uncommented := settingLine.ReplaceAllString(text, "$1$2")
	var keys []string
	for _, m := range settingLine.FindAllStringSubmatch(text, -1) {
		keys = append(keys, strings.Fields(m[2])[0])
	}
	all := loadConf(t, uncommented)

	want := config.DefaultSettings()
	got := all.Groups[0].Settings
	if got.Percentiles != nil && len(got.Percentiles) == 0 {
		got.Percentiles = nil // "percentiles = []" is "none", as the default
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uncommented example settings\n got %+v\nwant %+v (the defaults)", got, want)
	}
	if all.PollInterval != 0 || all.MaxPacketRate != config.DefaultMaxPacketRate {
		t.Errorf("uncommented top level: poll_interval %v, max_packet_rate %d; want 0 and %d",
			all.PollInterval, all.MaxPacketRate, config.DefaultMaxPacketRate)
	}

	// Every key the file format knows is documented with a value, except
	// the ones that have no default to show (targets is set, port has none,
	// tags is a table).
	documented := strings.Join(keys, " ") + " targets"
	for _, k := range []string{"poll_interval", "max_packet_rate", "targets", "protocol", "tcp_flags", "count",
		"interval", "timeout", "data_size", "ttl", "tos", "interface", "dns_timeout", "concurrency", "hping3", "percentiles"} {
		if !strings.Contains(" "+documented+" ", " "+k+" ") {
			t.Errorf("key %s has no commented default in examples/hping3-plugin.conf", k)
		}
	}
	for _, k := range []string{"port", "[inputs.hping3.tags]"} {
		if !strings.Contains(text, k) {
			t.Errorf("examples/hping3-plugin.conf does not mention %s", k)
		}
	}
}

// The commented second table (TCP, with tags) is valid once uncommented.
func TestExamplePluginConfTCPTable(t *testing.T) {
	text := exampleConf(t)
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "#[[") || strings.HasPrefix(l, "#  ") {
			l = l[1:]
		}
		b.WriteString(l + "\n")
	}
	cfg := loadConf(t, b.String())
	if len(cfg.Groups) != 2 {
		t.Fatalf("%d tables, want 2", len(cfg.Groups))
	}
	g := cfg.Groups[1]
	if g.Settings.Protocol != config.TCP || g.Settings.Port != 443 || g.Settings.Count != 3 || g.Tags["service"] != "https" {
		t.Errorf("tcp table: %+v", g)
	}
}
