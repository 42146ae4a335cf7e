package packet_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

var (
	lo      = netip.MustParseAddr("127.0.0.1")
	client  = netip.MustParseAddr("198.18.0.1")
	router  = netip.MustParseAddr("198.18.0.2")
	target7 = netip.MustParseAddr("198.19.0.7")
	dst85   = netip.MustParseAddr("198.19.8.5")
	dst95   = netip.MustParseAddr("198.19.9.5")
	dst205  = netip.MustParseAddr("198.19.20.5")
)

// captured parses the packet of line n (1 is the first) of one of the Tcl
// engine's captures (plugin/hping3/tcl/testdata/README.md).
func captured(t *testing.T, file string, n int) *packet.Captured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "hping3", "tcl", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if n < 1 || n > len(lines) {
		t.Fatalf("%s has no line %d", file, n)
	}
	f := strings.SplitN(lines[n-1], " ", 4)
	if len(f) != 4 || f[0] != "pkt" {
		t.Fatalf("%s:%d is not a pkt line: %q", file, n, lines[n-1])
	}
	return parse(t, f[3])
}

func parse(t *testing.T, text string) *packet.Captured {
	t.Helper()
	c, err := tcl.Parse(text)
	if err != nil {
		t.Fatalf("tcl.Parse(%q): %v", text, err)
	}
	return c
}

func TestLookupCaptures(t *testing.T) {
	for _, c := range []struct {
		file string
		line int
		key  packet.Key
		kind packet.Kind
	}{
		{"loopback.out", 4, packet.Key{Dst: lo, Proto: packet.ProtoICMP, A: 777, B: 1}, packet.EchoReply},
		{"loopback.out", 6, packet.Key{Dst: lo, Proto: packet.ProtoICMP, A: 777, B: 2}, packet.EchoReply},
		{"loopback.out", 8, packet.Key{Dst: lo, Proto: packet.ProtoTCP, A: 40001, B: 18080}, packet.TCPReply},
		{"loopback.out", 10, packet.Key{Dst: lo, Proto: packet.ProtoTCP, A: 40002, B: 1}, packet.TCPReply},
		{"loopback.out", 12, packet.Key{Dst: lo, Proto: packet.ProtoUDP, A: 40003, B: 9}, packet.ICMPErrorOf},
		{"loopback.out", 14, packet.Key{Dst: lo, Proto: packet.ProtoTCP, A: 40004, B: 1}, packet.TCPReply},
		{"loopback.out", 15, packet.Key{Dst: lo, Proto: packet.ProtoICMP, A: 55653, B: 26954}, packet.EchoReply},
		{"loopback.out", 17, packet.Key{Dst: lo, Proto: packet.ProtoICMP, A: 55653, B: 26955}, packet.EchoReply},
		{"router.out", 4, packet.Key{Dst: dst85, Proto: packet.ProtoICMP, A: 777, B: 3}, packet.ICMPErrorOf},
		{"router.out", 6, packet.Key{Dst: dst85, Proto: packet.ProtoTCP, A: 40001, B: 80}, packet.ICMPErrorOf},
		{"router.out", 8, packet.Key{Dst: dst85, Proto: packet.ProtoUDP, A: 40002, B: 53}, packet.ICMPErrorOf},
		{"router.out", 10, packet.Key{Dst: dst95, Proto: packet.ProtoTCP, A: 40003, B: 80}, packet.ICMPErrorOf},
		{"router.out", 12, packet.Key{Dst: dst205, Proto: packet.ProtoUDP, A: 40004, B: 33434}, packet.ICMPErrorOf},
		{"router.out", 14, packet.Key{Dst: target7, Proto: packet.ProtoICMP, A: 777, B: 4}, packet.EchoReply},
		{"router.out", 16, packet.Key{Dst: target7, Proto: packet.ProtoUDP, A: 40005, B: 7777}, packet.ICMPErrorOf},
	} {
		k, kind, ok := captured(t, c.file, c.line).Lookup()
		if !ok || k != c.key || kind != c.kind {
			t.Errorf("%s:%d: Lookup = %+v, %d, %v; want %+v, %d, true", c.file, c.line, k, kind, ok, c.key, c.kind)
		}
	}
}

