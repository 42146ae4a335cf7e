package netlab

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

var (
	cli = netip.MustParseAddr("198.18.0.1")
	emu = netip.MustParseAddr("198.19.4.9")
)

// valid reports whether an IPv4 packet's header and transport checksums
// verify (a correct checksum makes the one's-complement sum 0xffff).
func valid(t *testing.T, p []byte) {
	t.Helper()
	if checksum(p[:20], 0) != 0 {
		t.Errorf("IP header checksum does not verify: % x", p[:20])
	}
	l4 := p[20:]
	var sum uint32
	if p[9] == ProtoTCP || p[9] == ProtoUDP {
		sum = pseudo(netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20])), p[9], len(l4))
	}
	if checksum(l4, sum) != 0 {
		t.Errorf("protocol %d checksum does not verify", p[9])
	}
	if int(binary.BigEndian.Uint16(p[2:4])) != len(p) {
		t.Errorf("total length %d, packet %d bytes", binary.BigEndian.Uint16(p[2:4]), len(p))
	}
}

func TestEchoReply(t *testing.T) {
	l4 := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 7, 'a', 'b', 'c'}
	binary.BigEndian.PutUint16(l4[2:4], checksum(l4, 0))
	r, err := parse(ipv4(ProtoICMP, cli, emu, 64, 1, l4))
	if err != nil {
		t.Fatal(err)
	}
	p := echoReply(r, 50, 9)
	valid(t, p)
	if p[8] != 50 || p[20] != 0 || string(p[28:]) != "abc" || binary.BigEndian.Uint16(p[24:26]) != 0x1234 || binary.BigEndian.Uint16(p[26:28]) != 7 {
		t.Errorf("echo reply: ttl %d type %d id %#x seq %d payload %q; want 50 0 0x1234 7 abc",
			p[8], p[20], binary.BigEndian.Uint16(p[24:26]), binary.BigEndian.Uint16(p[26:28]), p[28:])
	}
	if netip.AddrFrom4([4]byte(p[12:16])) != emu || netip.AddrFrom4([4]byte(p[16:20])) != cli {
		t.Errorf("echo reply addresses %v -> %v, want %v -> %v", p[12:16], p[16:20], emu, cli)
	}
}

func syn(flags uint8, sport, dport uint16, seq uint32) []byte {
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:2], sport)
	binary.BigEndian.PutUint16(l4[2:4], dport)
	binary.BigEndian.PutUint32(l4[4:8], seq)
	l4[12] = 5 << 4
	l4[13] = flags
	binary.BigEndian.PutUint16(l4[16:18], checksum(l4, pseudo(cli, emu, ProtoTCP, len(l4))))
	return ipv4(ProtoTCP, cli, emu, 64, 1, l4)
}

func TestTCPReply(t *testing.T) {
	cases := []struct {
		name      string
		flags     uint8
		open      bool
		ok        bool
		wantFlags uint8
		wantAck   uint32
	}{
		{"open SYN", tcpSYN, true, true, tcpSYN | tcpACK, 1001},
		{"closed SYN", tcpSYN, false, true, tcpRST | tcpACK, 1001},
		{"RST gets nothing", tcpRST, false, false, 0, 0},
		{"open non-SYN gets nothing", tcpACK, true, false, 0, 0},
	}
	for _, c := range cases {
		r, err := parse(syn(c.flags, 2000, 80, 1000))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := tcpReply(r, c.open, 64, 2, 555)
		if ok != c.ok {
			t.Errorf("%s: answered %v, want %v", c.name, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		valid(t, p)
		l4 := p[20:]
		sport, dport := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
		if sport != 80 || dport != 2000 || l4[13] != c.wantFlags || binary.BigEndian.Uint32(l4[8:12]) != c.wantAck {
			t.Errorf("%s: %d->%d flags %#x ack %d; want 80->2000 flags %#x ack %d",
				c.name, sport, dport, l4[13], binary.BigEndian.Uint32(l4[8:12]), c.wantFlags, c.wantAck)
		}
	}
}

func TestPortUnreachable(t *testing.T) {
	l4 := make([]byte, 8+4)
	binary.BigEndian.PutUint16(l4[0:2], 3000)
	binary.BigEndian.PutUint16(l4[2:4], 53)
	binary.BigEndian.PutUint16(l4[4:6], uint16(len(l4)))
	req := ipv4(ProtoUDP, cli, emu, 64, 1, l4)
	r, err := parse(req)
	if err != nil {
		t.Fatal(err)
	}
	p := portUnreachable(r, 64, 3)
	valid(t, p)
	if p[20] != 3 || p[21] != 3 || string(p[28:]) != string(req) {
		t.Errorf("port unreachable: type %d code %d, quote %d bytes; want 3 3 and the %d-byte request", p[20], p[21], len(p)-28, len(req))
	}
}

func TestParseRejects(t *testing.T) {
	for name, p := range map[string][]byte{
		"short":         {0x45, 0},
		"IPv6":          append([]byte{0x60}, make([]byte, 39)...),
		"echo reply":    ipv4(ProtoICMP, cli, emu, 64, 1, make([]byte, 8)),
		"bad total len": func() []byte { p := syn(tcpSYN, 1, 2, 3); p[3] += 10; return p }(),
	} {
		if _, err := parse(p); err == nil {
			t.Errorf("%s: parsed, want rejected", name)
		}
	}
}
