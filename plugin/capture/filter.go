package capture

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/bpf"
)

// Snap is how much of a packet the filter keeps: an IPv4 header with
// options, an ICMP error's header and the IPv4 header and transport header
// it quotes, with room to spare. Payloads are not read.
const Snap = 256

// Ports is an inclusive range of source ports the plugin's probes use.
type Ports struct{ Lo, Hi int }

// Filter says which packets a capture keeps: the plugin's own probes
// leaving from one of Srcs (ICMP echo requests carrying ICMPTag, TCP and
// UDP from its reserved ports), and packets to Srcs that can answer them:
// echo replies carrying ICMPTag, TCP and UDP to the reserved ports, and
// ICMP errors quoting such a probe (from one of Srcs, with those
// identifiers). The identifiers are this process's own, so two plugin
// processes on one host never read each other's answers, and a flood of
// other ICMP errors to the host's address never reaches the plugin.
//
// An echo's id is its target's flow's, the same in every plugin process;
// the tag, the first 4 bytes of every echo request's payload, is the
// process's own. An echo reply returns it; an ICMP error quotes it when it
// quotes more than RFC 792's 8 bytes of the echo (as RFC 1812 routers and
// Linux do), and an error that quotes only those 8 is kept.
type Filter struct {
	Srcs []netip.Addr
	// ICMP: some probe of this capture is an echo request (else echo
	// replies are dropped), carrying ICMPTag.
	ICMP     bool
	ICMPTag  uint32
	TCP, UDP *Ports
}

