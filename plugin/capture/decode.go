package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// Decode reads an IPv4 packet, as a SOCK_DGRAM capture hands it over, into
// what the core matches answers with. An ICMP error's quoted packet may be
// cut short (RFC 792 asks only for its first 8 bytes past the IP header):
// its IP header and those 8 bytes are enough, and are all that is read.
func Decode(data []byte) (*packet.Captured, error) {
	c, err := decodeIP(data, false)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func decodeIP(data []byte, quoted bool) (*packet.Captured, error) {
	var ip layers.IPv4
	if err := ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return nil, err
	}
	if ip.Version != 4 {
		return nil, fmt.Errorf("not IPv4 (version %d)", ip.Version)
	}
	if ip.FragOffset != 0 {
		return nil, fmt.Errorf("a fragment past the first")
	}
	src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
	dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
	c := &packet.Captured{IP: packet.IP{TOS: int(ip.TOS), TotLen: int(ip.Length), ID: int(ip.Id), TTL: int(ip.TTL),
		Proto: int(ip.Protocol), DF: ip.Flags&layers.IPv4DontFragment != 0, Src: src, Dst: dst}}
	// The transport header starts after the IPv4 header; a quoted packet
	// may be shorter than its own length field says.
	rest := data[int(ip.IHL)*4:]
	if !quoted && len(rest) > int(ip.Length)-int(ip.IHL)*4 {
		rest = rest[:int(ip.Length)-int(ip.IHL)*4]
	}
	var err error
	switch ip.Protocol {
	case layers.IPProtocolICMPv4:
		err = decodeICMP(c, rest, quoted)
	case layers.IPProtocolTCP:
		err = decodeTCP(c, rest, quoted)
	case layers.IPProtocolUDP:
		err = decodeUDP(c, rest)
	default:
		err = fmt.Errorf("IP protocol %d", ip.Protocol)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// decodeICMP reads the ICMP header in data into c. An ICMP error's quoted
// packet is decoded into c.Quoted, unless c is itself a quote (a quote's
// own quote is not read); otherwise the payload is c.Data.
func decodeICMP(c *packet.Captured, data []byte, quoted bool) error {
	var ic layers.ICMPv4
	if err := ic.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return err
	}
	c.ICMP = &packet.ICMP{Type: int(ic.TypeCode.Type()), Code: int(ic.TypeCode.Code()), ID: int(ic.Id), Seq: int(ic.Seq)}
	if !quoted && packet.IsICMPError(c.ICMP.Type) {
		q, err := decodeIP(ic.Payload, true)
		if err != nil {
			return fmt.Errorf("ICMP type %d quotes no readable packet: %w", c.ICMP.Type, err)
		}
		c.Quoted = q
	} else {
		c.Data = ic.Payload
	}
	return nil
}

// decodeTCP reads the TCP header in data into c.
func decodeTCP(c *packet.Captured, data []byte, quoted bool) error {
	if quoted && len(data) < 20 {
		// gopacket's TCP decoder wants a whole header; a quote may
		// hold only the ports and the sequence number.
		if len(data) < 8 {
			return fmt.Errorf("quoted TCP header of %d bytes", len(data))
		}
		c.TCP = &packet.TCP{SrcPort: int(binary.BigEndian.Uint16(data)), DstPort: int(binary.BigEndian.Uint16(data[2:])),
			Seq: binary.BigEndian.Uint32(data[4:])}
		return nil
	}
	var t layers.TCP
	if err := t.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return err
	}
	c.TCP = &packet.TCP{SrcPort: int(t.SrcPort), DstPort: int(t.DstPort), Seq: t.Seq, Ack: t.Ack,
		Flags: tcpFlags(&t), Window: int(t.Window)}
	c.Data = t.Payload
	return nil
}

// decodeUDP reads the UDP header in data into c.
func decodeUDP(c *packet.Captured, data []byte) error {
	var u layers.UDP
	if err := u.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return err
	}
	c.UDP = &packet.UDP{SrcPort: int(u.SrcPort), DstPort: int(u.DstPort)}
	c.Data = u.Payload
	return nil
}

func tcpFlags(t *layers.TCP) int {
	bits := 0
	for _, f := range []struct {
		set bool
		bit int
	}{{t.FIN, packet.FlagFIN}, {t.SYN, packet.FlagSYN}, {t.RST, packet.FlagRST}, {t.PSH, packet.FlagPSH}, {t.ACK, packet.FlagACK}, {t.URG, packet.FlagURG}} {
		if f.set {
			bits |= f.bit
		}
	}
	return bits
}
