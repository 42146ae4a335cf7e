package core

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// echoTarget is an ICMP target routed out of c0, the identity its probes
// take their echo id and sequence from, and a time to send them at.
func echoTarget() (*target, *identity, time.Time) {
	s := config.DefaultSettings()
	tg := &target{s: &s, destination: destination{ip: netip.MustParseAddr("198.19.0.1"), route: route{src: netip.MustParseAddr("198.18.0.1"), iface: "c0"}}}
	return tg, &identity{tag: 4242, icmpSeq: 10, ipID: 100}, time.Unix(1_800_000_000, 0)
}

// echoReplyTo is the target's echo reply to f, as the capture decodes it.
func echoReplyTo(f *flight) *packet.Captured {
	return &packet.Captured{IP: packet.IP{Proto: packet.ProtoICMP, Src: f.p.Dst, Dst: f.p.Src, TTL: 60},
		ICMP: &packet.ICMP{Type: packet.ICMPEchoReply, ID: f.p.ICMPID, Seq: f.p.ICMPSeq}, Data: f.p.Payload}
}

// TestFlightsCompact: once many packets were closed, the tables are made
// anew with the open ones only, and an answer still finds its open packet
// and never a closed one.
func TestFlightsCompact(t *testing.T) {
	tg, ids, base := echoTarget()
	fl := newFlights()
	var all []*flight
	for i := range 3000 {
		f := fl.prepare(tg, tg.nextProbe(ids), base)
		fl.file(f)
		fl.ack(tcl.Event{Kind: tcl.Sent, ID: f.id, At: base.Add(time.Duration(i) * time.Microsecond)}, nil)
		all = append(all, f)
	}
	const closing = 2500
	for _, f := range all[:closing] {
		fl.close(f)
	}
	// The 2342nd close is the first past twice the open packets (658)
	// and compactFloor: 2342 > 2*658+1024. 158 closes came after it.
	if want := 158; fl.closed != want {
		t.Errorf("%d closes since the tables were made anew, want %d", fl.closed, want)
	}
	if len(fl.byID) != 3000-closing || len(fl.byKey) != 3000-closing {
		t.Fatalf("tables hold %d and %d packets, want %d", len(fl.byID), len(fl.byKey), 3000-closing)
	}
	for i, f := range all {
		got := fl.match(echoReplyTo(f), f.rec.Sent.Add(time.Millisecond))
		if open := i >= closing; open != (got == f) {
			t.Fatalf("packet %d (open %v): its reply matched %v", i, open, got != nil)
		}
	}
}
