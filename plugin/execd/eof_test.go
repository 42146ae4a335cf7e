package execd

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Telegraf closes the plugin's stdin right after its last request when it
// shuts down. In continuous mode cutting a window costs nothing, so that
// request must still get its window: these tests race the last request
// against EOF many times, since a lost window shows only now and then.

const eofRuns = 200

// continuousLoop starts the loop in continuous mode, as Run does for a
// core.Stream, with next as the Stream's Next (a fakeStream's, say).
func continuousLoop(ctx context.Context, next func(context.Context) core.Report, stdin io.Reader, sig <-chan os.Signal) *harness {
	h := &harness{out: newWrites(), log: &syncBuf{}, done: make(chan error, 1)}
	l := loop{round: next, continuous: true, out: h.out, log: logger.New(h.log, true), grace: stopGrace}
	go func() {
		err := l.run(ctx, stdin, sig)
		h.end = time.Now()
		h.done <- err
	}()
	return h
}

// n requests as Telegraf makes them, each answered before the next (so
// none are merged), the last written just before stdin closes: n windows,
// every time, and the loop returns at once.
func TestContinuousRequestBeforeEOFIsReported(t *testing.T) {
	const n = 7
	lost := 0
	for run := range eofRuns {
		pr, pw := io.Pipe()
		h := continuousLoop(context.Background(), (&fakeStream{t0: time.Now()}).next, pr, nil)
		for k := 1; k < n; k++ {
			writeLine(t, pw)
			h.out.wait(t, k)
		}
		writeLine(t, pw)
		pw.Close() // no pause: Telegraf's shutdown
		t0 := time.Now()
		if err := h.wait(t); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if took := h.end.Sub(t0); took > time.Second {
			t.Errorf("run %d: returned %v after EOF, want within 1s", run, took)
		}
		if got := len(h.out.all()); got != n {
			lost++
			if got > n {
				t.Errorf("run %d: %d windows for %d requests", run, got, n)
			}
		}
		if s := h.log.String(); s != "" {
			t.Errorf("run %d: logged %q, want nothing", run, s)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d runs lost the window of the request written just before EOF", lost, eofRuns)
	}
}

// The same for a signal (Telegraf's SIGHUP, SIGUSR1 and SIGUSR2 modes) that
// comes just before stdin closes.
func TestContinuousSignalBeforeEOFIsReported(t *testing.T) {
	lost := 0
	for run := range eofRuns {
		sig := make(chan os.Signal, 1) // as Run's signal.Notify channel
		pr, pw := io.Pipe()
		h := continuousLoop(context.Background(), (&fakeStream{t0: time.Now()}).next, pr, sig)
		sig <- syscall.SIGUSR1
		h.out.wait(t, 1)
		sig <- syscall.SIGUSR1
		pw.Close()
		if err := h.wait(t); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if got := len(h.out.all()); got != 2 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d runs lost the window of the signal that came just before EOF", lost, eofRuns)
	}
}

// A window being taken when stdin closes (a Stream's first one waits up to
// 5 s for every target's first packet) is cut at once and still written,
// and so is the request that came meanwhile; the loop returns well within
// a second.
func TestContinuousEOFCutsASlowWindowAndReportsIt(t *testing.T) {
	f := &fakeStream{t0: time.Now()}
	first := make(chan struct{}, 1)
	first <- struct{}{}
	taking := make(chan struct{})
	slow := func(ctx context.Context) core.Report {
		select {
		case <-first: // the first window only
			close(taking)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		default:
		}
		return f.next(ctx)
	}
	pr, pw := io.Pipe()
	h := continuousLoop(context.Background(), slow, pr, nil)
	writeLine(t, pw)
	<-taking
	writeLine(t, pw)
	pw.Close()
	t0 := time.Now()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	if took := h.end.Sub(t0); took > 500*time.Millisecond {
		t.Errorf("returned %v after EOF, want at once: cutting a window waits for nothing", took)
	}
	if got := h.out.all(); len(got) != 2 {
		t.Errorf("%d windows for 2 requests, want 2: %q", len(got), got)
	}
}

// SIGINT and SIGTERM (ctx) still stop without writing the window being
// taken.
func TestContinuousStopWritesNothing(t *testing.T) {
	f := &fakeStream{t0: time.Now()}
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	taking := make(chan struct{})
	h := continuousLoop(ctx, func(ctx context.Context) core.Report {
		close(taking)
		<-ctx.Done()
		return f.next(ctx)
	}, pr, nil)
	writeLine(t, pw)
	<-taking
	t0 := time.Now()
	cancel()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	if took := h.end.Sub(t0); took > time.Second {
		t.Errorf("returned %v after the stop, want within 1s", took)
	}
	if got := h.out.all(); len(got) != 0 {
		t.Errorf("wrote %q on a stop, want nothing", got)
	}
}

// In rounds mode a request just before EOF gets no round: a round cut by
// the stop would only say "cancelled", so nothing is written and the loop
// returns at once, however the request and EOF race.
func TestRoundsRequestBeforeEOFWritesNothing(t *testing.T) {
	for run := range eofRuns {
		fake := newFake(func(ctx context.Context, n int) {
			if n > 1 {
				<-ctx.Done() // a real round takes seconds
			}
		})
		pr, pw := io.Pipe()
		h := start(context.Background(), fake, 0, pr, nil)
		writeLine(t, pw)
		h.out.wait(t, 1)
		writeLine(t, pw)
		pw.Close()
		t0 := time.Now()
		if err := h.wait(t); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if took := h.end.Sub(t0); took > time.Second {
			t.Errorf("run %d: returned %v after EOF, want within 1s", run, took)
		}
		if got := h.out.all(); len(got) != 1 {
			t.Fatalf("run %d: %d writes, want only the first round's: %q", run, len(got), got)
		}
		if s := h.log.String(); strings.Contains(s, "W! ") {
			t.Errorf("run %d: logged %q", run, s)
		}
	}
}