// Program is f as a classic BPF program over a packet that starts with its
// IPv4 header (an AF_PACKET SOCK_DGRAM socket).
func (f Filter) Program() ([]bpf.Instruction, error) {
	if len(f.Srcs) == 0 {
		return nil, fmt.Errorf("capture filter: no source address")
	}
	// Srcs as the program compares them, a word in network order.
	srcs := make([]uint32, len(f.Srcs))
	for i, s := range f.Srcs {
		srcs[i] = addr(s)
	}
	var a asm
	// IPv4, and not a later fragment (it has no transport header).
	a.op(bpf.LoadAbsolute{Off: 0, Size: 1})
	a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jump(bpf.JumpEqual, 0x40, "", "drop")
	a.op(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.jump(bpf.JumpBitsSet, 0x1fff, "drop", "")
	a.op(bpf.LoadMemShift{Off: 0}) // X = the IPv4 header's length

	// A probe: from one of our addresses, with our identifiers.
	a.op(bpf.LoadAbsolute{Off: 12, Size: 4})
	a.oneOf(srcs, "probe", "answer")
	a.ourProbe(f, bpf.LoadAbsolute{Off: 9, Size: 1}, 0, "probe", "accept", "answer")

	// An answer: to one of our addresses, of a kind that can answer.
	a.label("answer")
	a.op(bpf.LoadAbsolute{Off: 16, Size: 4})
	a.oneOf(srcs, "answer-kind", "drop")
	a.op(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.byProtocol(f, true, "answer", "drop") // an ICMP error may answer any probe
	a.label("answer-icmp")
	a.op(bpf.LoadIndirect{Off: 0, Size: 1})
	if f.ICMP {
		a.jump(bpf.JumpEqual, 0, "", "error-kind")
		a.op(bpf.LoadIndirect{Off: 8, Size: 4})
		a.jump(bpf.JumpEqual, f.ICMPTag, "accept", "drop")
	}
	// An ICMP error, only when it quotes one of our probes: the quoted
	// packet's IPv4 header (X+8; without options, as every probe is sent)
	// from one of our addresses, and its identifiers ours. The quoted
	// transport header starts at X+28; RFC 792's 8 bytes of it hold the
	// ports and the echo id, and the echo's tag follows when quoted. Any
	// other ICMP answers nothing we sent.
	a.label("error-kind")
	a.oneOf([]uint32{3, 4, 5, 11, 12}, "error", "drop") // packet.IsICMPError
	a.op(bpf.LoadIndirect{Off: 8, Size: 1})
	a.jump(bpf.JumpEqual, 0x45, "", "drop")
	a.op(bpf.LoadIndirect{Off: 8 + 12, Size: 4})
	a.oneOf(srcs, "quoted", "drop")
	a.ourProbe(f, bpf.LoadIndirect{Off: 8 + 9, Size: 1}, 28, "quoted", "accept", "drop")
	// TCP and UDP answers: to one of the reserved ports (the destination
	// port, 2 bytes into the transport header).
	a.portIn(f.TCP, "answer-tcp", 2, "accept", "drop")
	a.portIn(f.UDP, "answer-udp", 2, "accept", "drop")
	a.label("accept")
	a.op(bpf.RetConstant{Val: Snap})
	a.label("drop")
	a.op(bpf.RetConstant{Val: 0})
	return a.resolve()
}

// ourProbe jumps to yes when a packet is one of f's probes (an echo
// request with its tag, TCP or UDP from its reserved ports), else to no:
// proto loads the packet's IP protocol, and its transport header starts at
// X+th. A probe leaving is read at th 0, one quoted by an ICMP error at 28
// (the error's 8 bytes and the quoted IPv4 header's 20): a quote too short
// to hold the tag passes.
func (a *asm) ourProbe(f Filter, proto bpf.Instruction, th uint32, prefix, yes, no string) {
	a.op(proto)
	a.byProtocol(f, f.ICMP, prefix, no)
	if f.ICMP {
		a.label(prefix + "-icmp")
		a.op(bpf.LoadIndirect{Off: th, Size: 1})
		a.jump(bpf.JumpEqual, 8, "", no)
		if th > 0 {
			// The packet's length, less the tag's end, against X.
			a.op(bpf.LoadExtension{Num: bpf.ExtLen})
			a.op(bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: th + 12})
			a.jumpX(bpf.JumpGreaterOrEqual, "", yes)
		}
		a.op(bpf.LoadIndirect{Off: th + 8, Size: 4})
		a.jump(bpf.JumpEqual, f.ICMPTag, yes, no)
	}
	a.portIn(f.TCP, prefix+"-tcp", th, yes, no)
	a.portIn(f.UDP, prefix+"-udp", th, yes, no)
}

// byProtocol jumps on the IP protocol in the accumulator to prefix+"-icmp"
// (when icmp is set), prefix+"-tcp" and prefix+"-udp" (when f has those
// ports), and on any other protocol to no.
func (a *asm) byProtocol(f Filter, icmp bool, prefix, no string) {
	if icmp {
		a.jump(bpf.JumpEqual, 1, prefix+"-icmp", "")
	}
	if f.TCP != nil {
		a.jump(bpf.JumpEqual, 6, prefix+"-tcp", "")
	}
	if f.UDP != nil {
		a.jump(bpf.JumpEqual, 17, prefix+"-udp", "")
	}
	a.ja(no)
}

// portIn, when there are ports p, places label, loads the 2-byte port at
// X+off and jumps to yes when it lies in p, else to no. Without ports no
// jump leads to label, and it places nothing.
func (a *asm) portIn(p *Ports, label string, off uint32, yes, no string) {
	if p == nil {
		return
	}
	a.label(label)
	a.op(bpf.LoadIndirect{Off: off, Size: 2})
	a.inRange(*p, yes, no)
}

// Answers is the libpcap expression of what f keeps arriving, for hping3's
// capture where the plugin cannot capture (it reads no probe leaving):
// packets to one of Srcs that are echo replies with ICMPTag, ICMP errors
// quoting one of f's probes (the quoted IPv4 header at icmp[8], without
// options, from one of Srcs, an echo with ICMPTag when the quote holds it,
// or from the reserved ports), or
// TCP and UDP to the reserved ports; the terms of Program's answer branch.
// libpcap's "and" and "or" bind alike, left to right: every term is in
// parentheses.
func (f Filter) Answers() string {
	hosts := make([]string, len(f.Srcs))
	quotedSrcs := make([]string, len(f.Srcs))
	for i, s := range f.Srcs {
		hosts[i] = "dst host " + s.String()
		quotedSrcs[i] = fmt.Sprintf("icmp[20:4] = 0x%08x", addr(s))
	}
	var quoted []string
	if f.ICMP {
		quoted = append(quoted, fmt.Sprintf("(icmp[17] = 1 and icmp[28] = 8 and (ip[2:2] - ((ip[0] & 0xf) << 2) < 40 or icmp[36:4] = 0x%08x))", f.ICMPTag))
	}
	for _, q := range []struct {
		proto int
		ports *Ports
	}{{6, f.TCP}, {17, f.UDP}} {
		if q.ports != nil {
			quoted = append(quoted, fmt.Sprintf("(icmp[17] = %d and icmp[28:2] >= %d and icmp[28:2] <= %d)", q.proto, q.ports.Lo, q.ports.Hi))
		}
	}
	icmp := fmt.Sprintf("((icmp[0] = 3 or icmp[0] = 4 or icmp[0] = 5 or icmp[0] = 11 or icmp[0] = 12) and icmp[8] = 0x45 and (%s) and (%s))",
		strings.Join(quotedSrcs, " or "), strings.Join(quoted, " or "))
	if f.ICMP {
		icmp = fmt.Sprintf("(icmp[0] = 0 and icmp[8:4] = 0x%08x) or %s", f.ICMPTag, icmp)
	}
	terms := []string{"icmp and (" + icmp + ")"}
	if f.TCP != nil {
		terms = append(terms, fmt.Sprintf("tcp dst portrange %d-%d", f.TCP.Lo, f.TCP.Hi))
	}
	if f.UDP != nil {
		terms = append(terms, fmt.Sprintf("udp dst portrange %d-%d", f.UDP.Lo, f.UDP.Hi))
	}
	return fmt.Sprintf("ip and (%s) and ((%s))", strings.Join(hosts, " or "), strings.Join(terms, ") or ("))
}

func addr(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// asm assembles a program whose jumps name labels; "" is the next
// instruction.
type asm struct {
	ins    []bpf.Instruction
	fixes  []fix
	labels map[string]int
}

type fix struct {
	at          int
	true, false string
}

func (a *asm) op(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) jump(c bpf.JumpTest, val uint32, t, f string) {
	a.fixes = append(a.fixes, fix{len(a.ins), t, f})
	a.ins = append(a.ins, bpf.JumpIf{Cond: c, Val: val})
}

// jumpX jumps on the accumulator against X.
func (a *asm) jumpX(c bpf.JumpTest, t, f string) {
	a.fixes = append(a.fixes, fix{len(a.ins), t, f})
	a.ins = append(a.ins, bpf.JumpIfX{Cond: c})
}

// ja jumps to label; it is a JumpIf that is always true, so that one fixup
// rule serves every jump.
func (a *asm) ja(label string) { a.jump(bpf.JumpBitsSet, 0, "", label) }

// oneOf continues at label, placed right after its jumps, when the
// accumulator is one of vals, else jumps to no.
func (a *asm) oneOf(vals []uint32, label, no string) {
	for _, v := range vals {
		a.jump(bpf.JumpEqual, v, label, "")
	}
	a.ja(no)
	a.label(label)
}

// inRange jumps to t when the accumulator lies in p, else to f.
func (a *asm) inRange(p Ports, t, f string) {
	a.jump(bpf.JumpGreaterOrEqual, uint32(p.Lo), "", f)
	a.jump(bpf.JumpGreaterThan, uint32(p.Hi), f, t)
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

func (a *asm) resolve() ([]bpf.Instruction, error) {
	skip := func(at int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok || to <= at || to-at-1 > 255 {
			return 0, fmt.Errorf("capture filter: cannot jump from %d to %q", at, label)
		}
		return uint8(to - at - 1), nil
	}
	for _, x := range a.fixes {
		st, err := skip(x.at, x.true)
		if err != nil {
			return nil, err
		}
		sf, err := skip(x.at, x.false)
		if err != nil {
			return nil, err
		}
		switch j := a.ins[x.at].(type) {
		case bpf.JumpIf:
			j.SkipTrue, j.SkipFalse = st, sf
			a.ins[x.at] = j
		case bpf.JumpIfX:
			j.SkipTrue, j.SkipFalse = st, sf
			a.ins[x.at] = j
		}
	}
	return a.ins, nil
}
