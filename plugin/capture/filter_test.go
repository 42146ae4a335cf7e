package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
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

// ourTag is the ICMP tag of the tests' filters; theirs another process's.
const ourTag, theirTag = 0x7a6b5c4d, 0x7a6b5c4e

// tagged is an echo's payload carrying tag, as the core writes it: the tag,
// then 2 bytes that hold the checksum.
func tagged(tag uint32) gopacket.Payload {
	return gopacket.Payload(binary.BigEndian.AppendUint32(nil, tag))
}

func tcp(sport, dport uint16) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 64}
}

func udp(sport, dport uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
}

// filterCase is a packet and whether a filter keeps it.
type filterCase struct {
	name string
	pkt  []byte
	keep bool
}

// ownProbesAndAnswers is a filter of two addresses, an echo id and TCP and
// UDP ports, with the packets it keeps and drops: its probes, their
// answers, and packets that resemble them but are not ours.
func ownProbesAndAnswers(t *testing.T) (Filter, []filterCase) {
	f := Filter{Srcs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, 1}), netip.AddrFrom4([4]byte{10, 0, 0, 1})},
		ICMP: true, ICMPTag: ourTag, TCP: &Ports{Lo: 40000, Hi: 40009}, UDP: &Ports{Lo: 41000, Hi: 41003}}
	ourEcho := func(typ uint8, id, seq uint16, tag uint32) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{icmp(typ, 0, id, seq), append(tagged(tag), 0xa1, 0xb2)}
	}
	quotedEcho := frame(t, ours, target, layers.IPProtocolICMPv4, 0, ourEcho(8, 4242, 7, ourTag)...)
	quoted := frame(t, ours, target, layers.IPProtocolUDP, 0, udp(41000, 53))
	ipUDP, icmpP := layers.IPProtocolUDP, layers.IPProtocolICMPv4
	errorQuoting := func(typ uint8, q []byte) []byte {
		return frame(t, target, ours, icmpP, 0, icmp(typ, 0, 0, 0), gopacket.Payload(q))
	}
	// A quoted header with options (IHL 6): no probe is sent with any.
	withOptions := append(append([]byte{0x46}, quoted[1:20]...), append([]byte{1, 1, 1, 1}, quoted[20:]...)...)
	// Options that hold our ports where a header without any has them: a
	// filter that read the quoted ports without checking the header's
	// length would take it for ours.
	optionsLikePorts := append(append([]byte{0x46}, quoted[1:20]...), append(slices.Clone(quoted[20:24]), quoted[20:]...)...)
	return f, []filterCase{
		{"our echo request", frame(t, ours, target, icmpP, 0, ourEcho(8, 4242, 1, ourTag)...), true},
		{"our echo request from the second address", frame(t, ours2, target, icmpP, 0, ourEcho(8, 4242, 1, ourTag)...), true},
		{"another process's echo request (the same flow, its tag)", frame(t, ours, target, icmpP, 0, ourEcho(8, 4242, 1, theirTag)...), false},
		{"an echo request without a tag", frame(t, ours, target, icmpP, 0, icmp(8, 0, 4242, 1)), false},
		{"an echo request from another address", frame(t, other, target, icmpP, 0, ourEcho(8, 4242, 1, ourTag)...), false},
		{"our echo reply", frame(t, target, ours, icmpP, 0, ourEcho(0, 4242, 1, ourTag)...), true},
		{"our echo reply, another flow", frame(t, target, ours, icmpP, 0, ourEcho(0, 4243, 1, ourTag)...), true},
		{"another process's echo reply (the same flow, its tag)", frame(t, target, ours, icmpP, 0, ourEcho(0, 4242, 1, theirTag)...), false},
		{"an echo reply without a tag", frame(t, target, ours, icmpP, 0, icmp(0, 0, 4242, 1)), false},
		{"an echo reply with 3 bytes of data", frame(t, target, ours, icmpP, 0, icmp(0, 0, 4242, 1), gopacket.Payload{0x7a, 0x6b, 0x5c}), false},
		{"an echo request to us", frame(t, target, ours, icmpP, 0, ourEcho(8, 4242, 1, ourTag)...), false},
		{"an ICMP error to us", frame(t, target, ours, icmpP, 0, icmp(3, 3, 0, 0), gopacket.Payload(quoted)), true},
		{"an ICMP error to another address", frame(t, target, other, icmpP, 0, icmp(3, 3, 0, 0), gopacket.Payload(quoted)), false},
		{"an ICMP error quoting only 8 bytes past the IP header", errorQuoting(3, quoted[:28]), true},
		{"an ICMP error quoting 1 byte past the IP header (no port)", errorQuoting(3, quoted[:21]), false},
		{"an ICMP error quoting another address's datagram", errorQuoting(3, frame(t, other, target, ipUDP, 0, udp(41000, 53))), false},
		{"an ICMP error quoting a datagram from another port", errorQuoting(3, frame(t, ours, target, ipUDP, 0, udp(40999, 53))), false},
		{"an ICMP error quoting a header with options", errorQuoting(3, withOptions), false},
		{"an ICMP error quoting a header with options where our port would be", errorQuoting(3, optionsLikePorts), false},
		{"an ICMP error quoting our datagram from the last port", errorQuoting(3, frame(t, ours, target, ipUDP, 0, udp(41003, 53))), true},
		{"an ICMP error quoting a datagram from the port above ours", errorQuoting(3, frame(t, ours, target, ipUDP, 0, udp(41004, 53))), false},
		{"a source quench quoting our datagram", errorQuoting(4, quoted), true},
		{"a redirect quoting our datagram", errorQuoting(5, quoted), true},
		{"a time exceeded quoting our echo request", errorQuoting(11, quotedEcho), true},
		{"a time exceeded quoting the tag of our echo request, not its last 2 bytes", errorQuoting(11, quotedEcho[:len(quotedEcho)-2]), true},
		{"a time exceeded quoting 8 bytes of an echo request (no tag to tell)", errorQuoting(11, quotedEcho[:28]), true},
		{"a time exceeded quoting 3 bytes of an echo request's tag", errorQuoting(11, quotedEcho[:31]), true},
		{"a time exceeded quoting another process's echo request", errorQuoting(11, frame(t, ours, target, icmpP, 0, ourEcho(8, 4242, 7, theirTag)...)), false},
		{"a time exceeded quoting an echo reply with our tag", errorQuoting(11, frame(t, ours, target, icmpP, 0, ourEcho(0, 4242, 7, ourTag)...)), false},
		{"a time exceeded quoting our SYN", errorQuoting(11, frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40005, 80))), true},
		{"a time exceeded quoting another SYN", errorQuoting(11, frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(39999, 80))), false},
		{"a time exceeded quoting our SYN from the last port", errorQuoting(11, frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40009, 80))), true},
		{"a time exceeded quoting a SYN from the port above ours", errorQuoting(11, frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40010, 80))), false},
		{"a parameter problem quoting our datagram", errorQuoting(12, quoted), true},
		{"a timestamp reply to us", frame(t, target, ours, icmpP, 0, ourEcho(14, 4242, 1, ourTag)...), false},
		{"our SYN, first port", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40000, 80)), true},
		{"our SYN, last port", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40009, 80)), true},
		{"a SYN below our ports", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(39999, 80)), false},
		{"a SYN above our ports", frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(40010, 80)), false},
		{"a SYN-ACK to our port", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 40005)), true},
		{"a SYN-ACK to another port", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 40010)), false},
		{"a SYN-ACK to our first port", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 40000)), true},
		{"a SYN-ACK to our last port", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 40009)), true},
		{"a SYN-ACK to the port below ours", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 39999)), false},
		{"a SYN-ACK to our port at the second address", frame(t, target, ours2, layers.IPProtocolTCP, 0, tcp(80, 40005)), true},
		{"our datagram", frame(t, ours, target, ipUDP, 0, udp(41003, 53)), true},
		{"a datagram to our port", frame(t, target, ours, ipUDP, 0, udp(53, 41001)), true},
		{"a datagram to our first port", frame(t, target, ours, ipUDP, 0, udp(53, 41000)), true},
		{"a datagram to our last port", frame(t, target, ours, ipUDP, 0, udp(53, 41003)), true},
		{"a datagram to the port below ours", frame(t, target, ours, ipUDP, 0, udp(53, 40999)), false},
		{"a datagram to the port above ours", frame(t, target, ours, ipUDP, 0, udp(53, 41004)), false},
		{"a datagram from a TCP port", frame(t, ours, target, ipUDP, 0, udp(40000, 53)), false},
		{"a later fragment", frame(t, target, ours, ipUDP, 100, udp(53, 41001)), false},
		{"not IPv4", append([]byte{0x60}, make([]byte, 59)...), false},
	}
}

