package netlab

import (
	"testing"
	"time"
)

// TestGates switches an outage and a gated loss on and off around fping and
// reads their counters: closed they act on nothing, open the outage drops
// every packet to its address and nothing to the one beside it.
func TestGates(t *testing.T) {
	l := New(t)
	down, beside := Target(20), Target(21)
	all, err := l.Count(down, beside)
	if err != nil {
		t.Fatal(err)
	}
	o, err := l.Outage(down)
	if err != nil {
		t.Fatal(err)
	}
	g, lossC, err := l.GatedLoss(100, beside)
	if err != nil {
		t.Fatal(err)
	}
	if r, out := fping(t, l, 5, 5*time.Millisecond, down.String(), beside.String()); r.recv != 10 {
		t.Fatalf("gates closed: %d of 10 received\n%s", r.recv, out)
	}
	if _, err := o.Open(); err != nil {
		t.Fatal(err)
	}
	if r, out := fping(t, l, 5, 5*time.Millisecond, down.String(), beside.String()); r.recv != 5 {
		t.Fatalf("outage open: %d of 10 received, want the 5 of %s\n%s", r.recv, beside, out)
	}
	if _, err := Open(g); err != nil {
		t.Fatal(err)
	}
	if r, out := fping(t, l, 5, 5*time.Millisecond, beside.String()); r.recv != 0 {
		t.Fatalf("100%% gated loss open: %d of 5 received\n%s", r.recv, out)
	}
	if _, err := Close(o, g); err != nil {
		t.Fatal(err)
	}
	if r, out := fping(t, l, 5, 5*time.Millisecond, down.String(), beside.String()); r.recv != 10 {
		t.Fatalf("gates closed again: %d of 10 received\n%s", r.recv, out)
	}
	s, err := ReadCounters(all, o.Counter(down), lossC)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{35, 5, 5}; s.Packets[0] != want[0] || s.Packets[1] != want[1] || s.Packets[2] != want[2] {
		t.Errorf("counters all, outage, loss = %v, want %v", s.Packets, want)
	}
	if s.End.Before(s.Begin) {
		t.Errorf("sample span %v", s.Span)
	}
}
