package execd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// fakeRounds stands in for the probe core: it records when each round ran and
// how many ran at once, and its behaviour per round is set by the test.
type fakeRounds struct {
	mu       sync.Mutex
	starts   []time.Time
	ends     []time.Time
	inFlight int
	maxIn    int
	started  chan int                         // receives the round number as each round starts
	body     func(ctx context.Context, n int) // runs inside round n (from 1)
}

func newFake(body func(ctx context.Context, n int)) *fakeRounds {
	return &fakeRounds{started: make(chan int, 100), body: body}
}

func (f *fakeRounds) run(ctx context.Context) core.Report {
	f.mu.Lock()
	start := time.Now()
	f.starts = append(f.starts, start)
	n := len(f.starts)
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	f.started <- n
	if f.body != nil {
		f.body(ctx, n)
	}
	f.mu.Lock()
	f.inFlight--
	f.ends = append(f.ends, time.Now())
	f.mu.Unlock()
	code := probe.NoSuchHost
	if ctx.Err() != nil {
		code = probe.Failed // what the core returns for a cancelled probe
	}
	return core.Report{Start: start, Results: []probe.Result{{Target: fmt.Sprintf("r%d", n), Protocol: config.ICMP, Code: code}}}
}

func (f *fakeRounds) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.starts) }

func (f *fakeRounds) wantStarted(t *testing.T, n int) {
	t.Helper()
	select {
	case got := <-f.started:
		if got != n {
			t.Fatalf("round %d started, want round %d", got, n)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("round %d never started", n)
	}
}

// writes records every Write separately, to check one Write per round.
type writes struct {
	mu     sync.Mutex
	chunks []string
	err    error
	notify chan struct{}
}

func newWrites() *writes { return &writes{notify: make(chan struct{}, 100)} }

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.chunks = append(w.chunks, string(p))
	w.notify <- struct{}{}
	return len(p), nil
}

func (w *writes) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.chunks...)
}

func (w *writes) wait(t *testing.T, n int) {
	t.Helper()
	for len(w.all()) < n {
		select {
		case <-w.notify:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d writes, want %d", len(w.all()), n)
		}
	}
}

// syncBuf is a log sink safe to read while the loop runs.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type harness struct {
	fake *fakeRounds
	out  *writes
	log  *syncBuf
	done chan error
	end  time.Time // when run returned
}

func start(ctx context.Context, fake *fakeRounds, poll time.Duration, stdin io.Reader, sig <-chan os.Signal) *harness {
	h := &harness{fake: fake, out: newWrites(), log: &syncBuf{}, done: make(chan error, 1)}
	l := loop{round: fake.run, out: h.out, log: logger.New(h.log, true), poll: poll, grace: stopGrace}
	go func() {
		err := l.run(ctx, stdin, sig)
		h.end = time.Now()
		h.done <- err
	}()
	return h
}

func (h *harness) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not return")
		return nil
	}
}

// writeLine writes "\n" as Telegraf does, failing when it is not read within
// Telegraf's 1 s write deadline.
func writeLine(t *testing.T, w io.Writer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := io.WriteString(w, "\n"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("stdin not read within Telegraf's 1 s write deadline")
	}
}

