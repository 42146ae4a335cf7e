package capture

import (
	"net"
	"testing"

	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

var (
	ours   = net.IPv4(198, 18, 0, 1)
	ours2  = net.IPv4(10, 0, 0, 1)
	target = net.IPv4(198, 19, 0, 1)
	other  = net.IPv4(198, 18, 0, 9)
)

// frame serializes an IPv4 packet with the given layers after the header.
func frame(t *testing.T, src, dst net.IP, proto layers.IPProtocol, frag uint16, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst, FragOffset: frag}
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(ip)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		append([]gopacket.SerializableLayer{ip}, ls...)...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func icmp(typ, code uint8, id, seq uint16) *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}
}

func tcp(sport, dport uint16) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 64}
}

func udp(sport, dport uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
}

// TestFilterKeepsOnlyOwnProbesAndAnswers runs the filter in x/net/bpf's
// virtual machine: the kernel runs the same program.
func TestFilterKeepsOnlyOwnProbesAndAnswers(t *testing.T) {
	f := Filter{Srcs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, 1}), netip.AddrFrom4([4]byte{10, 0, 0, 1})},
		ICMPID: 4242, TCP: &Ports{Lo: 40000, Hi: 40009}, UDP: &Ports{Lo: 41000, Hi: 41003}}
	prog, err := f.Program()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	quoted := frame(t, ours, target, layers.IPProtocolUDP, 0, udp(41000, 53))
	ipUDP, icmpP := layers.IPProtocolUDP, layers.IPProtocolICMPv4
	errorQuoting := func(typ uint8, q []byte) []byte {
		return frame(t, target, ours, icmpP, 0, icmp(typ, 0, 0, 0), gopacket.Payload(q))
	}
	// A quoted header with options (IHL 6): no probe is sent with any.
	withOptions := append(append([]byte{0x46}, quoted[1:20]...), append([]byte{1, 1, 1, 1}, quoted[20:]...)...)
	for _, c := range []struct {
		name string
		pkt  []byte
		keep bool
	}{
		{"our echo request", frame(t, ours, target, icmpP, 0, icmp(8, 0, 4242, 1)), true},
		{"our echo request from the second address", frame(t, ours2, target, icmpP, 0, icmp(8, 0, 4242, 1)), true},
		{"another process's echo request", frame(t, ours, target, icmpP, 0, icmp(8, 0, 4243, 1)), false},
		{"an echo request from another address", frame(t, other, target, icmpP, 0, icmp(8, 0, 4242, 1)), false},
		{"our echo reply", frame(t, target, ours, icmpP, 0, icmp(0, 0, 4242, 1)), true},
		{"another process's echo reply", frame(t, target, ours, icmpP, 0, icmp(0, 0, 4243, 1)), false},
		{"an echo request to us", frame(t, target, ours, icmpP, 0, icmp(8, 0, 4242, 1)), false},
		{"an ICMP error to us", frame(t, target, ours, icmpP, 0, icmp(3, 3, 0, 0), gopacket.Payload(quoted)), true},
		{"an ICMP error to another address", frame(t, target, other, icmpP, 0, icmp(3, 3, 0, 0), gopacket.Payload(quoted)), false},
		{"an ICMP error quoting only 8 bytes past the IP header", errorQuoting(3, quoted[:28]), true},
		{"an ICMP error quoting 1 byte past the IP header (no port)", errorQuoting(3, quoted[:21]), false},
		{"an ICMP error quoting another address's datagram", errorQuoting(3, frame(t, other, target, ipUDP, 0, udp(41000, 53))), false},
		{"an ICMP error quoting a datagram from another port", errorQuoting(3, frame(t, ours, target, ipUDP, 0, udp(40999, 53))), false},
		{"an ICMP error quoting a header with options", errorQuoting(3, withOptions), false},
		{"a time exceeded quoting our echo request", errorQuoting(11, frame(t, ours, target, icmpP, 0, icmp(8, 0, 4242, 7))), true},
		{"a time exceeded quoting another process's echo request", errorQuoting(11, frame(t, ours, target, icmpP, 0, icmp(8, 0, 4243, 7))), false},
		{"a time exceeded quoting our SYN", errorQuoting(11, frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40005, 80))), true},
		{"a time exceeded quoting another SYN", errorQuoting(11, frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(39999, 80))), false},
		{"a parameter problem quoting our datagram", errorQuoting(12, quoted), true},
		{"a timestamp reply to us", frame(t, target, ours, icmpP, 0, icmp(14, 0, 4242, 1)), false},
		{"our SYN, first port", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40000, 80)), true},
		{"our SYN, last port", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40009, 80)), true},
		{"a SYN below our ports", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(39999, 80)), false},
		{"a SYN above our ports", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40010, 80)), false},
		{"a SYN-ACK to our port", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 40005)), true},
		{"a SYN-ACK to another port", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 40010)), false},
		{"our datagram", frame(t, ours, target, ipUDP, 0, udp(41003, 53)), true},
		{"a datagram to our port", frame(t, target, ours, ipUDP, 0, udp(53, 41001)), true},
		{"a datagram from a TCP port", frame(t, ours, target, ipUDP, 0, udp(40000, 53)), false},
		{"a later fragment", frame(t, target, ours, ipUDP, 100, udp(53, 41001)), false},
		{"not IPv4", append([]byte{0x60}, make([]byte, 59)...), false},
	} {
		n, err := vm.Run(c.pkt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if keep := n != 0; keep != c.keep {
			t.Errorf("%s: kept %v, want %v", c.name, keep, c.keep)
		} else if keep && n != Snap {
			t.Errorf("%s: kept %d bytes, want %d", c.name, n, Snap)
		}
	}
}

// TestFilterWithoutICMPProbes: with no ICMP probe, echo replies are not
// ours, nor errors quoting an echo request; ICMP errors quoting our
// datagrams still are, and a table without TCP keeps no TCP.
func TestFilterWithoutICMPProbes(t *testing.T) {
	f := Filter{Srcs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, 1})}, ICMPID: -1, UDP: &Ports{Lo: 41000, Hi: 41000}}
	prog, err := f.Program()
	if err != nil {
		t.Fatal(err)
	}
	vm, _ := bpf.NewVM(prog)
	icmpP := layers.IPProtocolICMPv4
	for _, c := range []struct {
		name string
		pkt  []byte
		keep bool
	}{
		{"an echo request", frame(t, ours, target, icmpP, 0, icmp(8, 0, 0, 1)), false},
		{"an echo reply", frame(t, target, ours, icmpP, 0, icmp(0, 0, 0, 1)), false},
		{"a time exceeded", frame(t, target, ours, icmpP, 0, icmp(11, 0, 0, 0), gopacket.Payload(frame(t, ours, target, layers.IPProtocolUDP, 0, udp(41000, 53)))), true},
		{"a time exceeded quoting an echo request", frame(t, target, ours, icmpP, 0, icmp(11, 0, 0, 0), gopacket.Payload(frame(t, ours, target, icmpP, 0, icmp(8, 0, 0, 1)))), false},
		{"a time exceeded quoting a SYN", frame(t, target, ours, icmpP, 0, icmp(11, 0, 0, 0), gopacket.Payload(frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(41000, 80)))), false},
		{"a SYN-ACK", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 41000)), false},
	} {
		if n, _ := vm.Run(c.pkt); (n != 0) != c.keep {
			t.Errorf("%s: kept %v, want %v", c.name, n != 0, c.keep)
		}
	}
	if _, err := (Filter{ICMPID: 1}).Program(); err == nil {
		t.Error("a filter without source addresses was built")
	}
}