// The probes the engine sent for the captures, as far as their answers
// show them (the quoted IP ids, the acknowledged sequence numbers).
var (
	loEcho1 = packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 64, IPID: 101, ICMPID: 777, ICMPSeq: 1}
	loEcho2 = packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 64, IPID: 102, ICMPID: 777, ICMPSeq: 2, Payload: []byte("XXXXXXXX")}
	loSYN   = packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, IPID: 103, SrcPort: 40001, DstPort: 18080, TCPFlags: packet.FlagSYN, TCPSeq: 12345, TCPWindow: 64}
	loSYN1  = packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, IPID: 104, SrcPort: 40002, DstPort: 1, TCPFlags: packet.FlagSYN, TCPSeq: 4000000000, TCPWindow: 64}
	loUDP   = packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoUDP, TTL: 64, TOS: 16, IPID: 105, SrcPort: 40003, DstPort: 9, Payload: []byte("XXX")}
	loACK   = packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, IPID: 106, SrcPort: 40004, DstPort: 1, TCPFlags: packet.FlagACK, TCPSeq: 1, TCPAck: 3000000000, TCPWindow: 64}

	rtEcho  = packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoICMP, TTL: 64, IPID: 201, ICMPID: 777, ICMPSeq: 3}
	rtSYN   = packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoTCP, TTL: 64, IPID: 202, SrcPort: 40001, DstPort: 80, TCPFlags: packet.FlagSYN, TCPSeq: 555, TCPWindow: 64}
	rtUDP   = packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoUDP, TTL: 64, IPID: 203, SrcPort: 40002, DstPort: 53, Payload: []byte("XXXX")}
	rtSYN2  = packet.Probe{Src: client, Dst: dst95, Proto: packet.ProtoTCP, TTL: 64, IPID: 204, SrcPort: 40003, DstPort: 80, TCPFlags: packet.FlagSYN, TCPSeq: 777, TCPWindow: 64}
	rtUDP2  = packet.Probe{Src: client, Dst: dst205, Proto: packet.ProtoUDP, TTL: 1, IPID: 205, SrcPort: 40004, DstPort: 33434}
	rtEcho7 = packet.Probe{Src: client, Dst: target7, Proto: packet.ProtoICMP, TTL: 64, IPID: 206, ICMPID: 777, ICMPSeq: 4, Payload: []byte{0x00, 0xff}}
	rtUDP7  = packet.Probe{Src: client, Dst: target7, Proto: packet.ProtoUDP, TTL: 64, IPID: 207, SrcPort: 40005, DstPort: 7777}
)

func with(p packet.Probe, f func(*packet.Probe)) *packet.Probe { f(&p); return &p }

// answers runs Lookup and Answers as the core does: the probe must have
// the captured packet's key for Answers to be asked at all.
func answers(t *testing.T, p *packet.Probe, c *packet.Captured) (packet.Answer, bool) {
	t.Helper()
	k, kind, ok := c.Lookup()
	if !ok || k != p.Key() {
		return packet.Answer{}, false
	}
	return packet.Answers(p, c, kind)
}

