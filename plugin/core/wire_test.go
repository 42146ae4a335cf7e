package core

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// TestKernelStampReplacesTheEngines: a probe seen leaving takes the
// kernel's stamp as its send time whether the engine's send record came
// before or after; a packet that only looks like it (another IP id, another
// source, an echo reply) changes nothing.
func TestKernelStampReplacesTheEngines(t *testing.T) {
	tg, ids, base := echoTarget()
	kernel, engine := base.Add(10*time.Microsecond), base.Add(60*time.Microsecond)
	leaving := func(p packet.Probe) *packet.Captured {
		return &packet.Captured{IP: packet.IP{ID: p.IPID, Proto: packet.ProtoICMP, Src: p.Src, Dst: p.Dst},
			ICMP: &packet.ICMP{Type: packet.ICMPEcho, ID: p.ICMPID, Seq: p.ICMPSeq}}
	}
	for _, kernelFirst := range []bool{true, false} {
		fl := newFlights()
		f := fl.prepare(tg, tg.nextProbe(ids), base)
		fl.file(f)
		decoys := []*packet.Captured{leaving(f.p), leaving(f.p), leaving(f.p)}
		decoys[0].IP.ID++
		decoys[1].IP.Src = netip.MustParseAddr("198.18.0.9")
		decoys[2].ICMP.Type = packet.ICMPEchoReply
		for _, d := range decoys {
			fl.left(d, base, false)
		}
		ack := func() { fl.ack(tcl.Event{Kind: tcl.Sent, ID: f.id, At: engine}, nil) }
		if !kernelFirst {
			ack()
			if !f.rec.Sent.Equal(engine) {
				t.Fatalf("before the capture: sent %v, want the engine's %v", f.rec.Sent, engine)
			}
		}
		fl.left(leaving(f.p), kernel, false)
		if kernelFirst {
			ack()
		}
		if !f.rec.Sent.Equal(kernel) || !f.wire.Equal(kernel) {
			t.Errorf("kernel first %v: sent %v (wire %v), want the kernel's %v", kernelFirst, f.rec.Sent, f.wire, kernel)
		}
		if got := fl.match(echoReplyTo(f), kernel.Add(41*time.Microsecond)); got != f {
			t.Fatalf("kernel first %v: the reply was not matched", kernelFirst)
		}
		if rtt := f.rec.Answers[0].At.Sub(f.rec.Sent); rtt != 41*time.Microsecond {
			t.Errorf("kernel first %v: rtt %v, want 41µs", kernelFirst, rtt)
		}
	}
}

// TestCaptureDropsWarnOnce: the kernel's drops are reported per report and
// warned about once.
func TestCaptureDropsWarnOnce(t *testing.T) {
	var out strings.Builder
	k := newWireTap(logger.New(&out, false))
	k.addDrops("c0", 0)
	k.addDrops("c0", 3)
	k.addDrops("lo", 2)
	if n := k.takeDrops(); n != 5 {
		t.Errorf("drops %d, want 5", n)
	}
	if n := k.takeDrops(); n != 0 {
		t.Errorf("drops %d after a report, want 0", n)
	}
	if n := strings.Count(out.String(), "W! the capture on c0 dropped 3 packets"); n != 1 || strings.Count(out.String(), "W!") != 1 {
		t.Errorf("log %q: want one W! about c0's 3 drops", out.String())
	}
	var none *wireTap
	if none.takeDrops() != 0 {
		t.Error("no clock, drops")
	}
}
