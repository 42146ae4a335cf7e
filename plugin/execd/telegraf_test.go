package execd_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// End-to-end under a real Telegraf: Telegraf runs the plugin through
// inputs.execd with the block of examples/telegraf.conf, and writes
// what it received with outputs.file. The test reads that file.

const pluginConf = `
mode = "rounds"

[[inputs.hping3]]
  targets = ["nonexistent.invalid", "127.0.0.1"]
  count = 2
  interval = "100ms"
  timeout = "500ms"
  [inputs.hping3.tags]
    lab = "e2e"
`

// The agent and output around the example's [[inputs.execd]] block: short
// intervals so rounds come every second, and outputs.file to read back.
const telegrafAround = `
[agent]
  interval = "1s"
  flush_interval = "1s"
  round_interval = false
  flush_jitter = "0s"
  collection_jitter = "0s"
  omit_hostname = false

%s

[[outputs.file]]
  files = [%q]
  data_format = "influx"
`

// exampleTelegrafConf returns examples/telegraf.conf, the block users paste,
// pointed at this test's plugin binary and settings file, with its signal
// and extra plugin arguments set.
func exampleTelegrafConf(t *testing.T, plugin, pconf, signal string, args []string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "examples", "telegraf.conf"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	command := fmt.Sprintf("command = [%q, \"--config\", %q", plugin, pconf)
	for _, a := range args {
		command += fmt.Sprintf(", %q", a)
	}
	for _, r := range [][2]string{
		{`command = ["/usr/bin/hping3-plugin", "--config", "/etc/hping3-plugin/hping3-plugin.conf"]`, command + "]"},
		{`signal = "STDIN"`, fmt.Sprintf("signal = %q", signal)},
	} {
		if strings.Count(text, r[0]) != 1 {
			t.Fatalf("examples/telegraf.conf no longer has exactly one %s", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	return text
}

type telegrafRun struct {
	out   []metric // what outputs.file wrote
	log   string   // Telegraf's stderr
	start time.Time
	stop  time.Time
}

// runTelegraf runs Telegraf until outputs.file holds rounds full rounds,
// stops it with SIGTERM as a service manager would, and checks that Telegraf,
// the plugin and every hping3 are gone within 2 s of Telegraf's exit.
func runTelegraf(t *testing.T, signal string, rounds int, pluginArgs ...string) telegrafRun {
	t.Helper()
	return runTelegrafWith(t, pluginConf, signal, rounds, pluginArgs...)
}

// runTelegrafWith is runTelegraf with the plugin's settings file conf.
func runTelegrafWith(t *testing.T, conf, signal string, rounds int, pluginArgs ...string) telegrafRun {
	t.Helper()
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	becomeSubreaper(t)
	plugin := testbin.Plugin(t)
	telegraf := testbin.Telegraf(t)

	dir := t.TempDir()
	pconf := filepath.Join(dir, "hping3-plugin.conf")
	tconf := filepath.Join(dir, "telegraf.conf")
	outFile := filepath.Join(dir, "metrics.out")
	write(t, pconf, conf)
	write(t, tconf, fmt.Sprintf(telegrafAround, exampleTelegrafConf(t, plugin, pconf, signal, pluginArgs), outFile))

	stderr := &testbin.Buffer{}
	cmd := exec.Command(telegraf, "--config", tconf)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	w := watch()
	run := telegrafRun{start: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()

	// Wait for rounds distinct timestamps with both targets' lines.
	deadline := time.Now().Add(time.Duration(rounds)*time.Second + 20*time.Second)
	for fullRounds(readMetrics(t, outFile)) < rounds {
		select {
		case err := <-exited:
			t.Fatalf("telegraf exited early: %v\n%s", err, stderr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("outputs.file has fewer than %d full rounds after %v:\n%s\nTelegraf log:\n%s",
				rounds, time.Since(run.start), readFile(outFile), stderr)
		}
	}

	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("telegraf: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("telegraf still running 15s after SIGTERM:\n%s", stderr)
	}
	run.stop = time.Now()
	// Telegraf closes the plugin's stdin and waits 5 s before it sends
	// SIGTERM: a shutdown well under that shows the plugin left on EOF.
	if took := run.stop.Sub(t0); took > 4*time.Second {
		t.Errorf("telegraf took %v to stop: the plugin did not exit on stdin EOF", took)
	}
	requireAllGone(t, run.stop, 2*time.Second)
	w.close()
	for _, comm := range []string{"telegraf", "hping3-plugin", "hping3"} {
		if !w.saw(comm) {
			t.Errorf("never saw %s running: the process check above proves nothing", comm)
		}
	}

	run.out = readMetrics(t, outFile)
	run.log = stderr.String()
	return run
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string { b, _ := os.ReadFile(path); return string(b) }

// readMetrics decodes the complete lines outputs.file has written so far.
func readMetrics(t *testing.T, path string) []metric {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if i := strings.LastIndexByte(string(b), '\n'); i >= 0 {
		return decode(t, b[:i+1])
	}
	return nil
}

// byRound groups the per-target lines by timestamp: a round's lines share
// one. The round's self-metric line is checked by checkRoundLines.
func byRound(ms []metric) map[int64][]metric {
	r := map[int64][]metric{}
	for _, m := range ms {
		if m.name == "hping3" { // the targets' lines
			r[m.time.UnixNano()] = append(r[m.time.UnixNano()], m)
		}
	}
	return r
}

// checkRoundLines asserts one hping3_round line per round with the round's
// timestamp: 2 targets, 1 hping3 process (the unresolvable name starts
// none), 1 failure, a duration that fits the 2 x 100 ms probe.
func checkRoundLines(t *testing.T, run telegrafRun, host string) {
	t.Helper()
	rounds := byRound(run.out)
	n := 0
	for _, m := range run.out {
		if m.name != "hping3_round" {
			continue
		}
		n++
		if _, ok := rounds[m.time.UnixNano()]; !ok {
			t.Errorf("hping3_round at %v matches no round", m.time)
		}
		d := m.fields["duration_ms"]
		if m.tags["host"] != host || m.fields["targets"].IntV() != 2 || m.fields["processes"].IntV() != 1 ||
			m.fields["failures"].IntV() != 1 || d.Kind() != lineprotocol.Float || d.FloatV() < 100 || d.FloatV() > 3000 ||
			m.fields["overrun"].Kind() != lineprotocol.Bool ||
			kindOf(m, "packets") != lineprotocol.Int || m.fields["packets"].IntV() != 2 || kindOf(m, "engine_restarts") != lineprotocol.Unknown {
			t.Errorf("hping3_round line %+v", m)
		}
	}
	if n == 0 || n < len(rounds)-1 {
		t.Errorf("%d hping3_round lines for %d rounds", n, len(rounds))
	}
}

func fullRounds(ms []metric) int {
	n := 0
	for _, r := range byRound(ms) {
		if len(r) == 2 {
			n++
		}
	}
	return n
}

// checkRounds asserts every line Telegraf wrote: the schema, Telegraf's own
// host tag beside ours, typed fields and values within bounds.
func checkRounds(t *testing.T, run telegrafRun) []time.Time {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	checkRoundLines(t, run, host)
	var stamps []time.Time
	for ns, lines := range byRound(run.out) {
		ts := time.Unix(0, ns)
		stamps = append(stamps, ts)
		if ts.Before(run.start) || ts.After(run.stop) {
			t.Errorf("round timestamp %v outside the run %v..%v", ts, run.start, run.stop)
		}
		if len(lines) != 2 {
			t.Errorf("round at %v has %d lines, want 2 (one per target): %+v", ts, len(lines), lines)
			continue
		}
		for _, m := range lines {
			if m.name != "hping3" {
				t.Errorf("measurement %q, want hping3", m.name)
			}
			switch m.tags["target"] {
			case "127.0.0.1":
				checkReachable(t, m, host)
			case "nonexistent.invalid":
				checkTags(t, m, map[string]string{"host": host, "lab": "e2e", "protocol": "icmp", "target": "nonexistent.invalid"})
				if len(m.fields) != 1 || kindOf(m, "result_code") != lineprotocol.Int || m.fields["result_code"].IntV() != 1 {
					t.Errorf("unresolvable target: fields %v, want only result_code=1i", m.fields)
				}
			default:
				t.Errorf("line for unexpected target %q", m.tags["target"])
			}
		}
	}
	slices.SortFunc(stamps, func(a, b time.Time) int { return a.Compare(b) })
	return stamps
}

func checkTags(t *testing.T, m metric, want map[string]string) {
	t.Helper()
	if len(m.tags) != len(want) {
		t.Errorf("tags %v, want %v", m.tags, want)
		return
	}
	for k, v := range want {
		if m.tags[k] != v {
			t.Errorf("tag %s = %q, want %q (tags %v)", k, m.tags[k], v, m.tags)
		}
	}
}

func kindOf(m metric, f string) lineprotocol.ValueKind {
	v, ok := m.fields[f]
	if !ok {
		return lineprotocol.Unknown
	}
	return v.Kind()
}

func checkReachable(t *testing.T, m metric, host string) {
	t.Helper()
	checkTags(t, m, map[string]string{"host": host, "ip": "127.0.0.1", "lab": "e2e", "protocol": "icmp", "target": "127.0.0.1"})
	ints := map[string][2]int64{ // field: inclusive bounds
		"packets_transmitted": {2, 2}, "packets_received": {1, 2}, "ttl": {64, 64},
		// Other tests' UDP probes to closed loopback ports put port
		// unreachables on lo, which every hping3 sees; an ICMP probe
		// never counts those, so no ICMP error is expected here.
		"duplicates": {0, 0}, "icmp_errors": {0, 0}, "result_code": {0, 0},
	}
	floats := map[string][2]float64{
		"percent_packet_loss": {0, 50}, "minimum_response_ms": {0, 500}, "average_response_ms": {0, 500},
		"maximum_response_ms": {0, 500}, "standard_deviation_ms": {0, 500}, "dns_ms": {0, 0},
	}
	for f, b := range ints {
		if kindOf(m, f) != lineprotocol.Int {
			t.Errorf("field %s: kind %v, want int (%v)", f, kindOf(m, f), m.fields)
			continue
		}
		if v := m.fields[f].IntV(); v < b[0] || v > b[1] {
			t.Errorf("field %s = %d, want %d..%d", f, v, b[0], b[1])
		}
	}
	for f, b := range floats {
		if kindOf(m, f) != lineprotocol.Float {
			t.Errorf("field %s: kind %v, want float (%v)", f, kindOf(m, f), m.fields)
			continue
		}
		if v := m.fields[f].FloatV(); v < b[0] || v > b[1] {
			t.Errorf("field %s = %v, want %v..%v", f, v, b[0], b[1])
		}
	}
	if t.Failed() {
		return
	}
	tx, rx := m.fields["packets_transmitted"].IntV(), m.fields["packets_received"].IntV()
	if loss := m.fields["percent_packet_loss"].FloatV(); math.Abs(loss-100*float64(tx-rx)/float64(tx)) > 1e-9 {
		t.Errorf("percent_packet_loss %v for %d of %d received", loss, rx, tx)
	}
	lo, avg, hi := m.fields["minimum_response_ms"].FloatV(), m.fields["average_response_ms"].FloatV(), m.fields["maximum_response_ms"].FloatV()
	if !(lo <= avg && avg <= hi) {
		t.Errorf("rtt min/avg/max %v/%v/%v out of order", lo, avg, hi)
	}
}

// Telegraf's log level for each of our stderr lines: "E! [inputs.execd] ...".
var execdLog = regexp.MustCompile(`(?m)^\S+ ([EWIDT])! \[inputs\.execd\] (.*)$`)

func checkErrorLogged(t *testing.T, log string) {
	t.Helper()
	found := false
	for _, m := range execdLog.FindAllStringSubmatch(log, -1) {
		if strings.Contains(m[2], "nonexistent.invalid") {
			found = true
			if m[1] != "E" {
				t.Errorf("Telegraf logged our message at level %s!, want E!: %s", m[1], m[0])
			}
		}
		if strings.HasPrefix(m[2], "stderr:") {
			t.Errorf("a stderr line without a level prefix reached Telegraf: %s", m[0])
		}
	}
	if !found {
		t.Errorf("Telegraf's log has no E! line from inputs.execd about nonexistent.invalid:\n%s", log)
	}
	// A plugin that exits on its own, or with an error, is logged by
	// Telegraf's process supervisor.
	for _, bad := range []string{"exited:", "Restarting in", "writing to stdin failed", "parse error"} {
		if strings.Contains(log, bad) {
			t.Errorf("Telegraf's log contains %q:\n%s", bad, log)
		}
	}
}

// signal = "STDIN": Telegraf writes a line each interval; one round per line.
func TestTelegrafSignalStdin(t *testing.T) {
	run := runTelegraf(t, "STDIN", 3)
	stamps := checkRounds(t, run)
	if len(stamps) < 3 {
		t.Errorf("%d rounds, want at least 3", len(stamps))
	}
	checkErrorLogged(t, run.log)
}

// signal = "none": the plugin polls on its own every --poll-interval.
func TestTelegrafSignalNonePollInterval(t *testing.T) {
	run := runTelegraf(t, "none", 3, "--poll-interval", "1s")
	stamps := checkRounds(t, run)
	if len(stamps) < 3 {
		t.Fatalf("%d rounds, want at least 3", len(stamps))
	}
	// Rounds follow the plugin's 1 s grid: round k starts no sooner than
	// k seconds after the first (less the first round's own start delay).
	for k, s := range stamps {
		if d := s.Sub(stamps[0]); d < time.Duration(k)*time.Second-100*time.Millisecond {
			t.Errorf("round %d started %v after the first, want >= %v", k, d, time.Duration(k)*time.Second)
		}
	}
	checkErrorLogged(t, run.log)
}