// withoutICMPProbes is a filter of one address and one UDP port, with no
// ICMP probe and no TCP, and the packets it keeps and drops.
func withoutICMPProbes(t *testing.T) (Filter, []filterCase) {
	f := Filter{Srcs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, 1})}, UDP: &Ports{Lo: 41000, Hi: 41000}}
	icmpP := layers.IPProtocolICMPv4
	return f, []filterCase{
		{"an echo request", frame(t, ours, target, icmpP, 0, icmp(8, 0, 0, 1)), false},
		{"an echo reply", frame(t, target, ours, icmpP, 0, icmp(0, 0, 0, 1)), false},
		{"a time exceeded", frame(t, target, ours, icmpP, 0, icmp(11, 0, 0, 0), gopacket.Payload(frame(t, ours, target, layers.IPProtocolUDP, 0, udp(41000, 53)))), true},
		{"a time exceeded quoting an echo request", frame(t, target, ours, icmpP, 0, icmp(11, 0, 0, 0), gopacket.Payload(frame(t, ours, target, icmpP, 0, icmp(8, 0, 0, 1)))), false},
		{"a time exceeded quoting a SYN", frame(t, target, ours, icmpP, 0, icmp(11, 0, 0, 0), gopacket.Payload(frame(t, ours, target, layers.IPProtocolTCP, 0, tcp(41000, 80)))), false},
		{"a SYN-ACK", frame(t, target, ours, layers.IPProtocolTCP, 0, tcp(80, 41000)), false},
	}
}

