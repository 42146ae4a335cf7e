package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// buildWith runs Build on a file with flags args, as the plugin does.
func buildWith(t *testing.T, file string, args ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pf := RegisterProbeFlags(fs, DefaultSettings())
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return pf.Build(file, DefaultSettings())
}

// writeFiles writes files (name: text) into a new directory and returns
// its path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTargetsFileGroups: testdata/targets-file.toml names its files
// relative to its own directory (testdata/, not the test's working
// directory); each distinct port and labels of a file is a group of its
// own, in file order, after the table's own targets.
func TestTargetsFileGroups(t *testing.T) {
	c, err := buildWith(t, "testdata/targets-file.toml", "--target", "192.0.2.99")
	if err != nil {
		t.Fatal(err)
	}
	web, gw := abs(t, "testdata/targets/web.json"), abs(t, "testdata/targets/gw.yml")
	tcp := DefaultSettings()
	tcp.Protocol, tcp.Port = TCP, 443
	tcp8443 := tcp
	tcp8443.Port = 8443
	icmp := DefaultSettings()
	icmp.Count = 3
	want := []Group{
		{Targets: []string{"127.0.0.1"}, Settings: tcp, Tags: map[string]string{"site": "lab"}, TargetsFile: "targets/web.json", Table: 0},
		{Targets: []string{"192.0.2.1", "192.0.2.2"}, Settings: tcp, Tags: map[string]string{"site": "lab", "env": "prod", "dc": "par1"}, Table: 0,
			From: "targets_file " + web + " entries 0, 1"},
		{Targets: []string{"web1.example"}, Settings: tcp8443, Tags: map[string]string{"site": "lab", "env": "prod", "dc": "par1"}, Table: 0,
			From: "targets_file " + web + " entry 0"},
		// 192.0.2.3:443 is the table's port: the group of the table's port.
		{Targets: []string{"192.0.2.3"}, Settings: tcp, Tags: map[string]string{"site": "lab", "env": "staging"}, Table: 0,
			From: "targets_file " + web + " entry 2"},
		{Targets: []string{"192.0.2.4"}, Settings: tcp, Tags: map[string]string{"site": "lab"}, Table: 0,
			From: "targets_file " + web + " entry 3"},
		// The second table has no targets of its own: no group of its own.
		{Targets: []string{"198.51.100.1", "198.51.100.2"}, Settings: icmp, Tags: map[string]string{"rack": "r1"}, Table: 1,
			From: "targets_file " + gw + " entry 0"},
		{Targets: []string{"gw.example"}, Settings: icmp, Tags: map[string]string{"rack": "12", "vantage": "lab"}, Table: 1,
			From: "targets_file " + gw + " entry 1"},
		{Targets: []string{"192.0.2.99"}, Settings: DefaultSettings(), Table: 2},
	}
	if len(c.Groups) != len(want) {
		t.Fatalf("%d groups, want %d:\n%+v", len(c.Groups), len(want), c.Groups)
	}
	for i := range want {
		if !reflect.DeepEqual(c.Groups[i], want[i]) {
			t.Errorf("group %d\n got %+v\nwant %+v", i, c.Groups[i], want[i])
		}
	}
	if got := c.TargetsFiles(); !reflect.DeepEqual(got, []string{web, gw}) {
		t.Errorf("TargetsFiles() = %q, want %q", got, []string{web, gw})
	}
	// Reading again changes nothing.
	before := append([]Group(nil), c.Groups...)
	if err := c.ReadTargetsFiles(); err != nil || !reflect.DeepEqual(c.Groups, before) {
		t.Errorf("second ReadTargetsFiles: %v, groups changed: %v", err, !reflect.DeepEqual(c.Groups, before))
	}
	// The derived groups own their tags and percentiles.
	c.Groups[1].Tags["env"] = "x"
	if c.Groups[2].Tags["env"] != "prod" || c.Groups[0].Tags["env"] != "" {
		t.Error("derived groups share a tags map")
	}
}

// TestTargetsFileLoadFileAlone: LoadFile does not read the files (flags
// come first); ReadTargetsFiles does, and TargetsFiles is empty before.
func TestTargetsFileLoadFileAlone(t *testing.T) {
	c, err := LoadFile("testdata/targets-file.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 2 || c.Groups[1].TargetsFile != "targets/gw.yml" || len(c.TargetsFiles()) != 0 {
		t.Fatalf("before reading: %d groups, %+v, files %q", len(c.Groups), c.Groups, c.TargetsFiles())
	}
	if err := c.ReadTargetsFiles(); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 7 || len(c.TargetsFiles()) != 2 {
		t.Errorf("after reading: %d groups, files %q; want 7 groups, 2 files", len(c.Groups), c.TargetsFiles())
	}
}

