package netlab

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IP protocol numbers the emulator answers.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// request is what the emulator needs from one received IPv4 packet.
type request struct {
	raw              []byte // the whole packet
	proto            uint8
	src, dst         netip.Addr
	srcPort, dstPort uint16 // TCP and UDP
	icmpType         uint8
	id, seq          uint16 // ICMP echo
	tcpSeq           uint32
	tcpFlags         uint8
	payload          []byte // after the transport header
}

var errNotForUs = errors.New("not a packet the emulator answers")

// parse reads an IPv4 packet; it rejects anything but ICMP echo requests,
// TCP and UDP, and packets whose lengths do not add up.
func parse(p []byte) (request, error) {
	var r request
	if len(p) < 20 || p[0]>>4 != 4 {
		return r, errNotForUs
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || total < ihl || total > len(p) {
		return r, errNotForUs
	}
	if binary.BigEndian.Uint16(p[6:8])&0x3fff != 0 { // fragment: not used by probes
		return r, errNotForUs
	}
	p = p[:total]
	r.raw = p
	r.proto = p[9]
	r.src = netip.AddrFrom4([4]byte(p[12:16]))
	r.dst = netip.AddrFrom4([4]byte(p[16:20]))
	l4 := p[ihl:]
	switch r.proto {
	case ProtoICMP:
		if len(l4) < 8 || l4[0] != 8 { // echo request only
			return r, errNotForUs
		}
		r.icmpType = l4[0]
		r.id = binary.BigEndian.Uint16(l4[4:6])
		r.seq = binary.BigEndian.Uint16(l4[6:8])
		r.payload = l4[8:]
	case ProtoTCP:
		if len(l4) < 20 {
			return r, errNotForUs
		}
		off := int(l4[12]>>4) * 4
		if off < 20 || off > len(l4) {
			return r, errNotForUs
		}
		r.srcPort = binary.BigEndian.Uint16(l4[0:2])
		r.dstPort = binary.BigEndian.Uint16(l4[2:4])
		r.tcpSeq = binary.BigEndian.Uint32(l4[4:8])
		r.tcpFlags = l4[13]
		r.payload = l4[off:]
	case ProtoUDP:
		if len(l4) < 8 {
			return r, errNotForUs
		}
		r.srcPort = binary.BigEndian.Uint16(l4[0:2])
		r.dstPort = binary.BigEndian.Uint16(l4[2:4])
		r.payload = l4[8:]
	default:
		return r, errNotForUs
	}
	return r, nil
}

// ipv4 builds an IPv4 packet around the transport bytes l4.
func ipv4(proto uint8, src, dst netip.Addr, ttl uint8, id uint16, l4 []byte) []byte {
	p := make([]byte, 20+len(l4))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:6], id)
	p[8] = ttl
	p[9] = proto
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[10:12], checksum(p[:20], 0))
	copy(p[20:], l4)
	return p
}

// echoReply answers an ICMP echo request with the same id, seq and payload.
func echoReply(r request, ttl uint8, id uint16) []byte {
	l4 := make([]byte, 8+len(r.payload))
	binary.BigEndian.PutUint16(l4[4:6], r.id)
	binary.BigEndian.PutUint16(l4[6:8], r.seq)
	copy(l4[8:], r.payload)
	binary.BigEndian.PutUint16(l4[2:4], checksum(l4, 0))
	return ipv4(ProtoICMP, r.dst, r.src, ttl, id, l4)
}

// tcpReply answers a TCP segment: SYN-ACK when open and the segment is a
// SYN, otherwise RST (as RFC 9293 does for a closed port). ok is false for
// segments a real stack would not answer (an RST, or a non-SYN to an open
// port, which has no connection here).
func tcpReply(r request, open bool, ttl uint8, id uint16, iss uint32) (pkt []byte, ok bool) {
	if r.tcpFlags&tcpRST != 0 {
		return nil, false
	}
	syn := r.tcpFlags&tcpSYN != 0 && r.tcpFlags&tcpACK == 0
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:2], r.dstPort)
	binary.BigEndian.PutUint16(l4[2:4], r.srcPort)
	l4[12] = 5 << 4
	segLen := uint32(len(r.payload))
	if r.tcpFlags&tcpSYN != 0 {
		segLen++
	}
	if r.tcpFlags&tcpFIN != 0 {
		segLen++
	}
	switch {
	case open && syn:
		binary.BigEndian.PutUint32(l4[4:8], iss)
		binary.BigEndian.PutUint32(l4[8:12], r.tcpSeq+1)
		l4[13] = tcpSYN | tcpACK
		binary.BigEndian.PutUint16(l4[14:16], 64240)
	case open:
		return nil, false
	case r.tcpFlags&tcpACK != 0:
		// RST to a segment carrying ACK takes its sequence from that ACK.
		binary.BigEndian.PutUint32(l4[4:8], binary.BigEndian.Uint32(r.raw[int(r.raw[0]&0x0f)*4+8:]))
		l4[13] = tcpRST
	default:
		binary.BigEndian.PutUint32(l4[8:12], r.tcpSeq+segLen)
		l4[13] = tcpRST | tcpACK
	}
	binary.BigEndian.PutUint16(l4[16:18], checksum(l4, pseudo(r.dst, r.src, ProtoTCP, len(l4))))
	return ipv4(ProtoTCP, r.dst, r.src, ttl, id, l4), true
}

// portUnreachable answers a UDP datagram with ICMP port unreachable from the
// target itself, quoting the datagram (up to 548 bytes, as Linux does, so the
// error fits a 576-byte packet).
func portUnreachable(r request, ttl uint8, id uint16) []byte {
	quote := r.raw
	if len(quote) > 548 {
		quote = quote[:548]
	}
	l4 := make([]byte, 8+len(quote))
	l4[0], l4[1] = 3, 3
	copy(l4[8:], quote)
	binary.BigEndian.PutUint16(l4[2:4], checksum(l4, 0))
	return ipv4(ProtoICMP, r.dst, r.src, ttl, id, l4)
}

// pseudo is the sum of the TCP/UDP pseudo header.
func pseudo(src, dst netip.Addr, proto uint8, length int) uint32 {
	s, d := src.As4(), dst.As4()
	var sum uint32
	for i := 0; i < 4; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	return sum + uint32(proto) + uint32(length)
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