func TestAnswersCaptures(t *testing.T) {
	type answer = packet.Answer
	const (
		SA = packet.FlagSYN | packet.FlagACK
		RA = packet.FlagRST | packet.FlagACK
	)
	for _, c := range []struct {
		name string
		file string
		line int
		p    *packet.Probe
		ok   bool
		want answer
	}{
		{"echo reply", "loopback.out", 4, &loEcho1, true, answer{Kind: packet.EchoReply, From: lo, TTL: 64}},
		{"echo reply, probe of another seq", "loopback.out", 4, &loEcho2, false, answer{}},
		{"echo reply, probe of another id", "loopback.out", 4, with(loEcho1, func(p *packet.Probe) { p.ICMPID = 778 }), false, answer{}},
		{"echo reply, probe from another source", "loopback.out", 4, with(loEcho1, func(p *packet.Probe) { p.Src = client }), false, answer{Kind: packet.EchoReply, From: lo, TTL: 64}},
		{"echo reply with data", "loopback.out", 6, &loEcho2, true, answer{Kind: packet.EchoReply, From: lo, TTL: 64}},
		{"SYN-ACK, ack = seq+1", "loopback.out", 8, &loSYN, true, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: SA}},
		{"SYN-ACK, probe of another port", "loopback.out", 8, with(loSYN, func(p *packet.Probe) { p.SrcPort = 40002 }), false, answer{}},
		{"SYN-ACK, ack = seq+12346 (another packet)", "loopback.out", 8, with(loSYN, func(p *packet.Probe) { p.TCPSeq = 0 }), false, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: SA}},
		{"SYN-ACK, ack below seq", "loopback.out", 8, with(loSYN, func(p *packet.Probe) { p.TCPSeq = 12347 }), false, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: SA}},
		{"RST-ACK, ack = seq+1", "loopback.out", 10, &loSYN1, true, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: RA}},
		{"RST-ACK, probe seq 1 higher", "loopback.out", 10, with(loSYN1, func(p *packet.Probe) { p.TCPSeq = 4000000001 }), true, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: RA}},
		{"RST-ACK, probe seq 5 lower", "loopback.out", 10, with(loSYN1, func(p *packet.Probe) { p.TCPSeq = 3999999996 }), false, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: RA}},
		{"port unreachable of the UDP probe", "loopback.out", 12, &loUDP, true, answer{Kind: packet.ICMPErrorOf, From: lo, TTL: 64, ICMPType: 3, ICMPCode: 3}},
		{"port unreachable, another ip id", "loopback.out", 12, with(loUDP, func(p *packet.Probe) { p.IPID = 106 }), false, answer{Kind: packet.ICMPErrorOf, From: lo, TTL: 64}},
		{"RST seq = the ACK probe's ack", "loopback.out", 14, &loACK, true, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: packet.FlagRST}},
		{"RST, ACK probe of another ack", "loopback.out", 14, with(loACK, func(p *packet.Probe) { p.TCPAck = 2999999999 }), false, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: packet.FlagRST}},
		{"RST with the seq, but a SYN probe", "loopback.out", 14, with(loACK, func(p *packet.Probe) { p.TCPFlags = packet.FlagSYN }), false, answer{Kind: packet.TCPReply, From: lo, TTL: 64, TCPFlags: packet.FlagRST}},
		{"echo reply with an id never sent", "loopback.out", 15, &loEcho1, false, answer{}},
		{"echo reply with an id never sent", "loopback.out", 17, &loEcho2, false, answer{}},

		{"host unreachable quoting the echo", "router.out", 4, &rtEcho, true, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64, ICMPType: 3, ICMPCode: 1}},
		{"host unreachable, another ip id", "router.out", 4, with(rtEcho, func(p *packet.Probe) { p.IPID = 301 }), false, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64}},
		{"host unreachable, another source", "router.out", 4, with(rtEcho, func(p *packet.Probe) { p.Src = netip.MustParseAddr("198.18.0.9") }), false, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64}},
		{"host unreachable, another echo seq", "router.out", 4, with(rtEcho, func(p *packet.Probe) { p.ICMPSeq = 4 }), false, answer{}},
		{"host unreachable quoting the SYN", "router.out", 6, &rtSYN, true, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64, ICMPType: 3, ICMPCode: 1}},
		{"host unreachable, SYN of another seq", "router.out", 6, with(rtSYN, func(p *packet.Probe) { p.TCPSeq = 556 }), false, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64}},
		{"host unreachable, SYN of another ip id", "router.out", 6, with(rtSYN, func(p *packet.Probe) { p.IPID = 2 }), false, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64}},
		{"host unreachable quoting UDP", "router.out", 8, &rtUDP, true, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64, ICMPType: 3, ICMPCode: 1}},
		{"admin prohibited quoting a SYN", "router.out", 10, &rtSYN2, true, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64, ICMPType: 3, ICMPCode: 13}},
		{"admin prohibited, SYN to another target", "router.out", 10, with(rtSYN2, func(p *packet.Probe) { p.Dst = dst85 }), false, answer{}},
		{"net unreachable quoting UDP with ttl 1", "router.out", 12, &rtUDP2, true, answer{Kind: packet.ICMPErrorOf, From: router, TTL: 64, ICMPType: 3, ICMPCode: 0}},
		{"echo reply from the target", "router.out", 14, &rtEcho7, true, answer{Kind: packet.EchoReply, From: target7, TTL: 64}},
		{"port unreachable from the target", "router.out", 16, &rtUDP7, true, answer{Kind: packet.ICMPErrorOf, From: target7, TTL: 64, ICMPType: 3, ICMPCode: 3}},
	} {
		a, ok := answers(t, c.p, captured(t, c.file, c.line))
		if ok != c.ok || (ok && a != c.want) {
			t.Errorf("%s (%s:%d): Answers = %+v, %v; want %+v, %v", c.name, c.file, c.line, a, ok, c.want, c.ok)
		}
		// A refused answer still says where it came from, with nothing of
		// the error itself.
		if !ok && c.want.Kind != 0 && a != c.want {
			t.Errorf("%s (%s:%d): refused answer %+v, want %+v", c.name, c.file, c.line, a, c.want)
		}
	}
}

