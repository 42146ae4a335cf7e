package capture

import (
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"
)

// Snap is how much of a packet the filter keeps: an IPv4 header with
// options, an ICMP error's header and the IPv4 header and transport header
// it quotes, with room to spare. Payloads are not read.
const Snap = 256

// Ports is an inclusive range of source ports the plugin's probes use.
type Ports struct{ Lo, Hi int }

// Filter says which packets a capture keeps: the plugin's own probes
// leaving from one of Srcs (ICMP echo requests with ICMPID, TCP and UDP
// from its reserved ports), and packets to Srcs that can answer them (ICMP
// other than echo requests, echo replies only with ICMPID; TCP and UDP to
// the reserved ports). The identifiers are this process's own, so two
// plugin processes on one host never read each other's answers.
type Filter struct {
	Srcs []netip.Addr
	// ICMPID is the echo id of the plugin's ICMP probes; -1 when no probe
	// of this capture is an echo request (echo replies are then dropped).
	ICMPID   int
	TCP, UDP *Ports
}

// Program is f as a classic BPF program over a packet that starts with its
// IPv4 header (an AF_PACKET SOCK_DGRAM socket).
func (f Filter) Program() ([]bpf.Instruction, error) {
	if len(f.Srcs) == 0 {
		return nil, fmt.Errorf("capture filter: no source address")
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
	for _, s := range f.Srcs {
		a.jump(bpf.JumpEqual, addr(s), "probe", "")
	}
	a.ja("answer")
	a.label("probe")
	a.op(bpf.LoadAbsolute{Off: 9, Size: 1})
	if f.ICMPID >= 0 {
		a.jump(bpf.JumpEqual, 1, "probe-icmp", "")
	}
	if f.TCP != nil {
		a.jump(bpf.JumpEqual, 6, "probe-tcp", "")
	}
	if f.UDP != nil {
		a.jump(bpf.JumpEqual, 17, "probe-udp", "")
	}
	a.ja("answer")
	if f.ICMPID >= 0 {
		a.label("probe-icmp")
		a.op(bpf.LoadIndirect{Off: 0, Size: 1})
		a.jump(bpf.JumpEqual, 8, "", "answer")
		a.op(bpf.LoadIndirect{Off: 4, Size: 2})
		a.jump(bpf.JumpEqual, uint32(f.ICMPID), "accept", "answer")
	}
	if f.TCP != nil {
		a.label("probe-tcp")
		a.op(bpf.LoadIndirect{Off: 0, Size: 2})
		a.inRange(*f.TCP, "accept", "answer")
	}
	if f.UDP != nil {
		a.label("probe-udp")
		a.op(bpf.LoadIndirect{Off: 0, Size: 2})
		a.inRange(*f.UDP, "accept", "answer")
	}

	// An answer: to one of our addresses, of a kind that can answer.
	a.label("answer")
	a.op(bpf.LoadAbsolute{Off: 16, Size: 4})
	for _, s := range f.Srcs {
		a.jump(bpf.JumpEqual, addr(s), "answer-kind", "")
	}
	a.ja("drop")
	a.label("answer-kind")
	a.op(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.jump(bpf.JumpEqual, 1, "answer-icmp", "")
	if f.TCP != nil {
		a.jump(bpf.JumpEqual, 6, "answer-tcp", "")
	}
	if f.UDP != nil {
		a.jump(bpf.JumpEqual, 17, "answer-udp", "")
	}
	a.ja("drop")
	a.label("answer-icmp")
	a.op(bpf.LoadIndirect{Off: 0, Size: 1})
	a.jump(bpf.JumpEqual, 8, "drop", "")
	if f.ICMPID < 0 {
		a.jump(bpf.JumpEqual, 0, "drop", "accept")
	} else {
		a.jump(bpf.JumpEqual, 0, "", "accept")
		a.op(bpf.LoadIndirect{Off: 4, Size: 2})
		a.jump(bpf.JumpEqual, uint32(f.ICMPID), "accept", "drop")
	}
	if f.TCP != nil {
		a.label("answer-tcp")
		a.op(bpf.LoadIndirect{Off: 2, Size: 2})
		a.inRange(*f.TCP, "accept", "drop")
	}
	if f.UDP != nil {
		a.label("answer-udp")
		a.op(bpf.LoadIndirect{Off: 2, Size: 2})
		a.inRange(*f.UDP, "accept", "drop")
	}
	a.label("accept")
	a.op(bpf.RetConstant{Val: Snap})
	a.label("drop")
	a.op(bpf.RetConstant{Val: 0})
	return a.resolve()
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

// ja jumps to label; it is a JumpIf that is always true, so that one fixup
// rule serves every jump.
func (a *asm) ja(label string) { a.jump(bpf.JumpBitsSet, 0, "", label) }

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
		j := a.ins[x.at].(bpf.JumpIf)
		var err error
		if j.SkipTrue, err = skip(x.at, x.true); err != nil {
			return nil, err
		}
		if j.SkipFalse, err = skip(x.at, x.false); err != nil {
			return nil, err
		}
		a.ins[x.at] = j
	}
	return a.ins, nil
}
