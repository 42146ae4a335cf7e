package core

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// TestKeepTalliesPastMaxWindow: a target keeps a tally of its decided
// packets and no records, a path probe its records too; past maxWindow
// packets without a report the oldest stop counting (all of the tally,
// half of the records), and the report fails saying how many.
func TestKeepTalliesPastMaxWindow(t *testing.T) {
	dst := netip.MustParseAddr("198.19.0.7")
	s := config.DefaultSettings()
	t0 := time.Unix(1796127223, 0)
	answered := func(i int) probe.Record {
		sent := t0.Add(time.Duration(i) * time.Millisecond)
		return probe.Record{Sent: sent, Clock: probe.ClockKernel, Answers: []probe.TimedAnswer{
			{Answer: packet.Answer{Kind: packet.EchoReply, From: dst, TTL: 61}, At: sent.Add(2 * time.Millisecond)}}}
	}
	res := probe.Target{Name: "lab", Res: probe.Resolution{IP: dst.String()}}

	plain := &target{name: "lab", s: &s, destination: destination{res: res.Res, ip: dst}}
	hop := &target{name: "lab", s: &s, path: path{hopOf: plain}}
	const extra = 5
	for i := range maxWindow + extra {
		plain.keep(answered(i), dst)
		hop.keep(answered(i), dst)
	}
	if len(plain.done) != 0 {
		t.Errorf("a target kept %d records: want none, its tally only", len(plain.done))
	}
	if plain.decided() != extra || plain.dropped != maxWindow {
		t.Errorf("target: %d decided, %d dropped: want %d and %d", plain.decided(), plain.dropped, extra, maxWindow)
	}
	if len(hop.done) != maxWindow/2+extra || hop.decided() != maxWindow/2+extra || hop.dropped != maxWindow/2 {
		t.Errorf("path probe: %d records, %d decided, %d dropped: want %d, %d and %d",
			len(hop.done), hop.decided(), hop.dropped, maxWindow/2+extra, maxWindow/2+extra, maxWindow/2)
	}

	r := probe.NewResult(res, s, t0)
	plain.measure(&r, windowWords(time.Minute), false)
	if r.RTT == nil {
		t.Fatal("no RTTs: want 5 of 2 ms")
	}
	if len(r.RTT.Samples) != extra || r.RTT.Avg != 2 {
		t.Errorf("%d RTTs averaging %v ms: want 5 of 2 ms", len(r.RTT.Samples), r.RTT.Avg)
	}
	if r.Code != probe.Failed || r.Transmitted != extra || r.Received != extra {
		t.Fatalf("result: code %d, %d/%d received: want failed, 5/5", r.Code, r.Received, r.Transmitted)
	}
	if want := "the oldest 131072 are not counted"; r.Err == nil || !strings.Contains(r.Err.Error(), want) {
		t.Errorf("error %v: want it to say %q", r.Err, want)
	}
}