func TestPortUnreachableFromCaptures(t *testing.T) {
	for _, c := range []struct {
		file   string
		line   int
		p      *packet.Probe
		target netip.Addr
		want   bool
	}{
		{"loopback.out", 12, &loUDP, lo, true},
		{"router.out", 16, &rtUDP7, target7, true},
		{"router.out", 8, &rtUDP, dst85, false},    // host unreachable from the router
		{"router.out", 12, &rtUDP2, dst205, false}, // net unreachable from the router
		{"router.out", 6, &rtSYN, dst85, false},
		{"loopback.out", 4, &loEcho1, lo, false}, // an echo reply
	} {
		a, ok := answers(t, c.p, captured(t, c.file, c.line))
		if !ok {
			t.Fatalf("%s:%d does not answer its probe", c.file, c.line)
		}
		if got := a.PortUnreachableFrom(c.target); got != c.want {
			t.Errorf("%s:%d: PortUnreachableFrom(%v) = %v, want %v", c.file, c.line, c.target, got, c.want)
		}
	}
}

func TestPortUnreachableFrom(t *testing.T) {
	tg := netip.MustParseAddr("198.19.0.7")
	for _, c := range []struct {
		name string
		a    packet.Answer
		want bool
	}{
		{"the target's port unreachable", packet.Answer{Kind: packet.ICMPErrorOf, From: tg, ICMPType: 3, ICMPCode: 3}, true},
		{"a router's port unreachable", packet.Answer{Kind: packet.ICMPErrorOf, From: router, ICMPType: 3, ICMPCode: 3}, false},
		{"the target's host unreachable", packet.Answer{Kind: packet.ICMPErrorOf, From: tg, ICMPType: 3, ICMPCode: 1}, false},
		{"the target's protocol unreachable", packet.Answer{Kind: packet.ICMPErrorOf, From: tg, ICMPType: 3, ICMPCode: 2}, false},
		{"time exceeded code 3", packet.Answer{Kind: packet.ICMPErrorOf, From: tg, ICMPType: 11, ICMPCode: 3}, false},
		{"a UDP reply", packet.Answer{Kind: packet.UDPReply, From: tg, ICMPType: 3, ICMPCode: 3}, false},
		{"an echo reply", packet.Answer{Kind: packet.EchoReply, From: tg}, false},
		{"no sender", packet.Answer{Kind: packet.ICMPErrorOf, ICMPType: 3, ICMPCode: 3}, false},
	} {
		if got := c.a.PortUnreachableFrom(tg); got != c.want {
			t.Errorf("%s: PortUnreachableFrom = %v, want %v", c.name, got, c.want)
		}
	}
}

