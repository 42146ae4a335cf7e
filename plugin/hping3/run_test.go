package hping3

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLastSendFollowsDrift(t *testing.T) {
	e := &lastSend{plan: Plan{Count: 11, Interval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond}}
	// Before anything is read: the nominal schedule after the start allowance.
	if got, want := e.interruptAt(), startAllowance+time.Second+500*time.Millisecond; got != want {
		t.Fatalf("no evidence: %v, want %v", got, want)
	}
	e.observe(TimedLine{Line: Line{Kind: Header}, At: 50 * time.Millisecond})
	if got, want := e.interruptAt(), 50*time.Millisecond+time.Second+500*time.Millisecond; got != want {
		t.Fatalf("header at 50ms: %v, want %v", got, want)
	}
	// Packet 5 left at 50ms + 5 x 120ms (read at 652ms, rtt 2ms): 20 ms of
	// drift per packet, so the last (10) leaves at 50 + 10 x 120 = 1250ms.
	e.observe(TimedLine{Line: Line{Kind: Reply, Seq: 5, RTT: 2}, At: 652 * time.Millisecond})
	if got, want := e.interruptAt(), 1250*time.Millisecond+500*time.Millisecond; got != want {
		t.Errorf("drifting: %v, want %v", got, want)
	}
	// Duplicates, unknown sequence numbers and early packets never pull it back.
	e.observe(TimedLine{Line: Line{Kind: Reply, Seq: 6, RTT: 2, Dup: true}, At: 5 * time.Second})
	e.observe(TimedLine{Line: Line{Kind: Reply, Seq: 99, RTT: 2}, At: 5 * time.Second})
	e.observe(TimedLine{Line: Line{Kind: Reply, Seq: 1, RTT: 1}, At: 151 * time.Millisecond})
	if got, want := e.interruptAt(), 1750*time.Millisecond; got != want {
		t.Errorf("after ignored evidence: %v, want %v", got, want)
	}
}

// A real process under stdbuf: the run records hping3 itself, apart from
// the wrapper, its statistics, and what its stderr means.
func TestExecuteRecordsBinarySummaryAndFailure(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plan := NewPlan(planSettings(2, 10*time.Millisecond))
	noPerm := script("noperm", "echo '[open_sockraw] socket(): Operation not permitted' >&2\nexit 1\n")
	ex, err := Execute(context.Background(), noPerm, []string{"-c", "2"}, plan)
	if err != nil {
		t.Fatal(err)
	}
	var perm *PermissionError
	if ex.Binary != noPerm || ex.Argv[len(ex.Argv)-3] != noPerm || ex.HasSummary || !errors.As(ex.Failure(), &perm) || perm.Binary != noPerm {
		t.Errorf("binary %q argv %q summary %v failure %v; want %s named in the setcap command", ex.Binary, ex.Argv, ex.HasSummary, ex.Failure(), noPerm)
	}
	stats := script("stats", `printf '\n--- 127.0.0.1 hping statistic ---\n2 packets transmitted, 1 packets received, 50%% packet loss\nround-trip min/avg/max = 1.0/1.5/2.0 ms\n' >&2`+"\nexit 1\n")
	ex, err = Execute(context.Background(), stats, nil, plan)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Target: "127.0.0.1", Transmitted: 2, Received: 1, LossPercent: 50, HasRTT: true, Min: 1, Avg: 1.5, Max: 2}
	if !ex.HasSummary || ex.Summary != want || ex.Failure() != nil || ex.ExitCode != 1 {
		t.Errorf("summary %+v (%v), failure %v, exit %d; want %+v, no failure, exit 1", ex.Summary, ex.HasSummary, ex.Failure(), ex.ExitCode, want)
	}
}
