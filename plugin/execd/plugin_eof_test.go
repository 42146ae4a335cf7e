package execd_test

import (
	"io"
	"strings"
	"testing"
	"time"
)

// Telegraf's shutdown as the plugin sees it in mode continuous (the
// default): requests at intervals, the last one written right before stdin
// closes. Every request gets its window, the last one too, and the plugin
// exits with status 0 within a second of EOF, its hping3 engine gone.
func TestPluginContinuousRequestBeforeEOF(t *testing.T) {
	bin := requireProbing(t)
	const n = 7
	r := startPlugin(t, bin, "--target", "127.0.0.1", "--interval", "100ms", "--timeout", "500ms")
	// window reads one window: the target's line, then hping3_round.
	window := func() []metric {
		return decode(t, []byte(r.line(t, 10*time.Second)+"\n"+r.line(t, 10*time.Second)+"\n"))
	}
	var windows [][]metric
	for k := 1; k < n; k++ {
		if _, err := io.WriteString(r.stdin, "\n"); err != nil {
			t.Fatal(err)
		}
		// Answered before the next request, so that none are merged.
		windows = append(windows, window())
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := io.WriteString(r.stdin, "\n"); err != nil {
		t.Fatal(err)
	}
	r.stdin.Close()
	t0 := time.Now()
	var rest []string
	stuck := time.After(5 * time.Second)
read:
	for {
		select {
		case l, ok := <-r.lines:
			if !ok { // the plugin closed stdout
				break read
			}
			rest = append(rest, l)
		case <-stuck:
			t.Fatalf("stdout still open 5s after EOF; stderr: %s", r.stderr)
		}
	}
	if took := r.waitExit(t, t0, 5*time.Second); took > time.Second {
		t.Errorf("exited %v after EOF, want within 1s", took)
	}
	if r.err != nil {
		t.Errorf("exit: %v, want status 0; stderr: %s", r.err, r.stderr)
	}
	if len(rest) > 0 {
		windows = append(windows, decode(t, []byte(strings.Join(rest, "\n")+"\n")))
	}
	if len(windows) != n || len(rest) != 2 {
		t.Fatalf("%d windows, the last of %d lines (%q), for %d requests: want %d, the last of 2 lines", len(windows), len(rest), rest, n, n)
	}
	for k, w := range windows {
		if len(w) != 2 || w[0].name != "hping3" || w[0].tags["target"] != "127.0.0.1" ||
			w[1].name != "hping3_round" || w[1].time != w[0].time {
			t.Fatalf("window %d: %+v, want the line of 127.0.0.1 and hping3_round at its start", k+1, w)
		}
		if k > 0 {
			// Windows follow each other, the last one too: no packet lost
			// between two reports.
			prev := windows[k-1][1]
			end := prev.time.Add(time.Duration(prev.fields["duration_ms"].FloatV() * float64(time.Millisecond)))
			if gap := w[0].time.Sub(end); gap.Abs() > time.Microsecond {
				t.Errorf("window %d starts %v after window %d ended", k+1, gap, k)
			}
		}
	}
	if s := r.stderr.String(); strings.Contains(s, "E! ") || strings.Contains(s, "W! ") || strings.Contains(s, "panic") {
		t.Errorf("stderr: %s", s)
	}
	requireAllGone(t, t0, time.Second)
}