// Our own outgoing probes, captured live on loopback (the capture files
// filter them out): an echo request is no answer, and our TCP or UDP
// packet's key has its ports swapped.
func TestOwnProbesAnswerNothing(t *testing.T) {
	echoReq := parse(t, "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28,id=101,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0x7a7c,saddr=127.0.0.1,daddr=127.0.0.1)+icmp(type=8,code=0,id=777,seq=1)")
	if k, kind, ok := echoReq.Lookup(); ok {
		t.Errorf("our echo request: Lookup = %+v, %d, true; want no key", k, kind)
	}
	syn := parse(t, "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=40,id=102,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=6,cksum=0x687c,saddr=127.0.0.1,daddr=127.0.0.1)+tcp(sport=40009,dport=18081,seq=12345,ack=0,x2=0x0,off=5,flags=s,win=512,cksum=0x9cbc,urp=0)")
	synProbe := packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, IPID: 102, SrcPort: 40009, DstPort: 18081, TCPFlags: packet.FlagSYN, TCPSeq: 12345, TCPWindow: 512}
	if k, _, ok := syn.Lookup(); !ok || k == synProbe.Key() {
		t.Errorf("our SYN: Lookup = %+v, %v; want a key other than its probe's %+v", k, ok, synProbe.Key())
	}
	// Its answer, captured right after it, answers it.
	rst := parse(t, "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=40,id=0,fragoff=0,mf=0,df=1,rf=0,ttl=64,proto=6,cksum=0xce3c,saddr=127.0.0.1,daddr=127.0.0.1)+tcp(sport=18081,dport=40009,seq=0,ack=12346,x2=0x0,off=5,flags=ra,win=0,cksum=0x9ea9,urp=0)")
	if _, ok := answers(t, &synProbe, rst); !ok {
		t.Errorf("the RST-ACK to our SYN does not answer it")
	}
	// A probe to the port it is sent from: our own SYN has its key, but
	// a SYN acknowledges nothing.
	self := with(synProbe, func(p *packet.Probe) { p.DstPort = 40009 })
	selfSYN := parse(t, "ip(tos=0,totlen=40,id=102,df=0,ttl=64,proto=6,saddr=127.0.0.1,daddr=127.0.0.1)+tcp(sport=40009,dport=40009,seq=12345,ack=0,flags=s,win=512)")
	if a, ok := answers(t, self, selfSYN); ok {
		t.Errorf("our own SYN to our own port answers itself: %+v", a)
	}
	// Our UDP datagram: ports swapped.
	udp := parse(t, "ip(tos=0,totlen=31,id=105,df=0,ttl=64,proto=17,saddr=127.0.0.1,daddr=127.0.0.1)+udp(sport=40003,dport=9)+data(hex=585858)")
	if k, _, ok := udp.Lookup(); !ok || k == loUDP.Key() {
		t.Errorf("our UDP probe: Lookup = %+v, %v; want a key other than %+v", k, ok, loUDP.Key())
	}
}

// The TCP acknowledgement rule: an answer acknowledges the probe's SYN and
// FIN (one each) and its payload; a RST to an ACK probe carries the
// probe's ack as its seq (RFC 9293 3.10.7.1).
func TestAnswersTCPAck(t *testing.T) {
	const (
		S, A, R, F, P, U = packet.FlagSYN, packet.FlagACK, packet.FlagRST, packet.FlagFIN, packet.FlagPSH, packet.FlagURG
	)
	reply := func(flags int, seq, ack uint32) *packet.Captured {
		return &packet.Captured{
			IP:  packet.IP{TTL: 63, Proto: packet.ProtoTCP, Src: dst85, Dst: client},
			TCP: &packet.TCP{SrcPort: 80, DstPort: 40001, Seq: seq, Ack: ack, Flags: flags},
		}
	}
	probe := func(flags int, seq, ack uint32, payload int) *packet.Probe {
		return &packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoTCP, TTL: 64, IPID: 1,
			SrcPort: 40001, DstPort: 80, TCPFlags: flags, TCPSeq: seq, TCPAck: ack, Payload: make([]byte, payload)}
	}
	for _, c := range []struct {
		name string
		p    *packet.Probe
		c    *packet.Captured
		ok   bool
	}{
		{"SYN-ACK ack=seq+1 to a SYN", probe(S, 1000, 0, 0), reply(S|A, 7, 1001), true},
		{"SYN-ACK ack=seq+5 to a SYN with 4 bytes", probe(S, 1000, 0, 4), reply(S|A, 7, 1005), true},
		{"SYN-ACK ack=seq+5 to a SYN without data", probe(S, 1000, 0, 0), reply(S|A, 7, 1005), false},
		{"SYN-ACK ack=seq+6 to a SYN with 4 bytes", probe(S, 1000, 0, 4), reply(S|A, 7, 1006), true},
		{"SYN-ACK ack=seq+7 to a SYN with 4 bytes", probe(S, 1000, 0, 4), reply(S|A, 7, 1007), false},
		{"SYN-ACK ack=seq+3 to a SYN", probe(S, 1000, 0, 0), reply(S|A, 7, 1003), false},
		{"SYN-ACK ack=seq-1", probe(S, 1000, 0, 0), reply(S|A, 7, 999), false},
		{"SYN-ACK across the wrap", probe(S, 4294967295, 0, 0), reply(S|A, 7, 0), true},
		{"RST-ACK ack=seq+2 to SYN+FIN", probe(S|F, 1000, 0, 0), reply(R|A, 0, 1002), true},
		{"RST-ACK ack=seq to a bare PSH", probe(P, 1000, 0, 0), reply(R|A, 0, 1000), true},
		{"RST-ACK ack=seq to a bare URG", probe(U, 1000, 0, 0), reply(R|A, 0, 1000), true},
		{"RST-ACK ack=seq+10 to a PSH with 10 bytes", probe(P, 1000, 0, 10), reply(R|A, 0, 1010), true},
		{"RST-ACK ack=seq+13 to a PSH with 10 bytes", probe(P, 1000, 0, 10), reply(R|A, 0, 1013), false},
		{"RST seq=ack to an ACK probe", probe(A, 1000, 5000, 0), reply(R, 5000, 0), true},
		{"RST seq=ack+1 to an ACK probe", probe(A, 1000, 5000, 0), reply(R, 5001, 0), false},
		{"RST seq=ack to a SYN probe", probe(S, 1000, 5000, 0), reply(R, 5000, 0), false},
		{"RST seq=ack to a SYN-ACK probe", probe(S|A, 1000, 5000, 0), reply(R, 5000, 0), true},
		{"no flags, seq=ack, to an ACK probe", probe(A, 1000, 5000, 0), reply(0, 5000, 0), false},
		{"RST without ACK to a SYN", probe(S, 1000, 0, 0), reply(R, 0, 1001), false},
		{"answer to another source", probe(S, 1000, 0, 0), func() *packet.Captured {
			c := reply(S|A, 7, 1001)
			c.IP.Dst = router
			return c
		}(), false},
	} {
		a, ok := answers(t, c.p, c.c)
		if ok != c.ok {
			t.Errorf("%s: Answers = %+v, %v; want %v", c.name, a, ok, c.ok)
			continue
		}
		if ok && (a.Kind != packet.TCPReply || a.From != dst85 || a.TTL != 63 || a.TCPFlags != c.c.TCP.Flags) {
			t.Errorf("%s: answer %+v", c.name, a)
		}
	}
}

