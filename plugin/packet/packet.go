package packet

import (
	"net/netip"
)

// Protocol numbers in the IPv4 header.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// ICMP types the plugin sends or reads.
const (
	ICMPEchoReply    = 0
	ICMPUnreachable  = 3
	ICMPSourceQuench = 4
	ICMPEcho         = 8
	ICMPTimeExceeded = 11
	ICMPParamProblem = 12
	CodePortUnreach  = 3
)

// IsICMPError reports whether an ICMP type carries a quoted packet: the
// errors an answer to a probe can be (RFC 792).
func IsICMPError(typ int) bool {
	switch typ {
	case ICMPUnreachable, ICMPSourceQuench, 5, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// TCP flags as bits, in header order.
const (
	FlagFIN = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
)

// Probe is one packet the core asks an engine to send. Every field is a
// number or an address the core chose; nothing in it is user text.
type Probe struct {
	Src, Dst netip.Addr
	Proto    int // ProtoICMP, ProtoTCP or ProtoUDP
	TTL      int // 1..255
	TOS      int // 0..255
	IPID     int // 0..65535, unique per packet: ICMP errors quote it
	DontFrag bool

	// ICMP echo
	ICMPID, ICMPSeq int

	// TCP and UDP
	SrcPort, DstPort int
	TCPFlags         int    // Flag* bits
	TCPSeq, TCPAck   uint32 // the answer acknowledges TCPSeq, or (RST to an ACK) carries TCPAck as its sequence number
	TCPWindow        int

	Payload []byte
}

// IP is the part of an IPv4 header the plugin reads.
type IP struct {
	TOS, TotLen, ID, TTL, Proto int
	DF                          bool
	Src, Dst                    netip.Addr
}

// ICMP is an ICMP header: ID and Seq for echo messages.
type ICMP struct{ Type, Code, ID, Seq int }

// TCP is a TCP header.
type TCP struct {
	SrcPort, DstPort int
	Seq, Ack         uint32
	Flags            int
	Window           int
}

// UDP is a UDP header.
type UDP struct{ SrcPort, DstPort int }

// Captured is one packet read from a capture. An ICMP error carries the
// packet it quotes in Quoted (its IP header and the start of its transport
// header).
type Captured struct {
	IP     IP
	ICMP   *ICMP
	TCP    *TCP
	UDP    *UDP
	Data   []byte
	Quoted *Captured
}

// TCPFlagBits reads TCP flags written as letters, in any order: the
// plugin's tcp_flags setting ("SA") and hping3's printed flags ("RA"; its
// "none" has none of them).
func TCPFlagBits(letters string) int {
	bits := 0
	for _, c := range letters {
		switch c {
		case 'F':
			bits |= FlagFIN
		case 'S':
			bits |= FlagSYN
		case 'R':
			bits |= FlagRST
		case 'P':
			bits |= FlagPSH
		case 'A':
			bits |= FlagACK
		case 'U':
			bits |= FlagURG
		}
	}
	return bits
}
