package tcl

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// hping3 describes packets in its APD text: layers joined by "+", each
// "name(field=value,...)", e.g.
//
//	ip(ihl=0x5,...,ttl=64,proto=1,cksum=0x78fa,saddr=127.0.0.1,daddr=127.0.0.1)+icmp(type=0,code=0,id=779,seq=5)
//
// The engine reads it with -hexdata, so a payload is data(hex=...) and no
// value contains "(", ")", "," or "+".

// maxAPD bounds one packet's text: a 64 KiB packet in hex is about 131 KB.
const maxAPD = 140000

// tcpFlagLetters are APD's TCP flag letters with their bits.
var tcpFlagLetters = []struct {
	c   byte
	bit int
}{{'f', packet.FlagFIN}, {'s', packet.FlagSYN}, {'r', packet.FlagRST}, {'p', packet.FlagPSH}, {'a', packet.FlagACK}, {'u', packet.FlagURG}}

// Build renders a probe as the APD text `hping send` takes. Every value is
// a number or an address literal: nothing here can be read as Tcl or as
// another layer.
func Build(p *packet.Probe) (string, error) {
	b, err := appendAPD(nil, p)
	return string(b), err
}

// appendAPD appends Build's text of p to dst. It is strconv, not fmt: the
// send loop renders every packet, a thousand a second at steady state.
func appendAPD(dst []byte, p *packet.Probe) ([]byte, error) {
	if !p.Src.Is4() || !p.Dst.Is4() {
		return dst, fmt.Errorf("probe addresses %v -> %v are not IPv4", p.Src, p.Dst)
	}
	if p.TTL < 1 || p.TTL > 255 || p.TOS < 0 || p.TOS > 255 || p.IPID < 0 || p.IPID > 65535 {
		return dst, fmt.Errorf("probe ttl %d, tos %d or ip id %d out of range", p.TTL, p.TOS, p.IPID)
	}
	num := func(b []byte, key string, v int) []byte {
		return strconv.AppendInt(append(b, key...), int64(v), 10)
	}
	b := append(dst, "ip(saddr="...)
	b = p.Src.AppendTo(b)
	b = append(b, ",daddr="...)
	b = p.Dst.AppendTo(b)
	b = num(b, ",ttl=", p.TTL)
	b = num(b, ",tos=", p.TOS)
	b = num(b, ",id=", p.IPID)
	if p.DontFrag {
		b = append(b, ",df=1"...)
	}
	b = append(b, ')')
	port := func(v int) bool { return v >= 1 && v <= 65535 }
	switch p.Proto {
	case packet.ProtoICMP:
		if p.ICMPID < 0 || p.ICMPID > 65535 || p.ICMPSeq < 0 || p.ICMPSeq > 65535 {
			return dst, fmt.Errorf("icmp id %d or seq %d out of range", p.ICMPID, p.ICMPSeq)
		}
		b = num(b, "+icmp(type=8,code=0,id=", p.ICMPID)
		b = num(b, ",seq=", p.ICMPSeq)
	case packet.ProtoTCP:
		if !port(p.SrcPort) || !port(p.DstPort) || p.TCPFlags == 0 || p.TCPWindow < 0 || p.TCPWindow > 65535 {
			return dst, fmt.Errorf("tcp ports %d -> %d, flags %#x or window %d out of range", p.SrcPort, p.DstPort, p.TCPFlags, p.TCPWindow)
		}
		b = num(b, "+tcp(sport=", p.SrcPort)
		b = num(b, ",dport=", p.DstPort)
		b = append(b, ",flags="...)
		n := len(b)
		for _, f := range tcpFlagLetters {
			if p.TCPFlags&f.bit != 0 {
				b = append(b, f.c)
			}
		}
		if len(b) == n {
			return dst, fmt.Errorf("tcp flags %#x: none the plugin sends", p.TCPFlags)
		}
		b = append(strconv.AppendUint(append(b, ",seq="...), uint64(p.TCPSeq), 10), ",ack="...)
		b = strconv.AppendUint(b, uint64(p.TCPAck), 10)
		b = num(b, ",win=", p.TCPWindow)
	case packet.ProtoUDP:
		if !port(p.SrcPort) || !port(p.DstPort) {
			return dst, fmt.Errorf("udp ports %d -> %d out of range", p.SrcPort, p.DstPort)
		}
		b = num(b, "+udp(sport=", p.SrcPort)
		b = num(b, ",dport=", p.DstPort)
	default:
		return dst, fmt.Errorf("protocol %d cannot be probed", p.Proto)
	}
	b = append(b, ')')
	if len(p.Payload) > 0 {
		b = append(b, "+data(hex="...)
		b = hex.AppendEncode(b, p.Payload)
		b = append(b, ')')
	}
	return b, nil
}

