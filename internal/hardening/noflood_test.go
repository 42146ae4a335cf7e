package hardening

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// forbidden are hping3 options that would make the plugin a flood, spoofing
// or listening tool, or hand it a file or a fixed source port.
var forbidden = []string{"--flood", "--faster", "--fast", "u0", "--rand-source", "--rand-dest", "-a", "--spoof",
	"--listen", "-9", "--file", "-E", "-k", "--keep", "--beep", "--force-icmp", "exec"}

// valueOf says what each option the plugin may give hping3 takes; nil for
// none. Anything else in an argv fails the test.
var valueOf = map[string]*regexp.Regexp{
	"-n": nil, "-1": nil, "-2": nil,
	"-S": nil, "-A": nil, "-F": nil, "-R": nil, "-P": nil, "-U": nil,
	"-c": regexp.MustCompile(`^([1-9]|[1-9][0-9]|[1-3][0-9][0-9]|400)$`),
	"-i": regexp.MustCompile(`^(u[1-9][0-9]{3,5}|[1-9]|[1-5][0-9]|60)$`),
	"-p": regexp.MustCompile(`^[1-9][0-9]{0,4}$`),
	"-s": regexp.MustCompile(`^[1-9][0-9]{3,4}$`),
	"-d": regexp.MustCompile(`^[0-9]{1,4}$`),
	"-t": regexp.MustCompile(`^[0-9]{1,3}$`),
	"-o": regexp.MustCompile(`^[0-9a-f]{1,2}$`),
	"-I": regexp.MustCompile(`^lo$`),
}

// checkArgv fails unless argv is hping3 given only allowed options with
// well-formed values, then "--" and one IPv4 literal.
func checkArgv(t *testing.T, argv []string) {
	t.Helper()
	if problem := argvProblem(argv); problem != "" {
		t.Errorf("%q: %s", argv, problem)
	}
}

// argvProblem returns what is wrong with argv, or "".
func argvProblem(argv []string) string {
	if len(argv) > 1 && strings.HasSuffix(argv[0], "stdbuf") && argv[1] == "-oL" {
		argv = argv[2:]
	}
	for _, a := range argv[1:] {
		for _, f := range forbidden {
			if a == f || strings.HasPrefix(a, f+"=") {
				return "forbidden hping3 option " + a
			}
		}
	}
	args := argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i != len(args)-2 {
				return "the target is not the one argument after --"
			}
			if ip, err := netip.ParseAddr(args[i+1]); err != nil || !ip.Is4() || ip.String() != args[i+1] {
				return strconv.Quote(args[i+1]) + " after -- is not an IPv4 literal"
			}
			return ""
		}
		re, ok := valueOf[a]
		switch {
		case !ok:
			return "argument " + strconv.Quote(a) + " is not one the plugin may pass"
		case re == nil:
		case i+1 >= len(args) || !re.MatchString(args[i+1]):
			return "option " + a + " with a bad value"
		default:
			i++
		}
	}
	return "no -- before the target"
}

// TestNoFloodArgv runs the plugin with many configurations, the hostile
// ones included, and checks every hping3 command line it ran (both from
// --debug and from a recording stand-in).
func TestNoFloodArgv(t *testing.T) {
	dir := testbin.OpenDir(t)
	bin, log := recorder(t, dir)
	root := testbin.RepoRoot()
	base := []string{"--once", "--debug", "--hping3", bin}
	var configs [][]string
	for _, target := range []string{"127.0.0.1", "localhost", "--flood", "-a", "127.0.0.1 --rand-source", "-k", "127.0.0.1;--faster"} {
		configs = append(configs, []string{"--target", target, "--target", "127.0.0.2"})
	}
	for _, proto := range []string{"icmp", "tcp", "udp"} {
		for _, extra := range [][]string{
			nil,
			{"--count", "1", "--interval", "10ms"},
			{"--count", "400", "--interval", "10ms", "--timeout", "1ms"},
			{"--interval", "999ms", "--count", "1"},
			{"--interval", "1s", "--count", "1", "--timeout", "1ms"},
			{"--data-size", "1472", "--ttl", "255", "--tos", "255", "--interface", "lo", "--count", "1"},
			{"--data-size", "0", "--ttl", "1", "--tos", "16", "--count", "2", "--interval", "10ms"},
		} {
			c := append([]string{"--target", "127.0.0.1", "--protocol", proto}, extra...)
			if proto != "icmp" {
				c = append(c, "--port", "65535")
			}
			configs = append(configs, c)
		}
	}
	for _, flags := range []string{"S", "SA", "FPU", "R", "SAFRPU", "UPRFAS"} {
		configs = append(configs, []string{"--target", "127.0.0.1", "--protocol", "tcp", "--port", "1", "--tcp-flags", flags, "--count", "1"})
	}
	// Every configuration file shipped or used in the tests.
	files, _ := filepath.Glob(filepath.Join(root, "plugin", "config", "testdata", "*.toml"))
	for _, pattern := range []string{"*.conf", "*.toml", "*/*.conf", "*/*.toml"} {
		more, _ := filepath.Glob(filepath.Join(root, "examples", pattern))
		for _, f := range more {
			// Only the plugin's own files (examples/ also holds Telegraf's).
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "[[inputs.hping3]]") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		configs = append(configs, []string{"--config", f, "--count", "1"})
	}

	debugRuns := 0
	for _, c := range configs {
		r := runPlugin(t, 30*time.Second, "", append(append([]string{}, base...), c...)...)
		if r.code != 0 {
			t.Errorf("%q: exit %d: %s", c, r.code, r.stderr)
			continue
		}
		for _, l := range strings.Split(r.stderr, "\n") {
			if _, argv, ok := strings.Cut(l, ": ran "); ok && strings.HasPrefix(l, "D! ") {
				checkArgv(t, strings.Fields(argv))
				debugRuns++
			}
		}
	}
	recorded := runs(t, log)
	for _, r := range recorded {
		checkArgv(t, append([]string{"hping3"}, strings.Fields(r)...))
	}
	t.Logf("%d configurations (%d files), %d hping3 runs checked", len(configs), len(files), len(recorded))
	if debugRuns != len(recorded) || debugRuns < len(configs) {
		t.Errorf("%d runs in --debug, %d recorded, for %d configurations", debugRuns, len(recorded), len(configs))
	}
}

