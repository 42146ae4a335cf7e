package hping3

import (
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
