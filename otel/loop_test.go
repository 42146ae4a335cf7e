package otel

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// TestLoopSkipsOverrunPollsOnTheGrid: the OTLP mode follows core.Poll. A
// round of 250 ms at a 100 ms poll interval skips the polls due at 100 and
// 200 ms and is followed by one at the 300 ms grid point, not at once (a
// ticker's stored tick would start it at 250 ms); one W! line says so; the
// round a stop cuts short is not offered for export.
func TestLoopSkipsOverrunPollsOnTheGrid(t *testing.T) {
	const poll = 100 * time.Millisecond
	var (
		mu      sync.Mutex
		starts  []time.Time
		offered []int // the Transmitted of each round offered: its number
	)
	started := make(chan int, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := func(ctx context.Context) core.Report {
		mu.Lock()
		starts = append(starts, time.Now())
		n := len(starts)
		mu.Unlock()
		started <- n
		switch n {
		case 1:
			time.Sleep(250 * time.Millisecond)
		case 4:
			<-ctx.Done() // the stop comes during round 4
		}
		return core.Report{Start: time.Now(), Results: []probe.Result{{Target: "x", Transmitted: n}}}
	}
	offer := func(rd core.Report) {
		mu.Lock()
		offered = append(offered, rd.Results[0].Transmitted)
		mu.Unlock()
	}
	var log testbin.Buffer
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		loop(ctx, run, offer, poll, false, logger.New(&log, false))
		close(done)
	}()
	for want := 1; want <= 4; want++ {
		select {
		case n := <-started:
			if n != want {
				t.Fatalf("round %d started, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d never started", want)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("loop did not return after the stop")
	}
	mu.Lock()
	defer mu.Unlock()
	// Timers never fire early, so each bound is a grid point.
	for i, due := range []time.Duration{0, 3 * poll, 4 * poll, 5 * poll} {
		if s := starts[i].Sub(t0); s < due {
			t.Errorf("round %d started %v in, before its grid point %v", i+1, s, due)
		}
	}
	if len(offered) != 3 || offered[0] != 1 || offered[1] != 2 || offered[2] != 3 {
		t.Errorf("offered rounds %v, want [1 2 3] (not the one the stop cut short)", offered)
	}
	lines := log.Lines()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "W! round took ") || !strings.Contains(lines[0], ", longer than poll_interval 100ms: polls that fell due meanwhile were skipped") {
		t.Errorf("log %q: want exactly one W! line on round 1's overrun", lines)
	}
}

// TestLoopContinuousFirstReportAfterOnePoll: a continuous source's first
// report comes one poll after the start, not at once (an empty window).
func TestLoopContinuousFirstReportAfterOnePoll(t *testing.T) {
	const poll = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan time.Time, 10)
	run := func(context.Context) core.Report {
		calls <- time.Now()
		return core.Report{Window: true, Start: time.Now(), Results: []probe.Result{{Target: "x"}}}
	}
	var log testbin.Buffer
	t0 := time.Now()
	go loop(ctx, run, func(core.Report) {}, poll, true, logger.New(&log, false))
	for k := 1; k <= 2; k++ {
		select {
		case c := <-calls:
			if at, want := c.Sub(t0), time.Duration(k)*poll; at < want || at > want+poll {
				t.Errorf("report %d at %v after the start, want %v..%v", k, at, want, want+poll)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("report %d never came", k)
		}
	}
}