// TestTargetsFilePorts: a flag changes the table's port, which the file's
// targets without a port take; a HOST:PORT keeps its own. An absolute path
// is taken as it is; two tables naming one file watch it once.
func TestTargetsFilePorts(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"t.yaml": "- targets: [a.example:9000, b.example, c.example:8080]\n",
	})
	file := filepath.Join(dir, "t.yaml")
	conf := filepath.Join(t.TempDir(), "c.toml")
	text := "[[inputs.hping3]]\ntargets_file = \"" + file + "\"\nprotocol = \"udp\"\nport = 53\n" +
		"[[inputs.hping3]]\ntargets_file = \"" + file + "\"\nprotocol = \"tcp\"\nport = 22\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := buildWith(t, conf, "--port", "8080")
	if err != nil {
		t.Fatal(err)
	}
	type gp struct {
		targets string
		proto   Protocol
		port    int
		table   int
	}
	var got []gp
	for _, g := range c.Groups {
		got = append(got, gp{strings.Join(g.Targets, ","), g.Settings.Protocol, g.Settings.Port, g.Table})
	}
	want := []gp{
		{"a.example", UDP, 9000, 0}, {"b.example,c.example", UDP, 8080, 0},
		{"a.example", TCP, 9000, 1}, {"b.example,c.example", TCP, 8080, 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups\n got %+v\nwant %+v", got, want)
	}
	if f := c.TargetsFiles(); !reflect.DeepEqual(f, []string{file}) {
		t.Errorf("TargetsFiles() = %q, want [%q]", f, file)
	}
}

