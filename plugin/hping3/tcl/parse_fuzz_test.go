package tcl

import (
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// Run longer with:
//
//	go test ./plugin/hping3/tcl -run '^$' -fuzz '^FuzzParseLine$' -fuzztime 30s
//
// The seed corpus is below (f.Add), not in testdata/fuzz; a crasher the
// fuzzer finds lands in testdata/fuzz/FuzzParseLine and then runs with
// every go test.

// FuzzParseLine feeds parseLine arbitrary output lines: it must never
// panic, and every packet it returns holds numbers a header can carry.
func FuzzParseLine(f *testing.F) {
	for _, name := range captureFiles {
		for _, line := range captureLines(f, name) {
			f.Add(line)
		}
	}
	for _, line := range []string{
		"",
		"ready",
		"sent -1 1",
		"failed 1 1",
		"error listen",
		"pkt lo 1 ",
		"pkt lo 1 ip(",
		"pkt lo 1 ip()",
		"pkt lo 1 ip(ttl=64)+",
		"pkt lo 1 ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=0,saddr=0.0.0.0,daddr=0.0.0.0)",
		"pkt lo 1 ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=1,saddr=0.0.0.0,daddr=0.0.0.0)+icmp(type=3,code=3)+ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=6,saddr=0.0.0.0,daddr=0.0.0.0)+tcp(sport=0,dport=0,seq=0,ack=0,flags=,win=0)+data(hex=ffffffffffffffff)",
		"pkt lo 1 ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=1,saddr=0.0.0.0,daddr=0.0.0.0)+icmp(type=5,code=0)+ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=1,saddr=0.0.0.0,daddr=0.0.0.0)+icmp(type=3,code=0)+ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=1,saddr=0.0.0.0,daddr=0.0.0.0)",
		"pkt lo 1 ip(tos=0x,totlen=0b1,id=0o7,df=0,ttl=1_0,proto=+6,saddr=1.2.3.4,daddr=1.2.3.4)+tcp(sport=1,dport=1,seq=1,ack=1,flags=xy,win=1)+tcp.mss(size=1)",
		"pkt lo 1 ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=17,saddr=1.2.3.4,daddr=::ffff:1.2.3.4)+udp(sport=1,dport=1)",
		"pkt lo 1 ip(tos=0,totlen=0,id=0,df=0,ttl=0,proto=17,saddr=1.2.3.4,daddr=1.2.3.4)+udp(sport=1,dport=1)+data(str=\\20)",
	} {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ev, err := parseLine(line)
		if err != nil {
			if ev.Packet != nil {
				t.Fatalf("parseLine(%q) returned a packet with error %v", line, err)
			}
			return
		}
		switch ev.Kind {
		case 0, Listening, ListenFailed:
			if !ev.At.IsZero() || ev.Packet != nil {
				t.Fatalf("parseLine(%q) = %+v: a time or packet on a record without one", line, ev)
			}
		case Sent, SendFailed, Synced:
			if ev.ID < 0 || ev.At.UnixMicro() <= 0 || ev.Packet != nil {
				t.Fatalf("parseLine(%q) = %+v: bad id or time", line, ev)
			}
		case Captured:
			if ev.Packet == nil || ev.At.UnixMicro() <= 0 {
				t.Fatalf("parseLine(%q) = %+v: no packet or no time", line, ev)
			}
			checkCaptured(t, line, ev.Packet, false)
			lookupAndAnswer(t, line, ev.Packet)
		default:
			t.Fatalf("parseLine(%q) gave kind %d", line, ev.Kind)
		}
	})
}

func inRange(v, hi int) bool { return v >= 0 && v <= hi }

// checkCaptured asserts that c holds only values an IPv4 packet can carry
// and a quoted packet only where an ICMP error carries one.
func checkCaptured(t *testing.T, line string, c *packet.Captured, quoted bool) {
	t.Helper()
	ip := c.IP
	if !inRange(ip.TOS, 255) || !inRange(ip.TotLen, 65535) || !inRange(ip.ID, 65535) ||
		!inRange(ip.TTL, 255) || !inRange(ip.Proto, 255) || !ip.Src.Is4() || !ip.Dst.Is4() {
		t.Fatalf("parseLine(%q): IP header out of range: %+v", line, ip)
	}
	layers := 0
	if c.ICMP != nil {
		layers++
		if !inRange(c.ICMP.Type, 255) || !inRange(c.ICMP.Code, 255) || !inRange(c.ICMP.ID, 65535) || !inRange(c.ICMP.Seq, 65535) {
			t.Fatalf("parseLine(%q): ICMP out of range: %+v", line, *c.ICMP)
		}
	}
	if c.TCP != nil {
		layers++
		all := packet.FlagFIN | packet.FlagSYN | packet.FlagRST | packet.FlagPSH | packet.FlagACK | packet.FlagURG
		if !inRange(c.TCP.SrcPort, 65535) || !inRange(c.TCP.DstPort, 65535) || !inRange(c.TCP.Window, 65535) || c.TCP.Flags&^all != 0 {
			t.Fatalf("parseLine(%q): TCP out of range: %+v", line, *c.TCP)
		}
	}
	if c.UDP != nil {
		layers++
		if !inRange(c.UDP.SrcPort, 65535) || !inRange(c.UDP.DstPort, 65535) {
			t.Fatalf("parseLine(%q): UDP out of range: %+v", line, *c.UDP)
		}
	}
	if layers > 1 {
		t.Fatalf("parseLine(%q): %d transport layers in one packet", line, layers)
	}
	if len(c.Data) > maxAPD/2 {
		t.Fatalf("parseLine(%q): %d data bytes from at most %d characters", line, len(c.Data), maxAPD)
	}
	if c.Quoted == nil {
		return
	}
	if quoted {
		t.Fatalf("parseLine(%q): a quoted packet inside a quoted packet", line)
	}
	if c.ICMP == nil || !packet.IsICMPError(c.ICMP.Type) {
		t.Fatalf("parseLine(%q): a quoted packet in a packet that is no ICMP error", line)
	}
	checkCaptured(t, line, c.Quoted, true)
}

// lookupAndAnswer runs the matcher on c as the core does, with a probe of
// the key Lookup gives: whatever the packet, it must not panic.
func lookupAndAnswer(t *testing.T, line string, c *packet.Captured) {
	k, kind, ok := c.Lookup()
	if !ok {
		return
	}
	p := &packet.Probe{Src: c.IP.Dst, Dst: k.Dst, Proto: k.Proto, TTL: 64, IPID: c.IP.ID}
	if c.Quoted != nil {
		p.Src, p.IPID = c.Quoted.IP.Src, c.Quoted.IP.ID
	}
	if k.Proto == packet.ProtoICMP {
		p.ICMPID, p.ICMPSeq = k.A, k.B
	} else {
		p.SrcPort, p.DstPort = k.A, k.B
		p.TCPFlags = packet.FlagSYN | packet.FlagACK
	}
	if p.Key() != k {
		t.Fatalf("parseLine(%q): a probe built from key %+v has key %+v", line, k, p.Key())
	}
	packet.Answers(p, c, kind)
}