// TestNoFloodChecksItself: the argv check rejects what it must, so a pass
// above means something.
func TestNoFloodChecksItself(t *testing.T) {
	for _, bad := range [][]string{
		{"hping3", "-n", "-c", "1", "--flood", "--", "127.0.0.1"},
		{"hping3", "-n", "-i", "u0", "--", "127.0.0.1"},
		{"hping3", "-n", "-a", "10.0.0.1", "--", "127.0.0.1"},
		{"hping3", "-n", "-c", "5", "--", "localhost"},
		{"hping3", "-n", "-c", "5", "127.0.0.1"},
		{"hping3", "-n", "-c", "5", "--", "127.0.0.1", "--flood"},
		{"hping3", "-n", "-c", "100000", "--", "127.0.0.1"},
		{"hping3", "-n", "-I", "eth0 --flood", "--", "127.0.0.1"},
	} {
		if argvProblem(bad) == "" {
			t.Errorf("checkArgv accepted %q", bad)
		}
	}
}

// TestNoWayToPassRawArguments: the only flags are the settings table's,
// each of which validation bounds (config's TestEverySettingIsValidated),
// and the reviewed mode flags below (a new one fails this test until
// someone checks it cannot reach hping3 as an option); and TOML keys that
// could carry arguments are refused. (engine: one of three words,
// validated; it picks the Go code that drives hping3 and is never passed
// to it.)
func TestNoWayToPassRawArguments(t *testing.T) {
	reviewed := map[string]string{
		// The Site24x7 flags only to refuse them by name; prometheus-listen
		// is an address the plugin listens on, web-config a file
		// exporter-toolkit reads, histogram-buckets and
		// native-histogram-factor numbers the otel front end parses for
		// its histogram (otel.ParseBuckets, CheckNativeFactor): none
		// reaches hping3.
		"":           "config deadline debug heartbeat histogram-buckets host native-histogram-factor once otlp otlp-endpoint plugin-version prometheus-listen site24x7 web-config",
		"--site24x7": "deadline debug heartbeat host plugin-version",
	}
	for mode, want := range reviewed {
		args := []string{"--help"}
		if mode != "" {
			args = []string{mode, "--help"}
		}
		r := runPlugin(t, 10*time.Second, "", args...)
		table := map[string]bool{}
		for _, s := range config.Table() {
			if s.Flag != "" && !(mode == "--site24x7" && s.Rounds) {
				table[s.Flag] = true
				table[strings.ReplaceAll(s.Flag, "-", "_")] = true // Site24x7's .cfg spelling
			}
		}
		var got []string
		for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
			m := helpFlag.FindStringSubmatch(l)
			if m == nil || table[m[1]] {
				continue
			}
			got = append(got, m[1])
		}
		sort.Strings(got)
		got = slices.Compact(got)
		if strings.Join(got, " ") != want {
			t.Errorf("flags of mode %q beside the settings table changed:\n got  %s\n want %s\nreview every new flag: it must never reach hping3 as an option", mode, strings.Join(got, " "), want)
		}
	}

	dir := testbin.OpenDir(t)
	bin, log := recorder(t, dir)
	for i, key := range []string{"args", "extra_args", "hping3_args", "options", "flags", "raw", "flood", "spoof", "source", "rand_source", "listen", "file", "command"} {
		for _, where := range []string{"", "[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n"} {
			text := where + key + ` = ["--flood"]` + "\n"
			if where == "" {
				text += "[[inputs.hping3]]\ntargets = [\"127.0.0.1\"]\n"
			}
			f := filepath.Join(dir, "k"+strconv.Itoa(i)+".toml")
			os.WriteFile(f, []byte(text), 0o644)
			r := runPlugin(t, 10*time.Second, "", "--once", "--hping3", bin, "--config", f)
			if r.code != 2 || !strings.Contains(r.stderr, "unknown key") || !strings.Contains(r.stderr, key) {
				t.Errorf("key %q (%q): exit %d, stderr %q; want exit 2 naming the unknown key", key, where, r.code, r.stderr)
			}
		}
	}
	if got := runs(t, log); len(got) != 0 {
		t.Errorf("hping3 ran: %q", got)
	}
}

// helpFlag finds a flag's name at the start of a --help line.
var helpFlag = regexp.MustCompile(`^\s+--?([a-z0-9][a-z0-9_-]*)\b`)
