package core

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// TestRoundStopped: a round whose context ends while it sends returns at
// once; its targets fail as stopped.
func TestRoundStopped(t *testing.T) {
	net := newFakeNet(time.Millisecond)
	s := fakeSettings()
	s.Count, s.Interval = 10, 100*time.Millisecond
	h := newHarness(t, config.ModeRounds, net, threeTargets, s)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	rd := h.src.Next(ctx)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("the stopped round took %v", took)
	}
	for _, r := range rd.Results {
		if r.Code != probe.Failed || r.Err == nil || r.Err.Error() != "probe cancelled: the plugin is stopping" {
			t.Errorf("%s: code %d, err %v", r.Target, r.Code, r.Err)
		}
	}
	if _, closed := net.counts(); closed != 1 {
		t.Errorf("%d engines closed, want 1", closed)
	}
}

// TestRoundKeepsFinishedTargets: in a round an engine failure costs only
// the targets it had not finished. Here 127.0.0.3 never answers and the
// engine does not answer the round's last sync: the two targets whose
// every packet was answered keep their measurement, 127.0.0.3 fails with
// the reason. (In continuous mode every packet still open fails its
// target: TestSessionFaults.)
func TestRoundKeepsFinishedTargets(t *testing.T) {
	net := newFakeNet(0)
	net.setAnswer(func(p *packet.Probe) []reply {
		if p.Dst == netip.MustParseAddr("127.0.0.3") {
			return nil
		}
		return []reply{{time.Millisecond, targetReply(p)}}
	})
	net.setFault(1, fault{noSync: true})
	h := newHarness(t, config.ModeRounds, net, threeTargets, fakeSettings())
	rd := h.next(1, 0)
	whole(t, Report{Results: rd.Results[:2], Packets: rd.Results[0].Transmitted + rd.Results[1].Transmitted}, fakeSettings(), time.Millisecond, 0)
	if r := rd.Results[2]; r.Code != probe.Failed || r.Err == nil || r.Err.Error() != "the hping3 engine did not answer for 1s at the end of the round: killed" {
		t.Errorf("%s: code %d, err %v", r.Target, r.Code, r.Err)
	}
}