// TestTargetsFileEmpty: a file without targets is allowed while the
// configuration has a target elsewhere, and the table's settings are still
// validated; with no target anywhere it is an error naming the file.
func TestTargetsFileEmpty(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"none.json":  `[]`,
		"none.yml":   "",
		"empty.json": `[{"targets": [], "labels": {"a": "b"}}]`,
		"one.json":   `[{"targets": ["192.0.2.1"]}]`,
	})
	for _, c := range []struct {
		name, toml string
		groups     int    // when valid
		want       string // the error, when not
	}{
		{"own targets", "[[inputs.hping3]]\ntargets = [\"192.0.2.9\"]\ntargets_file = \"none.json\"\n", 1, ""},
		{"other table", "[[inputs.hping3]]\ntargets_file = \"none.yml\"\n[[inputs.hping3]]\ntargets_file = \"one.json\"\n", 1, ""},
		{"other table settings checked", "[[inputs.hping3]]\ntargets_file = \"none.yml\"\ncount = 0\n[[inputs.hping3]]\ntargets_file = \"one.json\"\n", 0,
			"invalid inputs.hping3[0].count = 0: 1..400"},
		{"nothing anywhere", "[[inputs.hping3]]\ntargets_file = \"empty.json\"\n", 0,
			"inputs.hping3[0].targets_file " + filepath.Join(dir, "empty.json") + ": no targets, and the configuration has no other target"},
		{"neither key", "[[inputs.hping3]]\ncount = 3\n", 0,
			"invalid targets = []: at least one target, unless the table has a targets_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := filepath.Join(dir, "c.toml")
			if err := os.WriteFile(conf, []byte(c.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := buildWith(t, conf)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "" && len(cfg.Groups) != c.groups:
				t.Errorf("%d groups, want %d: %+v", len(cfg.Groups), c.groups, cfg.Groups)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestTargetsFileErrors: every way a file can be wrong is an error naming
// the configuration file, the table, the file, the entry and the problem.
func TestTargetsFileErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		table string // the table's settings beside targets_file
		file  string // the targets file's name
		text  string
		want  string // after "config C: inputs.hping3[0].targets_file F: "
	}{
		{"missing", "", "gone.json", "", "cannot read it: no such file or directory"},
		{"directory", "", "dir.json", "", "cannot read it: is a directory"},
		{"extension", "", "t.txt", `[]`, "not a .json, .yml or .yaml file"},
		{"bad json", "", "t.json", "[\n {\"targets\": [\"a\"],}\n]", `not valid JSON: line 2: invalid character '}' looking for beginning of object key string`},
		{"empty json", "", "t.json", "", "not valid JSON: line 1: unexpected end of JSON input"},
		{"bad yaml", "", "t.yml", "- targets: [a\n- labels: {}\n", "not valid YAML: yaml: line 1: did not find expected ',' or ']'"},
		{"not a list", "", "t.json", `{"targets": ["a"]}`, `an object, not a list of target groups [{"targets": [...], "labels": {...}}, ...]`},
		{"entry not an object", "", "t.json", `[{"targets": ["a"]}, "b"]`, `entry 1: a string, not an object {"targets": [...], "labels": {...}}`},
		{"entry null", "", "t.json", `[null]`, `entry 0: null, not an object`},
		{"unknown key", "", "t.yaml", "- targets: [a]\n  label: {x: y}\n", `entry 0: unknown key "label" (an entry has "targets" and "labels")`},
		{"targets not a list", "", "t.json", `[{"targets": "a"}]`, `entry 0: "targets" is a string, not a list of strings`},
		{"target not a string", "", "t.json", `[{"targets": ["a", 1]}]`, `entry 0: target 1 is a number, not a string "HOST" or "HOST:PORT"`},
		{"labels not an object", "", "t.json", `[{"targets": ["a"], "labels": ["x"]}]`, `entry 0: "labels" is a list, not an object of strings`},
		{"label value a number", "", "t.yml", "- targets: [a]\n  labels: {rack: 12}\n", `entry 0: label "rack": the value is a number, not a string (quote it)`},
		{"bad host", "", "t.json", `[{"targets": ["a"]}, {"targets": ["b", "-c"]}]`, `entry 1: target "-c": not a valid host name (begins with '-')`},
		{"host character", "", "t.json", `[{"targets": ["a b"]}]`, `entry 0: target "a b": not a valid host name (character ' ' is not allowed)`},
		{"empty host", "", "t.json", `[{"targets": [""]}]`, `entry 0: target "": not a valid host name (empty)`},
		{"ipv6", "", "t.json", `[{"targets": ["2001:db8::1"]}]`, `entry 0: target "2001:db8::1": an IPv6 address: hping3 probes IPv4 only`},
		{"ipv6 with port", "protocol = \"tcp\"\nport = 1", "t.json", `[{"targets": ["[2001:db8::1]:80"]}]`, `entry 0: target "[2001:db8::1]:80": an IPv6 address: hping3 probes IPv4 only`},
		{"colons", "", "t.json", `[{"targets": ["a:b:c"]}]`, `entry 0: target "a:b:c": not "HOST" or "HOST:PORT"`},
		{"port 0", "protocol = \"tcp\"\nport = 1", "t.json", `[{"targets": ["a:0"]}]`, `entry 0: target "a:0": port "0": 1..65535`},
		{"port 65536", "protocol = \"udp\"\nport = 1", "t.json", `[{"targets": ["a:65536"]}]`, `entry 0: target "a:65536": port "65536": 1..65535`},
		{"port a name", "protocol = \"tcp\"\nport = 1", "t.json", `[{"targets": ["a:http"]}]`, `entry 0: target "a:http": port "http": 1..65535`},
		{"port empty", "protocol = \"tcp\"\nport = 1", "t.json", `[{"targets": ["a:"]}]`, `entry 0: target "a:": port "": 1..65535`},
		{"port in icmp", "", "t.json", `[{"targets": ["a:80"]}]`, `entry 0: target "a:80": a port only in a tcp or udp table, and this table's protocol is icmp`},
		{"no port anywhere", "protocol = \"tcp\"", "t.json", `[{"targets": ["a:80", "b"]}]`, `entry 0: target "b": no port, and the table has none: protocol tcp needs HOST:PORT or the table's port`},
		{"label name", "", "t.json", `[{"targets": ["a"], "labels": {"a-b": "x"}}]`, `entry 0: label "a-b": not a label name ([a-zA-Z_][a-zA-Z0-9_]*)`},
		{"label name digit", "", "t.json", `[{"targets": ["a"], "labels": {"1x": "x"}}]`, `entry 0: label "1x": not a label name`},
		{"label name utf8", "", "t.json", `[{"targets": ["a"], "labels": {"été": "x"}}]`, `entry 0: label "été": not a label name`},
		{"label name empty", "", "t.json", `[{"targets": ["a"], "labels": {"": "x"}}]`, `entry 0: label "": not a label name`},
		{"label __", "", "t.json", `[{"targets": ["a"], "labels": {"__address__": "x"}}]`, `entry 0: label "__address__": names starting with __ are Prometheus' own`},
		{"label job", "", "t.json", `[{"targets": ["a"], "labels": {"job": "x"}}]`, `entry 0: label "job": job and instance are Prometheus' own`},
		{"label instance", "", "t.json", `[{"targets": ["a"], "labels": {"instance": "x"}}]`, `entry 0: label "instance": job and instance are Prometheus' own`},
		{"label host", "", "t.json", `[{"targets": ["a"], "labels": {"host": "x"}}]`, `entry 0: label "host": a tag the plugin sets itself (host, target, ip, protocol, port, hop, hop_ip, flow, vantage (when the top-level vantage is set), tos, dscp, source_address (when the table sets them))`},
		{"label hop_ip", "", "t.json", `[{"targets": ["a"], "labels": {"hop_ip": "x"}}]`, `entry 0: label "hop_ip": a tag the plugin sets itself`},
		{"label port", "", "t.json", `[{"targets": ["a"], "labels": {"port": "x"}}]`, `entry 0: label "port": a tag the plugin sets itself`},
		{"label vantage", "", "t.json", `[{"targets": ["a"], "labels": {"vantage": "x"}}]`, `entry 0: label "vantage": a tag the plugin sets itself`}, // vantage set below
		{"label and tag", "[inputs.hping3.tags]\nsite = \"lab\"", "t.json", `[{"targets": ["a"], "labels": {"site": "x"}}]`, `entry 0: label site="x": the table's tags already have site = "lab"`},
		{"label value empty", "", "t.json", `[{"targets": ["a"], "labels": {"k": ""}}]`, `entry 0: label "k": value "": not empty, printable UTF-8, not ending in a backslash`},
		{"label value backslash", "", "t.json", `[{"targets": ["a"], "labels": {"k": "v\\"}}]`, `entry 0: label "k": value "v\\": not empty`},
		{"label value control", "", "t.json", `[{"targets": ["a"], "labels": {"k": "a\tb"}}]`, `entry 0: label "k": value "a\tb": not empty`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			switch c.name {
			case "missing":
			case "directory":
				if err := os.Mkdir(filepath.Join(dir, c.file), 0o755); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			conf := filepath.Join(dir, "c.toml")
			text := "vantage = \"v1\"\n[[inputs.hping3]]\ntargets_file = \"" + c.file + "\"\n" + c.table + "\n"
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := buildWith(t, conf)
			want := "config " + conf + ": inputs.hping3[0].targets_file " + filepath.Join(dir, c.file) + ": " + c.want
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v\nwant one containing %q", err, want)
			}
		})
	}
}

// TestTargetsFileProblemsBounded: each problem of a file is said, up to
// ten, then how many more; the second table's number is named.
func TestTargetsFileProblemsBounded(t *testing.T) {
	var entries []string
	for range 13 {
		entries = append(entries, `{"targets": ["-x"]}`)
	}
	dir := writeFiles(t, map[string]string{
		"t.json": "[" + strings.Join(entries, ",") + "]",
		"c.toml": "[[inputs.hping3]]\ntargets = [\"a\"]\n[[inputs.hping3]]\ntargets_file = \"t.json\"\n",
	})
	_, err := buildWith(t, filepath.Join(dir, "c.toml"))
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	prefix := "config " + filepath.Join(dir, "c.toml") + ": inputs.hping3[1].targets_file " + filepath.Join(dir, "t.json") + ": "
	if len(lines) != 11 || lines[0] != prefix+`entry 0: target "-x": not a valid host name (begins with '-')` ||
		lines[9] != prefix+`entry 9: target "-x": not a valid host name (begins with '-')` || lines[10] != prefix+"3 more problems" {
		t.Errorf("%d lines:\n%s", len(lines), err)
	}
}

// TestTargetsFileValidation: the groups a file adds carry their table's
// settings, so a bad setting is said once, naming the table by its number
// in the file, not the group's.
func TestTargetsFileValidation(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"t.json": `[{"targets": ["a"], "labels": {"k": "1"}}, {"targets": ["b"], "labels": {"k": "2"}}]`,
		"c.toml": "[[inputs.hping3]]\ntargets = [\"x\"]\n[[inputs.hping3]]\ntargets = [\"y\"]\ntargets_file = \"t.json\"\ncount = 0\n[[inputs.hping3]]\ntargets = [\"z\"]\nttl = 300\n",
	})
	_, err := buildWith(t, filepath.Join(dir, "c.toml"))
	if err == nil {
		t.Fatal("no error")
	}
	want := "invalid inputs.hping3[1].count = 0: 1..400 packets per target per round\ninvalid inputs.hping3[2].ttl = 300: 1..255 (0 keeps hping3's default of 64)"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("%v is not a FieldError", err)
	}
	// Only the extension can be checked without reading the file.
	c, err := parseFile("t.toml", "[[inputs.hping3]]\ntargets_file = \"hosts.txt\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || err.Error() != `invalid targets_file = "hosts.txt": a path ending in .json, .yml or .yaml` {
		t.Errorf("extension: %v", err)
	}
}

func TestCheckHost(t *testing.T) {
	for host, want := range map[string]string{
		"192.0.2.1":                      "",
		"::ffff:192.0.2.1":               "",
		"www.example.com":                "",
		"under_score-1.example.":         "",
		"::1":                            "an IPv6 address: hping3 probes IPv4 only",
		"a..b":                           "not a valid host name (empty label)",
		strings.Repeat("a", 64) + ".com": "not a valid host name (a label is longer than 63 characters)",
		strings.Repeat("a.", 127):        "not a valid host name (254 characters, more than 253)",
		"a;b":                            `not a valid host name (character ';' is not allowed)`,
	} {
		if got := CheckHost(host); got != want {
			t.Errorf("CheckHost(%q) = %q, want %q", host, got, want)
		}
	}
}