// ICMP errors built by hand: which quotes Lookup can file, and the rule
// that the quoted IP id and source (and TCP seq) must be the probe's.
func TestICMPErrors(t *testing.T) {
	ipHdr := func(proto int, id int, src, dst netip.Addr) packet.IP {
		return packet.IP{TTL: 63, Proto: proto, ID: id, Src: src, Dst: dst}
	}
	icmpErr := func(typ, code int, q *packet.Captured) *packet.Captured {
		return &packet.Captured{IP: ipHdr(packet.ProtoICMP, 9, router, client), ICMP: &packet.ICMP{Type: typ, Code: code}, Quoted: q}
	}
	echoQ := &packet.Captured{IP: ipHdr(packet.ProtoICMP, 201, client, dst85), ICMP: &packet.ICMP{Type: 8, ID: 777, Seq: 3}}
	for _, typ := range []int{3, 4, 5, 11, 12} {
		k, kind, ok := icmpErr(typ, 0, echoQ).Lookup()
		if !ok || kind != packet.ICMPErrorOf || k != rtEcho.Key() {
			t.Errorf("ICMP type %d quoting an echo: Lookup = %+v, %d, %v", typ, k, kind, ok)
		}
	}
	for _, c := range []struct {
		name string
		c    *packet.Captured
	}{
		{"ICMP error without a quote", icmpErr(3, 1, nil)},
		{"ICMP error quoting an echo reply", icmpErr(3, 1, &packet.Captured{IP: ipHdr(packet.ProtoICMP, 201, client, dst85), ICMP: &packet.ICMP{Type: 0, ID: 777, Seq: 3}})},
		{"ICMP error quoting an ICMP error", icmpErr(3, 1, &packet.Captured{IP: ipHdr(packet.ProtoICMP, 201, client, dst85), ICMP: &packet.ICMP{Type: 3}})},
		{"ICMP error quoting ICMP without a header", icmpErr(3, 1, &packet.Captured{IP: ipHdr(packet.ProtoICMP, 201, client, dst85)})},
		{"ICMP error quoting TCP without a header", icmpErr(11, 0, &packet.Captured{IP: ipHdr(packet.ProtoTCP, 202, client, dst85), Data: []byte{1, 2, 3}})},
		{"ICMP error quoting UDP without a header", icmpErr(11, 0, &packet.Captured{IP: ipHdr(packet.ProtoUDP, 203, client, dst85)})},
		{"ICMP error quoting another protocol", icmpErr(3, 2, &packet.Captured{IP: ipHdr(47, 203, client, dst85)})},
		{"echo request", &packet.Captured{IP: ipHdr(packet.ProtoICMP, 1, client, dst85), ICMP: &packet.ICMP{Type: 8, ID: 777, Seq: 3}}},
		{"timestamp reply", &packet.Captured{IP: ipHdr(packet.ProtoICMP, 1, dst85, client), ICMP: &packet.ICMP{Type: 14, ID: 777, Seq: 3}}},
		{"echo reply layer in a TCP packet", &packet.Captured{IP: ipHdr(packet.ProtoTCP, 1, dst85, client), ICMP: &packet.ICMP{Type: 0, ID: 777, Seq: 3}}},
		{"ICMP protocol without a header", &packet.Captured{IP: ipHdr(packet.ProtoICMP, 1, dst85, client)}},
		{"TCP protocol without a header", &packet.Captured{IP: ipHdr(packet.ProtoTCP, 1, dst85, client)}},
		{"UDP protocol with a TCP header", &packet.Captured{IP: ipHdr(packet.ProtoUDP, 1, dst85, client), TCP: &packet.TCP{SrcPort: 80, DstPort: 40001}}},
		{"ARP frame (all-zero IP header)", &packet.Captured{}},
	} {
		if k, kind, ok := c.c.Lookup(); ok {
			t.Errorf("%s: Lookup = %+v, %d, true; want no key", c.name, k, kind)
		}
	}

	// Time exceeded quoting a SYN whose 8 bytes gave the ports and seq.
	synQ := &packet.Captured{IP: ipHdr(packet.ProtoTCP, 202, client, dst85), TCP: &packet.TCP{SrcPort: 40001, DstPort: 80, Seq: 555}}
	te := icmpErr(11, 0, synQ)
	if a, ok := answers(t, &rtSYN, te); !ok || a != (packet.Answer{Kind: packet.ICMPErrorOf, From: router, TTL: 63, ICMPType: 11}) {
		t.Errorf("time exceeded quoting the SYN: %+v, %v", a, ok)
	}
	// The same quote with the seq of another SYN from the same port.
	if _, ok := answers(t, with(rtSYN, func(p *packet.Probe) { p.TCPSeq = 0 }), te); ok {
		t.Errorf("time exceeded quoting seq 555 answers a SYN with seq 0")
	}
	// UDP and ICMP quotes need no seq: the ip id and source decide.
	udpQ := &packet.Captured{IP: ipHdr(packet.ProtoUDP, 203, client, dst85), UDP: &packet.UDP{SrcPort: 40002, DstPort: 53}}
	if _, ok := answers(t, &rtUDP, icmpErr(11, 0, udpQ)); !ok {
		t.Errorf("time exceeded quoting the UDP probe does not answer it")
	}
	if _, ok := answers(t, with(rtUDP, func(p *packet.Probe) { p.IPID = 204 }), icmpErr(11, 0, udpQ)); ok {
		t.Errorf("time exceeded quoting ip id 203 answers ip id 204")
	}
}