func TestStdinLinesDuringARoundCoalesceIntoOne(t *testing.T) {
	gate := make(chan struct{})
	fake := newFake(func(ctx context.Context, n int) {
		if n == 1 {
			<-gate
		}
	})
	pr, pw := io.Pipe()
	h := start(context.Background(), fake, 0, pr, nil)

	writeLine(t, pw)
	fake.wantStarted(t, 1)
	for range 5 { // round 1 is blocked: stdin must still be read
		writeLine(t, pw)
	}
	// io.Pipe returns to the writer before the reader acts on the data:
	// give the last line time to reach the loop while round 1 still runs.
	time.Sleep(100 * time.Millisecond)
	close(gate)
	fake.wantStarted(t, 2)
	h.out.wait(t, 2)
	time.Sleep(200 * time.Millisecond) // room for a wrongly queued third round to show
	pw.Close()
	if err := h.wait(t); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := fake.count(); n != 2 {
		t.Errorf("%d rounds for 6 lines sent while round 1 ran, want 2 (1 + one coalesced)", n)
	}
	got := h.out.all()
	for i, c := range got {
		// Round 1 ran while requests came: its self-metric says overrun.
		ns := fake.starts[i].UnixNano()
		want := fmt.Sprintf("hping3,protocol=icmp,target=r%d result_code=1i %d\n"+
			"hping3_round targets=1i,processes=0i,failures=0i,packets=0i,kernel_stamped=0i,send_stamp_fallbacks=0i,hping3_stamped=0i,capture_drops=0i,duration_ms=0,overrun=%v %d\n", i+1, ns, i == 0, ns)
		if c != want {
			t.Errorf("write %d = %q, want %q", i, c, want)
		}
	}
	if len(got) != 2 {
		t.Errorf("%d writes, want 2", len(got))
	}
	// And one warning says so, for round 1 only.
	if log := h.log.String(); strings.Count(log, "W! round took") != 1 || !strings.Contains(log, "longer than the time between Telegraf's requests: requests that came meanwhile were merged into one") {
		t.Errorf("log %q: want one W! line on the merged requests", log)
	}
}

func TestStopCancelsRunningRoundAndWritesNothing(t *testing.T) {
	for _, how := range []string{"stdin EOF", "context cancel"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelled := make(chan struct{})
			fake := newFake(func(rctx context.Context, n int) {
				<-rctx.Done()
				time.Sleep(50 * time.Millisecond) // the core killing hping3
				close(cancelled)
			})
			pr, pw := io.Pipe()
			h := start(ctx, fake, 0, pr, nil)
			writeLine(t, pw)
			fake.wantStarted(t, 1)
			t0 := time.Now()
			if how == "stdin EOF" {
				pw.Close()
			} else {
				cancel()
			}
			if err := h.wait(t); err != nil {
				t.Fatalf("run returned %v, want nil (exit 0)", err)
			}
			select {
			case <-cancelled:
			default:
				t.Error("run returned before the round it cancelled had ended")
			}
			if took := h.end.Sub(t0); took > time.Second {
				t.Errorf("stopped %v after %s, want within 1s", took, how)
			}
			if got := h.out.all(); len(got) != 0 {
				t.Errorf("wrote %q for a cancelled round, want nothing", got)
			}
		})
	}
}

// A round that ignores the stop must not hold the process past 1 s.
func TestStopDoesNotWaitForAStuckRound(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fake := newFake(func(context.Context, int) { <-release })
	pr, pw := io.Pipe()
	h := start(context.Background(), fake, 0, pr, nil)
	writeLine(t, pw)
	fake.wantStarted(t, 1)
	t0 := time.Now()
	pw.Close()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	if took := h.end.Sub(t0); took < stopGrace || took > time.Second {
		t.Errorf("returned %v after EOF, want between the %v grace and 1s", took, stopGrace)
	}
	if !strings.Contains(h.log.String(), "W! stopping: the running round did not end") {
		t.Errorf("log %q lacks the W! line about the stuck round", h.log.String())
	}
	if got := h.out.all(); len(got) != 0 {
		t.Errorf("wrote %q, want nothing", got)
	}
}

func TestSignalsRunRounds(t *testing.T) {
	sig := make(chan os.Signal, 1)
	fake := newFake(nil)
	pr, pw := io.Pipe()
	h := start(context.Background(), fake, 0, pr, sig)
	for i, s := range []os.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2} {
		sig <- s
		fake.wantStarted(t, i+1)
		h.out.wait(t, i+1)
	}
	pw.Close()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := fake.count(); n != 3 {
		t.Errorf("%d rounds for 3 signals, want 3", n)
	}
}

func TestPollIntervalRunsOnAGrid(t *testing.T) {
	const poll = 100 * time.Millisecond
	fake := newFake(func(context.Context, int) { time.Sleep(10 * time.Millisecond) })
	ctx, cancel := context.WithCancel(context.Background())
	t0 := time.Now()
	h := start(ctx, fake, poll, nil, nil) // no stdin at all: polls alone drive it
	for i := 1; i <= 4; i++ {
		fake.wantStarted(t, i)
	}
	cancel()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for k, s := range fake.starts {
		// Timers never fire early: round k+1 starts no sooner than k polls in.
		if s.Before(t0.Add(time.Duration(k) * poll)) {
			t.Errorf("round %d started %v after start, before its poll at %v", k+1, s.Sub(t0), time.Duration(k)*poll)
		}
	}
	if fake.maxIn != 1 {
		t.Errorf("%d rounds ran at once, want 1", fake.maxIn)
	}
	if strings.Contains(h.log.String(), "W! ") {
		t.Errorf("unexpected warning: %s", h.log.String())
	}
}

