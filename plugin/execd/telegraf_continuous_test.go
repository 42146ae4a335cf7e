package execd_test

import (
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// The settings of the continuous end-to-end tests: no mode key (continuous
// is the default) and no count, one packet every 100 ms per target.
const continuousConf = `
[[inputs.hping3]]
  targets = ["nonexistent.invalid", "127.0.0.1"]
  interval = "100ms"
  timeout = "500ms"
  [inputs.hping3.tags]
    lab = "e2e"
`

// signal = "STDIN", mode continuous (the default): each of Telegraf's
// requests reports the window since the previous one.
func TestTelegrafContinuousSignalStdin(t *testing.T) {
	run := runTelegrafWith(t, continuousConf, "STDIN", 4)
	checkWindows(t, run, 4)
	checkErrorLogged(t, run.log)
}

// signal = "none": the plugin reports a window every --poll-interval.
func TestTelegrafContinuousSignalNonePollInterval(t *testing.T) {
	run := runTelegrafWith(t, continuousConf, "none", 4, "--mode", "continuous", "--poll-interval", "1s")
	windows := checkWindows(t, run, 4)
	for k := 1; k < len(windows); k++ {
		if d := windows[k].duration; d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Errorf("window %d lasted %v, want the 1 s poll interval", k, d)
		}
	}
	checkErrorLogged(t, run.log)
}

type window struct {
	start    time.Time
	duration time.Duration
	sent     int64
}

// checkWindows asserts every window Telegraf wrote (at least n): one line
// per target and one hping3_round line, sharing the window's start; the
// windows follow each other without a gap; 127.0.0.1 was sent one packet
// per 100 ms of each window (within one; the first window also holds the
// engine's start and the first packets' timeout) and answered every one.
func checkWindows(t *testing.T, run telegrafRun, n int) []window {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	self := map[int64]metric{}
	for _, m := range run.out {
		if m.name == "hping3_round" {
			self[m.time.UnixNano()] = m
		}
	}
	var windows []window
	for ns, lines := range byRound(run.out) {
		ts := time.Unix(0, ns)
		if ts.Before(run.start) || ts.After(run.stop) {
			t.Errorf("window start %v outside the run %v..%v", ts, run.start, run.stop)
		}
		r, ok := self[ns]
		if !ok || len(lines) != 2 {
			t.Errorf("window at %v: %d lines and hping3_round %v, want 2 and one", ts, len(lines), ok)
			continue
		}
		w := window{start: ts, duration: time.Duration(r.fields["duration_ms"].FloatV() * float64(time.Millisecond))}
		for _, m := range lines {
			switch m.tags["target"] {
			case "127.0.0.1":
				checkTags(t, m, map[string]string{"host": host, "ip": "127.0.0.1", "lab": "e2e", "protocol": "icmp", "target": "127.0.0.1"})
				w.sent = m.fields["packets_transmitted"].IntV()
				for f, want := range map[string]int64{"packets_received": w.sent, "duplicates": 0, "icmp_errors": 0, "ttl": 64, "result_code": 0} {
					if kindOf(m, f) != lineprotocol.Int || m.fields[f].IntV() != want {
						t.Errorf("window at %v: %s = %v, want %d (%v)", ts, f, m.fields[f], want, m.fields)
					}
				}
				if kindOf(m, "percent_packet_loss") != lineprotocol.Float || m.fields["percent_packet_loss"].FloatV() != 0 {
					t.Errorf("window at %v: percent_packet_loss %v, want 0", ts, m.fields["percent_packet_loss"])
				}
				lo, hi := m.fields["minimum_response_ms"].FloatV(), m.fields["maximum_response_ms"].FloatV()
				if !(lo > 0 && lo <= hi && hi < 50) {
					t.Errorf("window at %v: rtt %v..%v ms, want 0 < min <= max < 50", ts, lo, hi)
				}
			case "nonexistent.invalid":
				if len(m.fields) != 1 || m.fields["result_code"].IntV() != 1 {
					t.Errorf("unresolvable target: fields %v, want only result_code=1i", m.fields)
				}
			default:
				t.Errorf("line for unexpected target %q", m.tags["target"])
			}
		}
		if r.tags["host"] != host || r.fields["targets"].IntV() != 2 || r.fields["failures"].IntV() != 1 ||
			r.fields["packets"].IntV() != w.sent || kindOf(r, "engine_restarts") != lineprotocol.Int || r.fields["engine_restarts"].IntV() != 0 ||
			kindOf(r, "overrun") != lineprotocol.Bool || r.fields["overrun"].BoolV() {
			t.Errorf("hping3_round of the window at %v: %+v", ts, r)
		}
		windows = append(windows, w)
	}
	slices.SortFunc(windows, func(a, b window) int { return a.start.Compare(b.start) })
	if len(windows) < n {
		t.Fatalf("%d windows, want at least %d", len(windows), n)
	}
	for k, w := range windows {
		if k == 0 {
			if w.sent < 1 {
				t.Errorf("first window: %d packets, want at least 1", w.sent)
			}
			continue
		}
		// One window ends where the next starts (duration_ms is exact to
		// well under a microsecond): no packet falls between two reports.
		prev := windows[k-1]
		if gap := w.start.Sub(prev.start.Add(prev.duration)); gap.Abs() > time.Microsecond {
			t.Errorf("window %d starts %v after window %d ended", k, gap, k-1)
		}
		expected := w.duration.Seconds() / 0.1
		if float64(w.sent) < math.Floor(expected)-1 || float64(w.sent) > math.Ceil(expected)+1 {
			t.Errorf("window %d of %v: %d packets, want %.1f within one", k, w.duration, w.sent, expected)
		}
	}
	return windows
}