// layer is one "name(k=v,...)" of an APD text.
type layer struct {
	name   string
	fields map[string]string
}

func splitLayers(s string) ([]layer, error) {
	if len(s) > maxAPD {
		return nil, fmt.Errorf("packet text of %d characters", len(s))
	}
	var out []layer
	for len(s) > 0 {
		open := strings.IndexByte(s, '(')
		end := strings.IndexByte(s, ')')
		if open <= 0 || end < open {
			return nil, fmt.Errorf("malformed layer %.40q", s)
		}
		l := layer{name: s[:open], fields: map[string]string{}}
		if body := s[open+1 : end]; body != "" {
			for _, kv := range strings.Split(body, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("malformed field %.40q in layer %s", kv, l.name)
				}
				l.fields[k] = v
			}
		}
		out = append(out, l)
		s = s[end+1:]
		if s != "" {
			if s[0] != '+' {
				return nil, fmt.Errorf("malformed text after layer %s: %.40q", l.name, s)
			}
			s = s[1:]
			if s == "" {
				return nil, errors.New("packet text ends in '+'")
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty packet text")
	}
	return out, nil
}

// Parse reads one captured packet from hping3's APD text (recv -hexdata).
func Parse(s string) (*packet.Captured, error) {
	layers, err := splitLayers(s)
	if err != nil {
		return nil, err
	}
	c, rest, err := parsePacket(layers)
	if err != nil {
		return nil, err
	}
	if c.ICMP != nil && packet.IsICMPError(c.ICMP.Type) && len(rest) > 0 {
		q, _, err := parsePacket(rest)
		if err != nil {
			return nil, fmt.Errorf("quoted packet: %w", err)
		}
		fixQuotedPorts(q)
		c.Quoted = q
	}
	return c, nil
}

// parsePacket reads an ip layer, its transport layer (and TCP options) and
// a data layer; it returns the layers after them (a quoted packet).
func parsePacket(ls []layer) (*packet.Captured, []layer, error) {
	if ls[0].name != "ip" {
		return nil, nil, fmt.Errorf("first layer is %q, not ip", ls[0].name)
	}
	f := fields{l: ls[0]}
	c := &packet.Captured{IP: packet.IP{
		TOS: f.int("tos", 0xff), TotLen: f.int("totlen", 0xffff), ID: f.int("id", 0xffff),
		TTL: f.int("ttl", 0xff), Proto: f.int("proto", 0xff), DF: f.int("df", 1) == 1,
		Src: f.addr("saddr"), Dst: f.addr("daddr"),
	}}
	if f.err != nil {
		return nil, nil, f.err
	}
	ls = ls[1:]
	for len(ls) > 0 && strings.HasPrefix(ls[0].name, "ip.") {
		ls = ls[1:] // IP options
	}
	if len(ls) > 0 {
		f = fields{l: ls[0]}
		switch ls[0].name {
		case "icmp":
			c.ICMP = &packet.ICMP{Type: f.int("type", 0xff), Code: f.int("code", 0xff)}
			if _, ok := ls[0].fields["id"]; ok {
				c.ICMP.ID, c.ICMP.Seq = f.int("id", 0xffff), f.int("seq", 0xffff)
			}
		case "tcp":
			c.TCP = &packet.TCP{SrcPort: f.int("sport", 0xffff), DstPort: f.int("dport", 0xffff),
				Seq: f.u32("seq"), Ack: f.u32("ack"), Flags: f.flags("flags"), Window: f.int("win", 0xffff)}
		case "udp":
			c.UDP = &packet.UDP{SrcPort: f.int("sport", 0xffff), DstPort: f.int("dport", 0xffff)}
		}
		if f.err != nil {
			return nil, nil, f.err
		}
		if c.ICMP != nil || c.TCP != nil || c.UDP != nil {
			ls = ls[1:]
		}
	}
	for len(ls) > 0 && strings.HasPrefix(ls[0].name, "tcp.") {
		ls = ls[1:] // TCP options
	}
	if len(ls) > 0 && ls[0].name == "data" {
		h, ok := ls[0].fields["hex"]
		if !ok {
			return nil, nil, errors.New("data layer without hex= (the engine reads with -hexdata)")
		}
		d, err := hex.DecodeString(h)
		if err != nil {
			return nil, nil, fmt.Errorf("data hex: %w", err)
		}
		c.Data = d
		ls = ls[1:]
	}
	return c, ls, nil
}

// fixQuotedPorts reads the ports (and TCP sequence number) of a quoted
// packet from its data when hping3 could not decode the transport header:
// a router that quotes only the first 8 bytes of TCP gives
// tcp(sport=0,dport=0,...) with the real header bytes in data.
func fixQuotedPorts(q *packet.Captured) {
	if q.TCP != nil && q.TCP.SrcPort == 0 && q.TCP.DstPort == 0 && len(q.Data) >= 8 {
		d := q.Data
		q.TCP.SrcPort = int(d[0])<<8 | int(d[1])
		q.TCP.DstPort = int(d[2])<<8 | int(d[3])
		q.TCP.Seq = uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7])
	}
}

