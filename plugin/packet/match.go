package packet

import "net/netip"

// Key identifies the probe packets an answer can belong to: the target and
// the identifiers the core chose. For ICMP, A and B are the echo id and
// sequence number; for TCP and UDP the probe's source and destination ports.
type Key struct {
	Dst   netip.Addr
	Proto int
	A, B  int
}

// Key returns the key answers to p are looked up by.
func (p *Probe) Key() Key {
	if p.Proto == ProtoICMP {
		return Key{Dst: p.Dst, Proto: ProtoICMP, A: p.ICMPID, B: p.ICMPSeq}
	}
	return Key{Dst: p.Dst, Proto: p.Proto, A: p.SrcPort, B: p.DstPort}
}

// ProbeKey returns the key of c read as one of the plugin's probes leaving
// (an ICMP echo request, or TCP or UDP): the key its answers are looked up
// by. ok is false for anything else.
func (c *Captured) ProbeKey() (k Key, ok bool) {
	switch {
	case c.IP.Proto == ProtoICMP && c.ICMP != nil && c.ICMP.Type == ICMPEcho:
		return Key{Dst: c.IP.Dst, Proto: ProtoICMP, A: c.ICMP.ID, B: c.ICMP.Seq}, true
	case c.IP.Proto == ProtoTCP && c.TCP != nil:
		return Key{Dst: c.IP.Dst, Proto: ProtoTCP, A: c.TCP.SrcPort, B: c.TCP.DstPort}, true
	case c.IP.Proto == ProtoUDP && c.UDP != nil:
		return Key{Dst: c.IP.Dst, Proto: ProtoUDP, A: c.UDP.SrcPort, B: c.UDP.DstPort}, true
	}
	return Key{}, false
}

// Kind says how a captured packet relates to a probe.
type Kind int

const (
	EchoReply   Kind = iota + 1 // ICMP echo reply
	TCPReply                    // any TCP segment back from the probed port (SYN-ACK, RST...)
	UDPReply                    // a UDP datagram back from the probed port
	ICMPErrorOf                 // an ICMP error quoting the probe
)

// Answer is what a captured packet says about the probe it answers.
type Answer struct {
	Kind     Kind
	From     netip.Addr // sender: the target, or a router for ICMP errors
	TTL      int        // IP TTL of the answer
	TCPFlags int
	ICMPType int // ICMPErrorOf only
	ICMPCode int
}

// PortUnreachableFrom reports whether a is the target's own ICMP port
// unreachable: the answer that says a UDP port is closed.
func (a Answer) PortUnreachableFrom(target netip.Addr) bool {
	return a.Kind == ICMPErrorOf && a.ICMPType == ICMPUnreachable && a.ICMPCode == CodePortUnreach && a.From == target
}

// Lookup returns the key of the probes c may answer, and the kind of answer
// it would be; ok is false for a packet that cannot answer any probe (our
// own outgoing probes on loopback, other traffic, ARP frames).
func (c *Captured) Lookup() (k Key, kind Kind, ok bool) {
	switch {
	case c.IP.Proto == ProtoICMP && c.ICMP != nil && c.ICMP.Type == ICMPEchoReply:
		return Key{Dst: c.IP.Src, Proto: ProtoICMP, A: c.ICMP.ID, B: c.ICMP.Seq}, EchoReply, true
	case c.IP.Proto == ProtoICMP && c.ICMP != nil && IsICMPError(c.ICMP.Type):
		q := c.Quoted
		if q == nil {
			return Key{}, 0, false
		}
		switch {
		case q.IP.Proto == ProtoICMP && q.ICMP != nil && q.ICMP.Type == ICMPEcho:
			return Key{Dst: q.IP.Dst, Proto: ProtoICMP, A: q.ICMP.ID, B: q.ICMP.Seq}, ICMPErrorOf, true
		case q.IP.Proto == ProtoTCP && q.TCP != nil:
			return Key{Dst: q.IP.Dst, Proto: ProtoTCP, A: q.TCP.SrcPort, B: q.TCP.DstPort}, ICMPErrorOf, true
		case q.IP.Proto == ProtoUDP && q.UDP != nil:
			return Key{Dst: q.IP.Dst, Proto: ProtoUDP, A: q.UDP.SrcPort, B: q.UDP.DstPort}, ICMPErrorOf, true
		}
	case c.IP.Proto == ProtoTCP && c.TCP != nil:
		return Key{Dst: c.IP.Src, Proto: ProtoTCP, A: c.TCP.DstPort, B: c.TCP.SrcPort}, TCPReply, true
	case c.IP.Proto == ProtoUDP && c.UDP != nil:
		return Key{Dst: c.IP.Src, Proto: ProtoUDP, A: c.UDP.DstPort, B: c.UDP.SrcPort}, UDPReply, true
	}
	return Key{}, 0, false
}

// Answers reports whether c, whose Lookup key equals p.Key(), answers p
// itself and not another packet with the same key. An ICMP error must quote
// p's own IP id and source (and an echo's tag, when it quotes that much of
// its payload); an echo reply must return the tag that begins p's payload
// (the plugin's processes share a target's echo id: its flow's); a TCP
// segment must acknowledge p's sequence number (SYN-ACK, RST-ACK), or, as
// a RST to an ACK probe, carry p's acknowledgement number as its own
// sequence number (RFC 9293 3.10.7.1). A UDP reply can only be told by its
// ports: any probe of the key.
func Answers(p *Probe, c *Captured, kind Kind) (Answer, bool) {
	a := Answer{Kind: kind, From: c.IP.Src, TTL: c.IP.TTL}
	switch kind {
	case ICMPErrorOf:
		q := c.Quoted
		if q.IP.ID != p.IPID || q.IP.Src != p.Src {
			return a, false
		}
		if p.Proto == ProtoTCP && q.TCP.Seq != p.TCPSeq {
			return a, false
		}
		if p.Proto == ProtoICMP && len(q.Data) >= TagLen && !sameTag(q.Data, p.Payload) {
			return a, false
		}
		a.ICMPType, a.ICMPCode = c.ICMP.Type, c.ICMP.Code
		return a, true
	case TCPReply:
		if c.IP.Dst != p.Src {
			return a, false
		}
		a.TCPFlags = c.TCP.Flags
		if c.TCP.Flags&FlagACK != 0 {
			// The answer acknowledges the SYN and FIN flags and the
			// payload, or (a SYN-ACK to a SYN carrying data) only the SYN;
			// a RST to a bare PSH or URG acknowledges nothing new.
			if d := c.TCP.Ack - p.TCPSeq; d <= uint32(len(p.Payload))+2 {
				return a, true
			}
		}
		if c.TCP.Flags&FlagRST != 0 && p.TCPFlags&FlagACK != 0 && c.TCP.Seq == p.TCPAck {
			return a, true
		}
		return a, false
	case EchoReply:
		return a, c.IP.Dst == p.Src && sameTag(c.Data, p.Payload)
	case UDPReply:
		return a, c.IP.Dst == p.Src
	}
	return a, false
}

// TagLen is the length of the tag an echo request's payload begins with:
// the sending process's own (the core writes it).
const TagLen = 4

// sameTag reports whether data begins with the tag that begins payload.
// A probe with no tag (shorter than TagLen) takes any reply.
func sameTag(data, payload []byte) bool {
	if len(payload) < TagLen {
		return true
	}
	return len(data) >= TagLen && [TagLen]byte(data) == [TagLen]byte(payload)
}