// Echo and UDP replies answer a probe from the address they are sent to.
func TestAnswersEchoAndUDP(t *testing.T) {
	udpReply := &packet.Captured{IP: packet.IP{TTL: 60, Proto: packet.ProtoUDP, Src: target7, Dst: client},
		UDP: &packet.UDP{SrcPort: 7777, DstPort: 40005}, Data: []byte("pong")}
	if a, ok := answers(t, &rtUDP7, udpReply); !ok || a != (packet.Answer{Kind: packet.UDPReply, From: target7, TTL: 60}) {
		t.Errorf("UDP reply: %+v, %v", a, ok)
	}
	if _, ok := answers(t, with(rtUDP7, func(p *packet.Probe) { p.Src = router }), udpReply); ok {
		t.Errorf("UDP reply to %v answers a probe from %v", client, router)
	}
	if _, ok := answers(t, with(rtUDP7, func(p *packet.Probe) { p.DstPort = 7778 }), udpReply); ok {
		t.Errorf("UDP reply from port 7777 answers a probe to 7778")
	}
	// Answers itself does not look at the key: the caller looks up first.
	echo := &packet.Captured{IP: packet.IP{TTL: 61, Proto: packet.ProtoICMP, Src: target7, Dst: client},
		ICMP: &packet.ICMP{Type: 0, ID: 777, Seq: 4}}
	if a, ok := packet.Answers(&rtEcho7, echo, packet.EchoReply); !ok || a != (packet.Answer{Kind: packet.EchoReply, From: target7, TTL: 61}) {
		t.Errorf("echo reply: %+v, %v", a, ok)
	}
	if _, ok := packet.Answers(&rtEcho7, echo, packet.Kind(0)); ok {
		t.Errorf("kind 0 answers")
	}
}