// fields reads one layer's values, keeping the first error.
type fields struct {
	l   layer
	err error
}

func (f *fields) raw(k string) (string, bool) {
	v, ok := f.l.fields[k]
	if !ok && f.err == nil {
		f.err = fmt.Errorf("layer %s has no %s", f.l.name, k)
	}
	return v, ok
}

func (f *fields) int(k string, maxV int) int {
	v, ok := f.raw(k)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < 0 || n > int64(maxV) {
		if f.err == nil {
			f.err = fmt.Errorf("layer %s: %s=%.20q is not a number in 0..%d", f.l.name, k, v, maxV)
		}
		return 0
	}
	return int(n)
}

func (f *fields) u32(k string) uint32 {
	v, ok := f.raw(k)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("layer %s: %s=%.20q is not a 32-bit number", f.l.name, k, v)
	}
	return uint32(n)
}

func (f *fields) addr(k string) netip.Addr {
	v, ok := f.raw(k)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if (err != nil || !a.Is4()) && f.err == nil {
		f.err = fmt.Errorf("layer %s: %s=%.20q is not an IPv4 address", f.l.name, k, v)
	}
	return a
}

func (f *fields) flags(k string) int {
	v, ok := f.raw(k)
	if !ok {
		return 0
	}
	bits := 0
	for i := 0; i < len(v); i++ {
		found := false
		for _, fl := range tcpFlagLetters {
			if v[i] == fl.c {
				bits |= fl.bit
				found = true
			}
		}
		// x and y are the ECN bits: no flag the plugin reads.
		if !found && v[i] != 'x' && v[i] != 'y' && f.err == nil {
			f.err = fmt.Errorf("layer %s: unknown TCP flag %q", f.l.name, v[i])
		}
	}
	return bits
}