func TestPollOverrunWarnsAndSkipsMissedPolls(t *testing.T) {
	const poll = 100 * time.Millisecond
	fake := newFake(func(_ context.Context, n int) {
		if n == 1 {
			time.Sleep(250 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	h := start(ctx, fake, poll, nil, nil)
	fake.wantStarted(t, 1)
	fake.wantStarted(t, 2)
	cancel()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	// Round 1 ends at about 250ms; the polls due at 100 and 200ms are
	// skipped, so round 2 waits for the 300ms grid point, not 250ms.
	if s := fake.starts[1].Sub(t0); s < 3*poll {
		t.Errorf("round 2 started at %v, want the next grid point (>= %v) after the overrun", s, 3*poll)
	}
	if fake.maxIn != 1 {
		t.Errorf("%d rounds ran at once, want 1", fake.maxIn)
	}
	if log := h.log.String(); strings.Count(log, "W! ") != 1 || !strings.Contains(log, "W! round took") || !strings.Contains(log, "longer than poll_interval 100ms") {
		t.Errorf("log %q: want exactly one W! line, the overrun warning", log)
	}
}

// TestPollDueDuringARequestedRoundRunsAtOnce: with poll_interval and stdin
// both driving rounds, a poll that falls due while a requested round runs
// (one shorter than the interval) is merged into one round right after it,
// as core.Poll says, not skipped until the next grid point.
func TestPollDueDuringARequestedRoundRunsAtOnce(t *testing.T) {
	const poll = time.Second
	fake := newFake(func(_ context.Context, n int) {
		if n == 2 {
			time.Sleep(500 * time.Millisecond) // across the grid point at 1 s
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	t0 := time.Now()
	h := start(ctx, fake, poll, pr, nil)
	fake.wantStarted(t, 1) // the poll at 0
	h.out.wait(t, 1)
	time.Sleep(time.Until(t0.Add(700 * time.Millisecond)))
	writeLine(t, pw)
	fake.wantStarted(t, 2)
	fake.wantStarted(t, 3)
	cancel()
	if err := h.wait(t); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if s := fake.starts[1].Sub(t0); s >= poll {
		t.Fatalf("round 2 started %v in, after the grid point it should span; the machine is too slow for this test", s)
	}
	// Round 2 ended at about 1.2 s; skipping the 1 s poll would put round 3
	// at the 2 s grid point.
	if s := fake.starts[2].Sub(t0); s < fake.ends[1].Sub(t0) || s >= 2*poll-100*time.Millisecond {
		t.Errorf("round 3 started %v in, round 2 ended at %v: want it at once after round 2, well before the 2 s grid point", s, fake.ends[1].Sub(t0))
	}
	if fake.maxIn != 1 {
		t.Errorf("%d rounds ran at once, want 1", fake.maxIn)
	}
	if log := h.log.String(); strings.Contains(log, "W! ") {
		t.Errorf("log %q: no round overran, want no W! line", log)
	}
}

func TestBrokenStdoutEndsQuietly(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"EPIPE", &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}, false},
		{"closed pipe", io.ErrClosedPipe, false},
		{"other error", &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(nil)
			pr, pw := io.Pipe()
			defer pw.Close()
			h := start(context.Background(), fake, 0, pr, nil)
			h.out.err = c.err
			writeLine(t, pw)
			err := h.wait(t)
			if c.wantErr {
				if !errors.Is(err, c.err) || !strings.Contains(fmt.Sprint(err), "writing line protocol to stdout") {
					t.Errorf("run returned %v, want the write error %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Errorf("run returned %v, want nil: a gone reader is no failure", err)
			}
			if log := h.log.String(); log != "" {
				t.Errorf("logged %q, want nothing", log)
			}
		})
	}
}
