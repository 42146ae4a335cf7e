package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// TestDecodeQuotedHeaderOfEightBytes: a router that quotes only the
// 8 bytes RFC 792 asks for still gives the probe's ports and sequence
// number, which the core matches on.
func TestDecodeQuotedHeaderOfEightBytes(t *testing.T) {
	probe := frame(t, ours, target, layers.IPProtocolTCP, 0, &layers.TCP{SrcPort: 40001, DstPort: 443, Seq: 0xdeadbeef, SYN: true})
	quote := probe[:20+8]
	c, err := Decode(frame(t, net.IP(net1), ours, layers.IPProtocolICMPv4, 0, icmp(11, 0, 0, 0), gopacket.Payload(quote)))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quoted
	if c.ICMP.Type != packet.ICMPTimeExceeded || q == nil || q.TCP == nil || q.TCP.SrcPort != 40001 || q.TCP.DstPort != 443 || q.TCP.Seq != 0xdeadbeef ||
		q.IP.Dst != netip.AddrFrom4([4]byte{198, 19, 0, 1}) || c.IP.Src != netip.AddrFrom4([4]byte{10, 9, 9, 9}) {
		t.Fatalf("decoded %+v, quoted %+v", c, q)
	}
	if _, err := Decode(frame(t, net.IP(net1), ours, layers.IPProtocolICMPv4, 0, icmp(11, 0, 0, 0), gopacket.Payload(probe[:20+6]))); err == nil {
		t.Error("a quote of 6 transport bytes decoded")
	}
}

var net1 = []byte{10, 9, 9, 9}

// FuzzDecode: whatever the bytes, Decode does not panic, and what it
// decodes agrees with the IPv4 header's own bytes. The seeds are real
// frames of the plugin's probes and their answers: lo-* as a packet socket
// read them on loopback (ICMP echo, TCP SYN and ACK to a closed port, UDP
// to a closed port and its ICMP port unreachable), lab-* one of each kind
// the lab's wires showed, veth, loopback and the router chain's ICMP time
// exceeded quoting each protocol (internal/labtest, TestTclLabFramesDecode,
// which also checks that the corpus holds every kind it sees).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		if len(data) < 20 {
			t.Fatalf("decoded %d bytes", len(data))
		}
		src, dst := netip.AddrFrom4([4]byte(data[12:16])), netip.AddrFrom4([4]byte(data[16:20]))
		if c.IP.Src != src || c.IP.Dst != dst || c.IP.Proto != int(data[9]) || c.IP.ID != int(binary.BigEndian.Uint16(data[4:])) || c.IP.TTL != int(data[8]) {
			t.Fatalf("header %+v, bytes say %v > %v proto %d", c.IP, src, dst, data[9])
		}
		if (c.ICMP != nil) != (c.IP.Proto == packet.ProtoICMP) || (c.TCP != nil) != (c.IP.Proto == packet.ProtoTCP) || (c.UDP != nil) != (c.IP.Proto == packet.ProtoUDP) {
			t.Fatalf("transport %+v for protocol %d", c, c.IP.Proto)
		}
		if c.ICMP != nil && packet.IsICMPError(c.ICMP.Type) && c.Quoted == nil {
			t.Fatalf("ICMP error %d without its quote", c.ICMP.Type)
		}
		c.Lookup()
		c.ProbeKey()
	})
}
