package probe_test

import (
	"net/netip"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// These tests feed MeasurePath the records of path probes as an engine
// files them; every expected number is worked out by hand.

var (
	hop1  = netip.MustParseAddr("198.18.32.2")
	hop3a = netip.MustParseAddr("198.18.34.2")
	hop3b = netip.MustParseAddr("198.18.36.2")
)

func exceeded(from netip.Addr) packet.Answer { return icmpError(from, packet.ICMPTimeExceeded, 0) }

func TestMeasurePath(t *testing.T) {
	s := settings(config.TCP)
	byTTL := [][]probe.Record{
		// Hop 1: two of three answered (2 ms, 4 ms), one lost; a
		// duplicate counts for nothing.
		{rec(0, after(2*ms, exceeded(hop1)), after(3*ms, exceeded(hop1))), rec(1, after(4*ms, exceeded(hop1))), rec(2)},
		// Hop 2: silent, and an answer after the timeout is lost too.
		{rec(0), rec(1), rec(2, after(1500*ms, exceeded(hop1)))},
		// Hop 3: two routers (a router balancing per packet), all
		// answered: each line has the packets it answered.
		{rec(0, after(10*ms, exceeded(hop3a))), rec(1, after(12*ms, exceeded(hop3b))), rec(2, after(14*ms, exceeded(hop3a)))},
		// Hop 4: the target, its port open (SYN-ACK) once, RST once, one lost.
		{rec(0, after(20*ms, tcpReply(packet.FlagSYN|packet.FlagACK))), rec(1, after(30*ms, tcpReply(packet.FlagRST|packet.FlagACK))), rec(2)},
		// Hop 5: sent before the target's answer came back: not reported.
		{rec(0, after(20*ms, tcpReply(packet.FlagRST|packet.FlagACK)))},
	}
	p := probe.MeasurePath(byTTL, target, s)
	if !p.Reached || !p.Ended || p.HopCount != 4 || p.Sent != 13 || len(p.Hops) != 5 {
		t.Fatalf("path %+v: want the target reached at hop 4, 13 packets sent, 5 lines", p)
	}
	third := 100.0 / 3
	want := []struct {
		hop      int
		ip       string
		tx, rx   int
		loss     float64
		min, max float64
		ports    string
	}{
		{1, "198.18.32.2", 3, 2, third, 2, 4, ""},
		{2, "", 3, 0, 100, 0, 0, ""},
		{3, "198.18.34.2", 2, 2, 0, 10, 14, ""},
		{3, "198.18.36.2", 1, 1, 0, 12, 12, ""},
		{4, "198.19.0.7", 3, 2, third, 20, 30, probe.PortOpen},
	}
	for i, w := range want {
		h := p.Hops[i]
		if h.Hop != w.hop || h.IP != w.ip || h.Transmitted != w.tx || h.Received != w.rx || !near(h.Loss, w.loss) || h.PortState != w.ports {
			t.Errorf("line %d: %+v, want %+v", i, h, w)
			continue
		}
		switch {
		case w.rx == 0 && h.RTT != nil:
			t.Errorf("line %d: RTT %+v for a silent hop", i, h.RTT)
		case w.rx > 0 && (h.RTT == nil || !near(h.RTT.Min, w.min) || !near(h.RTT.Max, w.max)):
			t.Errorf("line %d: RTT %+v, want %v..%v ms", i, h.RTT, w.min, w.max)
		}
	}
	if h := p.Hops[0]; !near(h.RTT.Avg, 3) || !near(h.RTT.Jitter, 2) || !h.RTT.HasJitter {
		t.Errorf("hop 1 RTT %+v: want avg 3, jitter 2", h.RTT)
	}

	// The same responders give the same id; another router at hop 3, or
	// the target not reached, another.
	if q := probe.MeasurePath(byTTL, target, s); q.ID != p.ID {
		t.Errorf("the same path gave ids %s and %s", p.ID, q.ID)
	}
	changed := append([][]probe.Record{}, byTTL...)
	changed[2] = []probe.Record{rec(0, after(10*ms, exceeded(hop3a)))}
	if q := probe.MeasurePath(changed, target, s); q.ID == p.ID || q.HopCount != 4 {
		t.Errorf("hop 3 lost a router: id %s hop count %d, want an id other than %s and 4 hops", q.ID, q.HopCount, p.ID)
	}
	unreached := byTTL[:3]
	q := probe.MeasurePath(unreached, target, s)
	if q.Reached || q.Ended || q.HopCount != 3 || q.ID == p.ID || len(q.Hops) != 4 {
		t.Errorf("target not answering: %+v, want 3 hops (the last a router's), not reached", q)
	}
}

// TestMeasurePathNothingAnswered: no hop and no target answered: no line,
// hop count 0, and still an id (of the empty path).
func TestMeasurePathNothingAnswered(t *testing.T) {
	p := probe.MeasurePath([][]probe.Record{{rec(0)}, {rec(0)}}, target, settings(config.ICMP))
	if p.Reached || p.HopCount != 0 || len(p.Hops) != 0 || p.Sent != 2 || len(p.ID) != 16 {
		t.Errorf("path %+v", p)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestMeasurePathEndsAtUnreachable: a router that answers "host
// unreachable" from TTL 2 on ends the path there: two hops, not one line
// per TTL tried, and the target not reached.
func TestMeasurePathEndsAtUnreachable(t *testing.T) {
	unreach := icmpError(hop3a, packet.ICMPUnreachable, 1)
	byTTL := [][]probe.Record{
		{rec(0, after(2*ms, exceeded(hop1)))},
		{rec(0, after(3*ms, unreach))},
		{rec(0, after(3*ms, unreach))},
		{rec(0, after(3*ms, unreach))},
	}
	p := probe.MeasurePath(byTTL, target, settings(config.ICMP))
	if !p.Ended || p.Reached || p.HopCount != 2 || len(p.Hops) != 2 || p.Hops[1].IP != hop3a.String() || p.Sent != 4 {
		t.Errorf("path %+v: want it ended at hop 2 by %s, the target not reached", p, hop3a)
	}
	if !probe.EndsPath(unreach, target) || probe.EndsPath(exceeded(hop1), target) || !probe.EndsPath(echoReply(60), target) {
		t.Error("EndsPath: want unreachable and the target's reply to end a path, time exceeded not")
	}
}

// TestMeasurePathIgnoresRedirects: a gateway's redirect (or a source
// quench) before the time exceeded of the router further on neither
// answers the probe nor ends the path.
func TestMeasurePathIgnoresRedirects(t *testing.T) {
	redirect := icmpError(hop1, 5, 1)
	quench := icmpError(hop1, packet.ICMPSourceQuench, 0)
	byTTL := [][]probe.Record{
		{rec(0, after(1*ms, exceeded(hop1)))},
		{rec(0, after(1*ms, redirect), after(2*ms, exceeded(hop3a)))},
		{rec(0, after(1*ms, quench))}, // nothing else: lost
		{rec(0, after(5*ms, echoReply(60)))},
	}
	p := probe.MeasurePath(byTTL, target, settings(config.ICMP))
	if !p.Reached || p.HopCount != 4 || len(p.Hops) != 4 {
		t.Fatalf("path %+v: want the target reached at hop 4", p)
	}
	if h := p.Hops[1]; h.IP != hop3a.String() || h.Received != 1 || h.RTT.Min != 2 {
		t.Errorf("hop 2 %+v: want %s's time exceeded at 2 ms, the redirect ignored", h, hop3a)
	}
	if h := p.Hops[2]; h.IP != "" || h.Received != 0 {
		t.Errorf("hop 3 %+v: want it silent, a source quench is no answer", h)
	}
	for _, a := range []packet.Answer{redirect, quench} {
		if probe.PathAnswer(a, target) || probe.EndsPath(a, target) {
			t.Errorf("ICMP type %d: counted as a path answer", a.ICMPType)
		}
	}
}

// onFlow is r taken by flow n.
func onFlow(n int, r probe.Record) probe.Record { r.Flow = n; return r }

// TestMeasurePathFlows: two flows over the two branches of a balanced path
// (flow 0 over 198.18.2.2 and 198.18.3.2, flow 1 over 198.18.2.3 and
// 198.18.3.3), each packet i sent at t0+i s. Flow 0 loses one packet at
// hop 3 and one at the target: the loss is on its branch's lines, not on
// the other's; the target's line has both flows' packets. Each flow has its
// own path and id, the path's id is the set's, and hop_count the longest.
// A flow whose branch goes silent from hop 3 on keeps its lost packets at
// hops 3 and 4 in a line without IP.
func TestMeasurePathFlows(t *testing.T) {
	a2, a3 := netip.MustParseAddr("198.18.2.2"), netip.MustParseAddr("198.18.3.2")
	b2, b3 := netip.MustParseAddr("198.18.2.3"), netip.MustParseAddr("198.18.3.3")
	s := settings(config.ICMP)
	byTTL := [][]probe.Record{
		{onFlow(0, rec(0, after(1*ms, exceeded(hop1)))), onFlow(1, rec(1, after(1*ms, exceeded(hop1)))),
			onFlow(0, rec(2, after(1*ms, exceeded(hop1)))), onFlow(1, rec(3, after(1*ms, exceeded(hop1))))},
		{onFlow(0, rec(0, after(2*ms, exceeded(a2)))), onFlow(1, rec(1, after(2*ms, exceeded(b2)))),
			onFlow(0, rec(2, after(2*ms, exceeded(a2)))), onFlow(1, rec(3, after(2*ms, exceeded(b2))))},
		{onFlow(0, rec(0, after(3*ms, exceeded(a3)))), onFlow(1, rec(1, after(3*ms, exceeded(b3)))),
			onFlow(0, rec(2)), onFlow(1, rec(3, after(3*ms, exceeded(b3))))},
		{onFlow(0, rec(0)), onFlow(1, rec(1, after(4*ms, echoReply(60)))),
			onFlow(0, rec(2, after(4*ms, echoReply(60)))), onFlow(1, rec(3, after(4*ms, echoReply(60))))},
	}
	p := probe.MeasurePath(byTTL, target, s)
	if !p.Reached || !p.Ended || p.HopCount != 4 || p.Sent != 16 || p.Distinct != 2 || len(p.Flows) != 2 {
		t.Fatalf("path %+v: want both flows at the target at hop 4, 16 packets, 2 distinct paths", p)
	}
	want := []struct {
		hop           int
		ip            string
		tx, rx, flows int
		loss          float64
	}{
		{1, hop1.String(), 4, 4, 2, 0},
		{2, a2.String(), 2, 2, 1, 0},
		{2, b2.String(), 2, 2, 1, 0},
		{3, a3.String(), 2, 1, 1, 50},
		{3, b3.String(), 2, 2, 1, 0},
		{4, target.String(), 4, 3, 2, 25},
	}
	if len(p.Hops) != len(want) {
		t.Fatalf("%d lines %+v, want %d", len(p.Hops), p.Hops, len(want))
	}
	for i, w := range want {
		h := p.Hops[i]
		if h.Hop != w.hop || h.IP != w.ip || h.Transmitted != w.tx || h.Received != w.rx || h.Flows != w.flows || !near(h.Loss, w.loss) {
			t.Errorf("line %d: %+v, want %+v", i, h, w)
		}
	}
	f0, f1 := p.Flows[0], p.Flows[1]
	if f0.Flow != 0 || f1.Flow != 1 || f0.ID == f1.ID || f0.HopCount != 4 || f1.HopCount != 4 || !f0.Reached || !f1.Reached {
		t.Errorf("flows %+v %+v: want each reached at hop 4, with ids of their own", f0, f1)
	}
	// One flow alone is measured as with flows = 1: its id is the path's.
	var alone [][]probe.Record
	for _, recs := range byTTL {
		alone = append(alone, []probe.Record{recs[1], recs[3]})
	}
	for _, recs := range alone {
		for i := range recs {
			recs[i].Flow = 0
		}
	}
	if q := probe.MeasurePath(alone, target, s); q.ID != f1.ID || q.Flows != nil || q.Distinct != 1 {
		t.Errorf("flow 1 alone: id %s, flows %v, distinct %d; want its id %s, no flows, 1", q.ID, q.Flows, q.Distinct, f1.ID)
	}
	if q := probe.MeasurePath(byTTL, target, s); q.ID != p.ID {
		t.Errorf("the same paths gave ids %s and %s", p.ID, q.ID)
	}
	// Flow 1's branch goes silent from hop 3: its packets there are lost
	// without a responder.
	silent := [][]probe.Record{byTTL[0], byTTL[1],
		{onFlow(0, rec(0, after(3*ms, exceeded(a3)))), onFlow(1, rec(1)), onFlow(0, rec(2, after(3*ms, exceeded(a3)))), onFlow(1, rec(3))},
		{onFlow(0, rec(0, after(4*ms, echoReply(60)))), onFlow(1, rec(1)), onFlow(0, rec(2, after(4*ms, echoReply(60)))), onFlow(1, rec(3))},
	}
	q := probe.MeasurePath(silent, target, s)
	if q.HopCount != 4 || q.Flows[1].Reached || q.Flows[1].HopCount != 2 || q.Distinct != 2 || q.ID == p.ID {
		t.Fatalf("flow 1 silent from hop 3: %+v", q)
	}
	for i, w := range []struct {
		hop    int
		ip     string
		tx, rx int
	}{{3, a3.String(), 2, 2}, {3, "", 2, 0}, {4, target.String(), 2, 2}, {4, "", 2, 0}} {
		h := q.Hops[len(q.Hops)-4+i]
		if h.Hop != w.hop || h.IP != w.ip || h.Transmitted != w.tx || h.Received != w.rx {
			t.Errorf("flow 1 silent: line %+v, want %+v", h, w)
		}
	}
}