// checkProgram runs the Program of a case table's filter in x/net/bpf's
// virtual machine over its cases: each kept whole (Snap bytes) or dropped.
func checkProgram(t *testing.T, table func(*testing.T) (Filter, []filterCase)) {
	t.Helper()
	f, cases := table(t)
	vm := programVM(t, f)
	for _, c := range cases {
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

// programVM is f's Program loaded into x/net/bpf's virtual machine, which
// runs it as the kernel does.
func programVM(t *testing.T, f Filter) *bpf.VM {
	t.Helper()
	prog, err := f.Program()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// TestFilterKeepsOnlyOwnProbesAndAnswers runs the filter in x/net/bpf's
// virtual machine: the kernel runs the same program.
func TestFilterKeepsOnlyOwnProbesAndAnswers(t *testing.T) {
	checkProgram(t, ownProbesAndAnswers)
}

// TestFilterWithoutICMPProbes: with no ICMP probe, echo replies are not
// ours, nor errors quoting an echo request; ICMP errors quoting our
// datagrams still are, and a table without TCP keeps no TCP.
func TestFilterWithoutICMPProbes(t *testing.T) {
	checkProgram(t, withoutICMPProbes)
	if _, err := (Filter{ICMP: true, ICMPTag: 1}).Program(); err == nil {
		t.Error("a filter without source addresses was built")
	}
}

// TestFilterAnswersAsLibpcap: hping3 captures with Answers, the libpcap
// text of Program's answer branch, so the two must keep the same packets.
// tcpdump compiles each expression as hping3's libpcap would, for links
// whose packets start with their IPv4 header, as Program reads them
// (LINKTYPE_RAW and LINKTYPE_IPV4), and for Ethernet, the link hping3 gets
// on the lab's veth and loopback interfaces; x/net/bpf's virtual machine
// runs the compiled program and Program over the packets of the tests
// above and FuzzDecode's seeds, real frames of the lab's wires and of
// loopback. The one difference is the plugin's own probes: Program keeps
// them, and Answers, which describes only what arrives, keeps one only
// when it arrives too, sent to one of our own addresses (on loopback) and
// of a kind that answers.
func TestFilterAnswersAsLibpcap(t *testing.T) {
	tcpdump := testbin.RequireTool(t, "tcpdump")

	type namedFilter struct {
		name string
		f    Filter
	}
	var frames []namedFrame
	var filters []namedFilter
	for _, table := range []struct {
		name  string
		cases func(*testing.T) (Filter, []filterCase)
	}{{"ownProbesAndAnswers", ownProbesAndAnswers}, {"withoutICMPProbes", withoutICMPProbes}} {
		f, cases := table.cases(t)
		filters = append(filters, namedFilter{table.name, f})
		for _, c := range cases {
			frames = append(frames, namedFrame{table.name + ": " + c.name, c.pkt})
		}
	}
	groups := seedGroups(t)
	if len(groups) == 0 {
		t.Fatalf("no seed frames in %s", seedDir)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		f := seedFilter(groups[g])
		if len(f.Srcs) == 0 {
			t.Fatalf("seeds %s*: no echo request nor ICMP error to tell the probes' source address", g)
		}
		// The filter read off a group must be its session's: it keeps one of
		// the group's frames as a probe and another as an answer, or the
		// comparison below would only see drops.
		vm := programVM(t, f)
		probes, answers := 0, 0
		for _, fr := range groups[g] {
			n, err := vm.Run(fr.pkt)
			if err != nil {
				t.Fatalf("%s: %v", fr.name, err)
			}
			switch {
			case ownProbe(f, fr.pkt):
				probes++
			case n != 0:
				answers++
			}
			frames = append(frames, namedFrame{"seed " + fr.name, fr.pkt})
		}
		t.Logf("seeds %s*: %d frames, %d probes and %d answers to %s", g, len(groups[g]), probes, answers, describe(f))
		if probes == 0 || answers == 0 {
			t.Errorf("seeds %s*: %d probes and %d answers to the filter read off them, %s", g, probes, answers, describe(f))
		}
		filters = append(filters, namedFilter{"seeds " + g, f})
	}
	v4 := func(b ...byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }
	filters = append(filters,
		namedFilter{"three addresses, echo id 0, TCP", Filter{Srcs: []netip.Addr{v4(198, 18, 0, 1), v4(10, 0, 0, 1), v4(198, 18, 32, 1)},
			ICMP: true, ICMPTag: 0, TCP: &Ports{Lo: 40000, Hi: 40009}}},
		namedFilter{"ICMP only", Filter{Srcs: []netip.Addr{v4(198, 18, 0, 1)}, ICMP: true, ICMPTag: ourTag}},
		namedFilter{"every TCP port, no ICMP", Filter{Srcs: []netip.Addr{v4(198, 18, 0, 1), v4(127, 0, 0, 1)}, TCP: &Ports{Lo: 1, Hi: 65535}}},
		namedFilter{"UDP and TCP, no ICMP", Filter{Srcs: []netip.Addr{v4(198, 18, 0, 1)},
			TCP: &Ports{Lo: 40005, Hi: 40005}, UDP: &Ports{Lo: 41001, Hi: 41002}}},
	)

	dir := t.TempDir()
	for _, link := range []struct {
		name string
		typ  uint32
		// frame puts the link's header before an IPv4 packet.
		frame func([]byte) []byte
	}{
		{"raw", 101, func(b []byte) []byte { return b }},
		{"ipv4", 228, func(b []byte) []byte { return b }},
		{"ethernet", 1, ethernetFrame},
	} {
		// tcpdump compiles a filter for the link type of the capture it
		// reads: an empty one, named *.pcap, which Ubuntu's AppArmor
		// profile for tcpdump lets it read from anywhere.
		file := filepath.Join(dir, link.name+".pcap")
		hdr := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
		hdr = binary.LittleEndian.AppendUint16(hdr, 2)
		hdr = binary.LittleEndian.AppendUint16(hdr, 4)
		hdr = binary.LittleEndian.AppendUint64(hdr, 0) // time zone and accuracy
		hdr = binary.LittleEndian.AppendUint32(hdr, 65535)
		hdr = binary.LittleEndian.AppendUint32(hdr, link.typ)
		if err := os.WriteFile(file, hdr, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, nf := range filters {
			t.Run(link.name+"/"+nf.name, func(t *testing.T) {
				expr := nf.f.Answers()
				t.Logf("Answers() = %s", expr)
				pvm := programVM(t, nf.f)
				avm := compileWithTcpdump(t, tcpdump, file, expr)
				kept, probesDropped, probesAnswered := 0, 0, 0
				defer func() {
					t.Logf("%d frames: %d answers both keep; %d probes of ours Answers drops, %d it keeps as answers",
						len(frames), kept, probesDropped, probesAnswered)
				}()
				for _, fr := range frames {
					p, err := pvm.Run(fr.pkt)
					if err != nil {
						t.Fatalf("%s: Program: %v", fr.name, err)
					}
					a, err := avm.Run(link.frame(fr.pkt))
					if err != nil {
						t.Fatalf("%s: Answers: %v", fr.name, err)
					}
					if !ownProbe(nf.f, fr.pkt) {
						if (a != 0) != (p != 0) {
							t.Errorf("%s: Answers kept %v, Program kept %v", fr.name, a != 0, p != 0)
						} else if a != 0 {
							kept++
						}
						continue
					}
					// Answers keeps a probe only as an answer: when it goes to
					// one of our own addresses (on loopback) and Program would
					// keep it from any other source. Answers reads no source
					// address but the one an ICMP error quotes.
					e, err := pvm.Run(fromElsewhere(t, nf.f, fr.pkt))
					if err != nil {
						t.Fatalf("%s: Program: %v", fr.name, err)
					}
					if p == 0 || (a != 0) != (e != 0) {
						t.Errorf("%s, a probe of ours: Program kept %v, want true; Answers kept %v, and Program from another source %v",
							fr.name, p != 0, a != 0, e != 0)
					}
					if a != 0 {
						probesAnswered++
					} else {
						probesDropped++
					}
				}
			})
		}
	}
}

// compileWithTcpdump compiles a libpcap expression for the link type of
// the capture file, with tcpdump -ddd (the program as decimal numbers:
// their count, then one instruction a line, "code jt jf k"), and loads it
// into x/net/bpf's virtual machine. An expression libpcap refuses fails
// the test with tcpdump's own words.
func compileWithTcpdump(t *testing.T, tcpdump, file, expr string) *bpf.VM {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tcpdump, "-r", file, "-ddd", expr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tcpdump does not compile %q: %v\n%s", expr, err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	n, err := strconv.Atoi(lines[0])
	if err != nil || n != len(lines)-1 {
		t.Fatalf("tcpdump -ddd printed %d instructions, and %q for their count", len(lines)-1, lines[0])
	}
	var prog []bpf.Instruction
	for _, l := range lines[1:] {
		var v [4]uint64
		f := strings.Fields(l)
		for i, bits := range []int{16, 8, 8, 32} {
			if len(f) != 4 {
				break
			}
			if v[i], err = strconv.ParseUint(f[i], 10, bits); err != nil {
				break
			}
		}
		if len(f) != 4 || err != nil {
			t.Fatalf("tcpdump -ddd printed %q, not \"code jt jf k\"", l)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}.Disassemble())
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("tcpdump's program for %q: %v", expr, err)
	}
	return vm
}

// ethernetFrame puts an Ethernet header before a packet, of IPv6's type
// when its version says 6 and IPv4's otherwise, as a sender would.
func ethernetFrame(pkt []byte) []byte {
	typ := uint16(0x0800)
	if len(pkt) > 0 && pkt[0]>>4 == 6 {
		typ = 0x86dd
	}
	return append(binary.BigEndian.AppendUint16(make([]byte, 12), typ), pkt...)
}

// ownProbe says whether pkt is one of f's probes leaving: IPv4, not a later
// fragment, from one of f.Srcs, an echo request with f.ICMPTag or TCP or UDP
// from f's ports. It reads the bytes at their offsets, not with Program,
// to tell which packets only Program keeps.
func ownProbe(f Filter, pkt []byte) bool {
	be := binary.BigEndian
	if len(pkt) < 20 || pkt[0]>>4 != 4 || be.Uint16(pkt[6:])&0x1fff != 0 ||
		!slices.Contains(f.Srcs, netip.AddrFrom4([4]byte(pkt[12:16]))) || len(pkt) < int(pkt[0]&0x0f)*4 {
		return false
	}
	th := pkt[int(pkt[0]&0x0f)*4:]
	from := func(p *Ports) bool {
		return p != nil && len(th) >= 2 && int(be.Uint16(th)) >= p.Lo && int(be.Uint16(th)) <= p.Hi
	}
	switch pkt[9] {
	case 1:
		return f.ICMP && len(th) >= 12 && th[0] == 8 && be.Uint32(th[8:]) == f.ICMPTag
	case 6:
		return from(f.TCP)
	case 17:
		return from(f.UDP)
	}
	return false
}

// namedFrame is a packet and a name to report it by.
type namedFrame struct {
	name string
	pkt  []byte
}

// fromElsewhere is a copy of pkt whose source address is none of f.Srcs,
// so that Program can keep it only as an answer.
func fromElsewhere(t *testing.T, f Filter, pkt []byte) []byte {
	t.Helper()
	elsewhere := netip.AddrFrom4([4]byte{192, 0, 2, 1})
	if slices.Contains(f.Srcs, elsewhere) {
		t.Fatalf("%v is one of the filter's addresses", elsewhere)
	}
	b := slices.Clone(pkt)
	a := elsewhere.As4()
	copy(b[12:16], a[:])
	return b
}

// describe prints a filter with its ports.
func describe(f Filter) string {
	ports := func(p *Ports) string {
		if p == nil {
			return "none"
		}
		return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
	}
	tag := "none"
	if f.ICMP {
		tag = fmt.Sprintf("%#08x", f.ICMPTag)
	}
	return fmt.Sprintf("Srcs %v, echo tag %s, TCP %s, UDP %s", f.Srcs, tag, ports(f.TCP), ports(f.UDP))
}

// seedDir is FuzzDecode's seed corpus.
var seedDir = filepath.Join("testdata", "fuzz", "FuzzDecode")

// seedGroups reads FuzzDecode's seeds of real frames, by the session that
// sent or answered them: lab-<wire>-<kind>, one frame of each kind a wire
// of the lab showed (internal/labtest, TestTclLabFramesDecode, writes
// them), grouped as lab-<wire>, and lo-*, the frames a packet socket read
// on loopback, as lo.
func seedGroups(t *testing.T) map[string][]namedFrame {
	t.Helper()
	ents, err := os.ReadDir(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]namedFrame{}
	for _, e := range ents {
		n := e.Name()
		var g string
		switch {
		case strings.HasPrefix(n, "lab-"):
			wire, _, _ := strings.Cut(strings.TrimPrefix(n, "lab-"), "-")
			g = "lab-" + wire
		case strings.HasPrefix(n, "lo-"):
			g = "lo"
		default:
			continue // a frame the fuzzer made, not one of a session
		}
		b, err := os.ReadFile(filepath.Join(seedDir, n))
		if err != nil {
			t.Fatal(err)
		}
		v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		if !ok || !strings.HasSuffix(v, ")") {
			t.Fatalf("%s: not a corpus file of one []byte", n)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		groups[g] = append(groups[g], namedFrame{n, []byte(s)})
	}
	return groups
}

// seedFilter is the filter of the session a group of seeds came from, read
// off its probes: the source address and tag of its echo requests and
// of the packets its ICMP errors quote; and the source ports of those
// quotes, of its SYNs from that address, and of its UDP datagrams from
// that address to another (on loopback, where both are one, only the
// quotes tell a probe from an answer).
func seedFilter(frames []namedFrame) Filter {
	var f Filter
	var tcpPorts, udpPorts []int
	var decoded []*packet.Captured
	for _, fr := range frames {
		c, err := Decode(fr.pkt)
		if err != nil {
			continue
		}
		decoded = append(decoded, c)
		probe := c
		if c.Quoted != nil {
			probe = c.Quoted
		}
		switch {
		case probe.ICMP != nil && probe.ICMP.Type == packet.ICMPEcho:
			if len(probe.Data) >= 4 {
				f.ICMP, f.ICMPTag = true, binary.BigEndian.Uint32(probe.Data)
			}
		case c.Quoted != nil && probe.TCP != nil:
			tcpPorts = append(tcpPorts, probe.TCP.SrcPort)
		case c.Quoted != nil && probe.UDP != nil:
			udpPorts = append(udpPorts, probe.UDP.SrcPort)
		default:
			continue
		}
		if !slices.Contains(f.Srcs, probe.IP.Src) {
			f.Srcs = append(f.Srcs, probe.IP.Src)
		}
	}
	for _, c := range decoded {
		if !slices.Contains(f.Srcs, c.IP.Src) {
			continue
		}
		switch {
		case c.TCP != nil && c.TCP.Flags&(packet.FlagSYN|packet.FlagACK) == packet.FlagSYN:
			tcpPorts = append(tcpPorts, c.TCP.SrcPort)
		case c.UDP != nil && !slices.Contains(f.Srcs, c.IP.Dst):
			udpPorts = append(udpPorts, c.UDP.SrcPort)
		}
	}
	span := func(ports []int) *Ports {
		if len(ports) == 0 {
			return nil
		}
		return &Ports{Lo: slices.Min(ports), Hi: slices.Max(ports)}
	}
	f.TCP, f.UDP = span(tcpPorts), span(udpPorts)
	return f
}
