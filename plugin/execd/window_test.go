package execd

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// The self-metric of a window: packets and engine_restarts, the packets by
// clock and the capture's drops, the window's length as duration_ms,
// overrun false whatever the caller says (a window returns at once and
// cannot fall behind).
func TestEncodeRoundWindow(t *testing.T) {
	win := core.Report{Window: true, Start: ts, Duration: 10 * time.Second, Processes: 1, Failures: 1, Packets: 20, Restarts: 2,
		Results: make([]probe.Result, 2), Stamps: probe.Stamps{Kernel: 17, Fallback: 2, Engine: 1}, CaptureDrops: 3}
	want := "hping3_round targets=2i,processes=1i,failures=1i,packets=20i,engine_restarts=2i,kernel_stamped=17i,send_stamp_fallbacks=2i,hping3_stamped=1i,capture_drops=3i,duration_ms=10000,overrun=false 1764045600123456789\n"
	for _, overrun := range []bool{false, true} {
		if got := string(EncodeRound(win, overrun)); got != want {
			t.Errorf("window, overrun %v:\n%s\nwant\n%s", overrun, got, want)
		}
	}
	// A round: packets too, no engine_restarts.
	rd := core.Report{Start: ts, Duration: 1500 * time.Millisecond, Processes: 2, Packets: 6, Results: make([]probe.Result, 2)}
	want = "hping3_round targets=2i,processes=2i,failures=0i,packets=6i,kernel_stamped=0i,send_stamp_fallbacks=0i,hping3_stamped=0i,capture_drops=0i,duration_ms=1500,overrun=true 1764045600123456789\n"
	if got := string(EncodeRound(rd, true)); got != want {
		t.Errorf("round:\n%s\nwant\n%s", got, want)
	}
	// With a vantage, the line carries it as the probe lines do.
	rd.Vantage = "paris-1"
	want = "hping3_round,vantage=paris-1 targets=2i,processes=2i,failures=0i,packets=6i,kernel_stamped=0i,send_stamp_fallbacks=0i,hping3_stamped=0i,capture_drops=0i,duration_ms=1500,overrun=true 1764045600123456789\n"
	if got := string(EncodeRound(rd, true)); got != want {
		t.Errorf("round with vantage:\n%s\nwant\n%s", got, want)
	}
}

// fakeStream is a continuous Source: Next returns at once the window since
// the previous call, its packets one per 10 ms of it.
type fakeStream struct {
	delay time.Duration // before Next returns: requests then come meanwhile

	mu    sync.Mutex
	t0    time.Time
	last  time.Time
	calls []time.Time
}

func (f *fakeStream) next(context.Context) core.Report {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	start := f.last
	if start.IsZero() {
		start = f.t0
	}
	f.last = now
	f.calls = append(f.calls, now)
	n := int(now.Sub(start) / (10 * time.Millisecond))
	return core.Report{Window: true, Start: start, Duration: now.Sub(start), Processes: 1, Packets: n,
		Results: []probe.Result{{Target: "w", Protocol: config.ICMP, Code: probe.OK, Transmitted: n, Received: n, TTL: -1}}}
}

// In continuous mode the first poll comes one interval after the start (at
// once it would report an empty window), then every interval on the grid;
// windows never warn of an overrun.
func TestContinuousPollsFromOneIntervalOn(t *testing.T) {
	const poll = 200 * time.Millisecond
	t0 := time.Now()
	f := &fakeStream{t0: t0}
	out, logs := newWrites(), &syncBuf{}
	l := loop{round: f.next, continuous: true, out: out, log: logger.New(logs, true), poll: poll, grace: stopGrace}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx, nil, nil) }()
	out.wait(t, 3)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.calls[:3] {
		// Timers never fire early, and a loaded machine may delay one by
		// a poll at most before the grid catches up.
		at := c.Sub(t0)
		if want := time.Duration(k+1) * poll; at < want || at > want+poll {
			t.Errorf("report %d at %v after the start, want %v..%v", k+1, at, want, want+poll)
		}
	}
	for i, w := range out.all()[:3] {
		if !strings.Contains(w, ",engine_restarts=0i,") || !strings.Contains(w, ",overrun=false ") {
			t.Errorf("write %d: %q, want a window's hping3_round line", i, w)
		}
	}
	if strings.Contains(logs.String(), "W! ") {
		t.Errorf("warnings for windows: %s", logs.String())
	}
}

// Requests that come while a window is taken are the next window's, never
// logged as merged: a window covers every packet since the previous one
// however the requests fall. (The Stream returns at once; the fake takes
// 100 ms so that requests do come meanwhile.)
func TestContinuousRequestsNeverWarn(t *testing.T) {
	f := &fakeStream{t0: time.Now(), delay: 100 * time.Millisecond}
	out, logs := newWrites(), &syncBuf{}
	l := loop{round: f.next, continuous: true, out: out, log: logger.New(logs, true), grace: stopGrace}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- l.run(context.Background(), pr, nil) }()
	for range 5 {
		writeLine(t, pw)
		time.Sleep(30 * time.Millisecond)
	}
	out.wait(t, 1)
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(out.all()); n < 1 || n > 5 {
		t.Errorf("%d reports for 5 requests, want 1..5", n)
	}
	if strings.Contains(logs.String(), "W! ") {
		t.Errorf("warnings for windows: %s", logs.String())
	}
}