func TestProbeKey(t *testing.T) {
	for _, c := range []struct {
		p    *packet.Probe
		want packet.Key
	}{
		{&rtEcho, packet.Key{Dst: dst85, Proto: packet.ProtoICMP, A: 777, B: 3}},
		{&rtSYN, packet.Key{Dst: dst85, Proto: packet.ProtoTCP, A: 40001, B: 80}},
		{&rtUDP7, packet.Key{Dst: target7, Proto: packet.ProtoUDP, A: 40005, B: 7777}},
		// ICMP ids are the key, not the ports; TCP and UDP the reverse.
		{with(rtEcho, func(p *packet.Probe) { p.SrcPort, p.DstPort = 1, 2 }), packet.Key{Dst: dst85, Proto: packet.ProtoICMP, A: 777, B: 3}},
		{with(rtSYN, func(p *packet.Probe) { p.ICMPID, p.ICMPSeq = 1, 2 }), packet.Key{Dst: dst85, Proto: packet.ProtoTCP, A: 40001, B: 80}},
	} {
		if got := c.p.Key(); got != c.want {
			t.Errorf("Key of %+v = %+v, want %+v", *c.p, got, c.want)
		}
	}
}

// TestAnswersTellProcessesByTag: two processes probe one target over one
// flow (the same echo id and, by chance, sequence number and IP id): an
// echo reply answers the probe whose tag it returns, an error quoting the
// tag answers that one only, and an error quoting only RFC 792's 8 bytes
// cannot tell and answers either.
func TestAnswersTellProcessesByTag(t *testing.T) {
	ours := packet.Probe{Src: client, Dst: target7, Proto: packet.ProtoICMP, TTL: 2, IPID: 300, ICMPID: 777, ICMPSeq: 4,
		Payload: []byte{0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 'X'}}
	theirs := ours
	theirs.Payload = []byte{0xde, 0xad, 0xbe, 0xee, 0x12, 0x35, 'X'}
	reply := &packet.Captured{IP: packet.IP{TTL: 61, Proto: packet.ProtoICMP, Src: target7, Dst: client},
		ICMP: &packet.ICMP{Type: packet.ICMPEchoReply, ID: 777, Seq: 4}, Data: ours.Payload}
	quote := func(data []byte) *packet.Captured {
		return &packet.Captured{IP: packet.IP{TTL: 64, Proto: packet.ProtoICMP, Src: router, Dst: client},
			ICMP: &packet.ICMP{Type: packet.ICMPTimeExceeded},
			Quoted: &packet.Captured{IP: packet.IP{ID: 300, TTL: 1, Proto: packet.ProtoICMP, Src: client, Dst: target7},
				ICMP: &packet.ICMP{Type: packet.ICMPEcho, ID: 777, Seq: 4}, Data: data}}
	}
	for _, c := range []struct {
		name       string
		c          *packet.Captured
		kind       packet.Kind
		ours, them bool
	}{
		{"echo reply with our tag", reply, packet.EchoReply, true, false},
		{"echo reply without data", &packet.Captured{IP: reply.IP, ICMP: reply.ICMP}, packet.EchoReply, false, false},
		{"time exceeded quoting our echo", quote(ours.Payload), packet.ICMPErrorOf, true, false},
		{"time exceeded quoting our tag only", quote(ours.Payload[:4]), packet.ICMPErrorOf, true, false},
		{"time exceeded quoting 8 bytes", quote(nil), packet.ICMPErrorOf, true, true},
		{"time exceeded quoting 3 bytes of a tag", quote(ours.Payload[:3]), packet.ICMPErrorOf, true, true},
	} {
		if _, ok := packet.Answers(&ours, c.c, c.kind); ok != c.ours {
			t.Errorf("%s: answers our probe %v, want %v", c.name, ok, c.ours)
		}
		if _, ok := packet.Answers(&theirs, c.c, c.kind); ok != c.them {
			t.Errorf("%s: answers the other process's probe %v, want %v", c.name, ok, c.them)
		}
	}
}
