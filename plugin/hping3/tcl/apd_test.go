package tcl

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// The captured engine output (testdata/README.md), one string a line.
var captureFiles = []string{"loopback.out", "router.out"}

func captureLines(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// pktText returns the packet text of a pkt line: "pkt IFACE TIME TEXT".
func pktText(t testing.TB, line string) string {
	t.Helper()
	f := strings.SplitN(line, " ", 4)
	if len(f) != 4 || f[0] != "pkt" {
		t.Fatalf("not a pkt line: %q", line)
	}
	return f[3]
}

var (
	lo      = netip.MustParseAddr("127.0.0.1")
	client  = netip.MustParseAddr("198.18.0.1")
	router  = netip.MustParseAddr("198.18.0.2")
	target7 = netip.MustParseAddr("198.19.0.7")
	dst85   = netip.MustParseAddr("198.19.8.5")
	dst95   = netip.MustParseAddr("198.19.9.5")
	dst205  = netip.MustParseAddr("198.19.20.5")
)

func ipv4(tos, totlen, id, ttl, proto int, df bool, src, dst netip.Addr) packet.IP {
	return packet.IP{TOS: tos, TotLen: totlen, ID: id, TTL: ttl, Proto: proto, DF: df, Src: src, Dst: dst}
}

// wantPackets holds, for every pkt line of the captures ("file:line", 1 is
// the first line), the packet read by hand from its text.
var wantPackets = map[string]*packet.Captured{
	// Echo reply, id 777 seq 1.
	"loopback.out:4": {IP: ipv4(0, 28, 41735, 64, 1, false, lo, lo),
		ICMP: &packet.ICMP{Type: 0, Code: 0, ID: 777, Seq: 1}},
	// Echo reply with 8 bytes "XXXXXXXX".
	"loopback.out:6": {IP: ipv4(0, 36, 41739, 64, 1, false, lo, lo),
		ICMP: &packet.ICMP{Type: 0, Code: 0, ID: 777, Seq: 2},
		Data: []byte("XXXXXXXX")},
	// SYN-ACK from 18080 with an MSS option: the option layer is skipped.
	"loopback.out:8": {IP: ipv4(0, 44, 0, 64, 6, true, lo, lo),
		TCP: &packet.TCP{SrcPort: 18080, DstPort: 40001, Seq: 2272722496, Ack: 12346,
			Flags: packet.FlagSYN | packet.FlagACK, Window: 65495}},
	// RST-ACK from the closed port 1.
	"loopback.out:10": {IP: ipv4(0, 40, 0, 64, 6, true, lo, lo),
		TCP: &packet.TCP{SrcPort: 1, DstPort: 40002, Seq: 0, Ack: 4000000001,
			Flags: packet.FlagRST | packet.FlagACK, Window: 0}},
	// Port unreachable (tos 0xd0) quoting the UDP probe (tos 0x10, id 105).
	"loopback.out:12": {IP: ipv4(0xd0, 59, 41769, 64, 1, false, lo, lo),
		ICMP: &packet.ICMP{Type: 3, Code: 3},
		Quoted: &packet.Captured{IP: ipv4(0x10, 31, 105, 64, 17, false, lo, lo),
			UDP:  &packet.UDP{SrcPort: 40003, DstPort: 9},
			Data: []byte("XXX")}},
	// RST (no ACK) to an ACK probe: its seq is the probe's ack.
	"loopback.out:14": {IP: ipv4(0, 40, 0, 64, 6, true, lo, lo),
		TCP: &packet.TCP{SrcPort: 1, DstPort: 40004, Seq: 3000000000, Ack: 0,
			Flags: packet.FlagRST, Window: 0}},
	// Echo replies with an id the engine did not send.
	"loopback.out:15": {IP: ipv4(0, 28, 41784, 64, 1, false, lo, lo),
		ICMP: &packet.ICMP{Type: 0, Code: 0, ID: 55653, Seq: 26954}},
	"loopback.out:17": {IP: ipv4(0, 28, 41794, 64, 1, false, lo, lo),
		ICMP: &packet.ICMP{Type: 0, Code: 0, ID: 55653, Seq: 26955}},

	// Host unreachable from the router quoting an echo request.
	"router.out:4": {IP: ipv4(0xc0, 56, 9234, 64, 1, false, router, client),
		ICMP: &packet.ICMP{Type: 3, Code: 1},
		Quoted: &packet.Captured{IP: ipv4(0, 28, 201, 64, 1, false, client, dst85),
			ICMP: &packet.ICMP{Type: 8, Code: 0, ID: 777, Seq: 3}}},
	// Host unreachable quoting a SYN (seq 555).
	"router.out:6": {IP: ipv4(0xc0, 68, 9242, 64, 1, false, router, client),
		ICMP: &packet.ICMP{Type: 3, Code: 1},
		Quoted: &packet.Captured{IP: ipv4(0, 40, 202, 64, 6, false, client, dst85),
			TCP: &packet.TCP{SrcPort: 40001, DstPort: 80, Seq: 555, Ack: 0, Flags: packet.FlagSYN, Window: 64}}},
	// Host unreachable quoting a UDP probe with 4 bytes "XXXX".
	"router.out:8": {IP: ipv4(0xc0, 60, 9248, 64, 1, false, router, client),
		ICMP: &packet.ICMP{Type: 3, Code: 1},
		Quoted: &packet.Captured{IP: ipv4(0, 32, 203, 64, 17, false, client, dst85),
			UDP:  &packet.UDP{SrcPort: 40002, DstPort: 53},
			Data: []byte("XXXX")}},
	// Administratively prohibited (code 13) quoting a SYN (seq 777).
	"router.out:10": {IP: ipv4(0xc0, 68, 9257, 64, 1, false, router, client),
		ICMP: &packet.ICMP{Type: 3, Code: 13},
		Quoted: &packet.Captured{IP: ipv4(0, 40, 204, 64, 6, false, client, dst95),
			TCP: &packet.TCP{SrcPort: 40003, DstPort: 80, Seq: 777, Ack: 0, Flags: packet.FlagSYN, Window: 64}}},
	// Net unreachable quoting a UDP probe sent with TTL 1, no payload.
	"router.out:12": {IP: ipv4(0xc0, 56, 9266, 64, 1, false, router, client),
		ICMP: &packet.ICMP{Type: 3, Code: 0},
		Quoted: &packet.Captured{IP: ipv4(0, 28, 205, 1, 17, false, client, dst205),
			UDP: &packet.UDP{SrcPort: 40004, DstPort: 33434}}},
	// Echo reply from the target with 2 bytes 00 ff.
	"router.out:14": {IP: ipv4(0, 30, 47302, 64, 1, false, target7, client),
		ICMP: &packet.ICMP{Type: 0, Code: 0, ID: 777, Seq: 4},
		Data: []byte{0x00, 0xff}},
	// The target's own port unreachable quoting a UDP probe to 7777.
	"router.out:16": {IP: ipv4(0xc0, 56, 47305, 64, 1, false, target7, client),
		ICMP: &packet.ICMP{Type: 3, Code: 3},
		Quoted: &packet.Captured{IP: ipv4(0, 28, 207, 64, 17, false, client, target7),
			UDP: &packet.UDP{SrcPort: 40005, DstPort: 7777}}},
}

// dump renders every field of c, for failure messages.
func dump(c *packet.Captured) string {
	if c == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "IP%+v", c.IP)
	if c.ICMP != nil {
		fmt.Fprintf(&b, " ICMP%+v", *c.ICMP)
	}
	if c.TCP != nil {
		fmt.Fprintf(&b, " TCP%+v", *c.TCP)
	}
	if c.UDP != nil {
		fmt.Fprintf(&b, " UDP%+v", *c.UDP)
	}
	if c.Data != nil {
		fmt.Fprintf(&b, " Data=%x", c.Data)
	}
	if c.Quoted != nil {
		fmt.Fprintf(&b, " Quoted{%s}", dump(c.Quoted))
	}
	return b.String()
}

func samePacket(t *testing.T, what string, got, want *packet.Captured) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, dump(got), dump(want))
	}
}

func TestParseCaptures(t *testing.T) {
	seen := 0
	for _, name := range captureFiles {
		for i, line := range captureLines(t, name) {
			if !strings.HasPrefix(line, "pkt ") {
				continue
			}
			where := fmt.Sprintf("%s:%d", name, i+1)
			want, ok := wantPackets[where]
			if !ok {
				t.Errorf("%s: pkt line without an expected packet: %q", where, line)
				continue
			}
			seen++
			got, err := Parse(pktText(t, line))
			if err != nil {
				t.Errorf("%s: Parse: %v", where, err)
				continue
			}
			samePacket(t, where, got, want)
		}
	}
	if seen != len(wantPackets) {
		t.Errorf("checked %d pkt lines, expected %d: the captures changed", seen, len(wantPackets))
	}
}

// A valid echo reply and an ICMP error, for the rejection cases to break.
const (
	echoText  = "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28,id=41735,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0xd7d9,saddr=127.0.0.1,daddr=127.0.0.1)+icmp(type=0,code=0,id=777,seq=1)"
	tcpText   = "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=40,id=0,fragoff=0,mf=0,df=1,rf=0,ttl=64,proto=6,cksum=0xce3c,saddr=127.0.0.1,daddr=127.0.0.1)+tcp(sport=1,dport=40002,seq=0,ack=4000000001,x2=0x0,off=5,flags=ra,win=0,cksum=0xff1d,urp=0)"
	udpText   = "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=31,id=105,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=17,cksum=0x537c,saddr=127.0.0.1,daddr=127.0.0.1)+udp(sport=40003,dport=9,len=11,cksum=0xb530)+data(hex=585858)"
	errorText = "ip(ihl=0x5,ver=0x4,tos=0xc0,totlen=56,id=9234,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0xcbc9,saddr=198.18.0.2,daddr=198.18.0.1)+icmp(type=3,code=1,unused=0)+ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28,id=201,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0xece5,saddr=198.18.0.1,daddr=198.19.8.5)+icmp(type=8,code=0,id=777,seq=3)"
)

func TestParseBaseTextsAreValid(t *testing.T) {
	for _, s := range []string{echoText, tcpText, udpText, errorText} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	rep := func(s, old, new string) string {
		if !strings.Contains(s, old) {
			panic("no " + old + " in " + s)
		}
		return strings.Replace(s, old, new, 1)
	}
	for _, c := range []struct {
		name, text, errHas string
	}{
		{"empty", "", "empty"},
		{"first layer icmp", "icmp(type=0,code=0,id=777,seq=1)", "not ip"},
		{"first layer data", "data(hex=00)", "not ip"},
		{"no parenthesis", "ip", "malformed layer"},
		{"no name", "(ttl=64)", "malformed layer"},
		{"unclosed", "ip(ttl=64,proto=1", "malformed layer"},
		{"close before open", "ip)ttl=64(", "malformed layer"},
		{"junk after layer", echoText + "x", "malformed text after layer"},
		{"space after layer", echoText + " ", "malformed text after layer"},
		{"trailing plus", echoText + "+", "ends in '+'"},
		{"field without =", rep(echoText, "ttl=64", "ttl"), "malformed field"},
		{"field without name", rep(echoText, "ttl=64", "=64"), "malformed field"},
		{"empty field", rep(echoText, ",ttl=64,", ",,"), "malformed field"},
		{"missing ttl", rep(echoText, "ttl=64,", ""), "no ttl"},
		{"missing saddr", rep(echoText, ",saddr=127.0.0.1", ""), "no saddr"},
		{"missing icmp seq", rep(echoText, ",seq=1", ""), "no seq"},
		{"missing tcp flags", rep(tcpText, "flags=ra,", ""), "no flags"},
		{"missing udp dport", rep(udpText, "dport=9,", ""), "no dport"},
		{"ttl not a number", rep(echoText, "ttl=64", "ttl=x"), "ttl"},
		{"ttl 256", rep(echoText, "ttl=64", "ttl=256"), "ttl"},
		{"ttl negative", rep(echoText, "ttl=64", "ttl=-1"), "ttl"},
		{"ip id 65536", rep(echoText, "id=41735", "id=65536"), "id"},
		{"tos 0x100", rep(echoText, "tos=0x00", "tos=0x100"), "tos"},
		{"totlen 65536", rep(echoText, "totlen=28", "totlen=65536"), "totlen"},
		{"proto 256", rep(echoText, "proto=1", "proto=256"), "proto"},
		{"df 2", rep(echoText, "df=0", "df=2"), "df"},
		{"huge number", rep(echoText, "ttl=64", "ttl=99999999999999999999"), "ttl"},
		{"saddr short", rep(echoText, "saddr=127.0.0.1", "saddr=127.0.1"), "saddr"},
		{"saddr ipv6", rep(echoText, "saddr=127.0.0.1", "saddr=::1"), "saddr"},
		{"daddr name", rep(echoText, "daddr=127.0.0.1", "daddr=localhost"), "daddr"},
		{"icmp type 256", rep(echoText, "type=0", "type=256"), "type"},
		{"icmp code -1", rep(echoText, "code=0", "code=-1"), "code"},
		{"icmp id 65536", rep(echoText, "id=777", "id=65536"), "id"},
		{"icmp seq 65536", rep(echoText, "seq=1", "seq=65536"), "seq"},
		{"tcp sport 65536", rep(tcpText, "sport=1", "sport=65536"), "sport"},
		{"tcp seq 2^32", rep(tcpText, "seq=0", "seq=4294967296"), "seq"},
		{"tcp seq negative", rep(tcpText, "seq=0", "seq=-1"), "seq"},
		{"tcp seq hex", rep(tcpText, "seq=0", "seq=0x10"), "seq"},
		{"tcp ack 2^32", rep(tcpText, "ack=4000000001", "ack=4294967296"), "ack"},
		{"tcp win 65536", rep(tcpText, "win=0", "win=65536"), "win"},
		{"tcp unknown flag", rep(tcpText, "flags=ra", "flags=rz"), "flag"},
		{"tcp uppercase flag", rep(tcpText, "flags=ra", "flags=RA"), "flag"},
		{"udp dport negative", rep(udpText, "dport=9", "dport=-9"), "dport"},
		{"udp sport 65536", rep(udpText, "sport=40003", "sport=65536"), "sport"},
		{"data str", rep(udpText, "data(hex=585858)", "data(str=XXX)"), "hex"},
		{"data empty", rep(udpText, "data(hex=585858)", "data()"), "hex"},
		{"data odd hex", rep(udpText, "hex=585858", "hex=58585"), "hex"},
		{"data bad hex", rep(udpText, "hex=585858", "hex=5z"), "hex"},
		{"quoted ttl 300", rep(errorText, "id=201,fragoff=0,mf=0,df=0,rf=0,ttl=64", "id=201,fragoff=0,mf=0,df=0,rf=0,ttl=300"), "quoted packet"},
		{"quoted not ip", rep(errorText, "+ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28", "+bogus(x=1)+ip(ihl=0x5,ver=0x4,tos=0x00,totlen=28"), "quoted packet"},
		{"quoted icmp seq", rep(errorText, "seq=3", "seq=x"), "quoted packet"},
		{"over the size cap", strings.Replace(udpText, "585858", strings.Repeat("58", maxAPD/2), 1), "characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.text)
			if err == nil {
				t.Fatalf("Parse(%.200q) = %s, want an error", c.text, dump(got))
			}
			if got != nil {
				t.Errorf("Parse returned a packet with its error: %s", dump(got))
			}
			if !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("error %q does not mention %q", err, c.errHas)
			}
		})
	}
}

// A packet of exactly maxAPD characters is read; one more is refused.
func TestParseSizeCap(t *testing.T) {
	prefix, suffix := strings.TrimSuffix(udpText, "585858)"), ")"
	n := maxAPD - len(prefix) - len(suffix)
	if n%2 != 0 {
		prefix = strings.Replace(prefix, "id=105", "id=1050", 1)
		n--
	}
	s := prefix + strings.Repeat("ab", n/2) + suffix
	if len(s) != maxAPD {
		t.Fatalf("test text is %d characters, want %d", len(s), maxAPD)
	}
	c, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse of %d characters: %v", len(s), err)
	}
	if len(c.Data) != n/2 || c.Data[0] != 0xab || c.Data[len(c.Data)-1] != 0xab {
		t.Errorf("data of %d bytes, want %d bytes of 0xab", len(c.Data), n/2)
	}
	if _, err := Parse(s + "+data(hex=00)"); err == nil {
		t.Errorf("Parse of %d characters succeeded, want the size cap", len(s)+13)
	}
}

func TestParseLenient(t *testing.T) {
	// ECN letters x and y carry no flag the plugin reads.
	c, err := Parse(strings.Replace(tcpText, "flags=ra", "flags=xysa", 1))
	if err != nil {
		t.Fatal(err)
	}
	if c.TCP.Flags != packet.FlagSYN|packet.FlagACK {
		t.Errorf("flags xysa = %#x, want SYN|ACK", c.TCP.Flags)
	}
	// Empty flags (a segment with none) and every flag.
	c, err = Parse(strings.Replace(tcpText, "flags=ra", "flags=", 1))
	if err != nil || c.TCP.Flags != 0 {
		t.Errorf("flags= gives %v, %v; want 0", c, err)
	}
	c, err = Parse(strings.Replace(tcpText, "flags=ra", "flags=ufpras", 1))
	if err != nil || c.TCP.Flags != packet.FlagFIN|packet.FlagSYN|packet.FlagRST|packet.FlagPSH|packet.FlagACK|packet.FlagURG {
		t.Errorf("flags=ufpras gives %v, %v; want all six", c, err)
	}
	// Upper bounds are in range.
	c, err = Parse("ip(tos=0xff,totlen=65535,id=65535,df=1,ttl=255,proto=6,saddr=255.255.255.255,daddr=0.0.0.0)+tcp(sport=65535,dport=65535,seq=4294967295,ack=4294967295,flags=,win=65535)")
	if err != nil {
		t.Fatal(err)
	}
	want := &packet.Captured{
		IP:  ipv4(255, 65535, 65535, 255, 6, true, netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("0.0.0.0")),
		TCP: &packet.TCP{SrcPort: 65535, DstPort: 65535, Seq: 4294967295, Ack: 4294967295, Window: 65535},
	}
	samePacket(t, "maximum values", c, want)
}

// An ARP frame on an Ethernet capture reads as an all-zero IP header.
func TestParseARPFrame(t *testing.T) {
	c, err := Parse("ip(ihl=0x0,ver=0x0,tos=0x00,totlen=0,id=0,fragoff=0,mf=0,df=0,rf=0,ttl=0,proto=0,cksum=0x0000,saddr=0.0.0.0,daddr=0.0.0.0)")
	if err != nil {
		t.Fatal(err)
	}
	zero := netip.MustParseAddr("0.0.0.0")
	samePacket(t, "ARP", c, &packet.Captured{IP: ipv4(0, 0, 0, 0, 0, false, zero, zero)})
}

// Only ICMP errors carry a quoted packet: the layers after an echo reply
// are not one.
func TestParseQuotedOnlyForErrors(t *testing.T) {
	c, err := Parse(echoText + "+ip(tos=0,totlen=28,id=1,df=0,ttl=64,proto=1,saddr=1.2.3.4,daddr=5.6.7.8)+icmp(type=8,code=0,id=1,seq=1)")
	if err != nil {
		t.Fatal(err)
	}
	if c.Quoted != nil {
		t.Errorf("echo reply has a quoted packet %s", dump(c.Quoted))
	}
	// An ICMP error with nothing quoted.
	c, err = Parse("ip(tos=0,totlen=28,id=1,df=0,ttl=64,proto=1,saddr=198.18.0.2,daddr=198.18.0.1)+icmp(type=11,code=0,unused=0)")
	if err != nil {
		t.Fatal(err)
	}
	if c.Quoted != nil || c.ICMP == nil || c.ICMP.Type != 11 {
		t.Errorf("time exceeded without a quote: %s", dump(c))
	}
}

// A router that quotes only 8 bytes of TCP: hping3 prints zero ports and
// the 8 header bytes as data; Parse reads the ports and seq from them.
func TestParseQuotedTCPEightBytes(t *testing.T) {
	s := "ip(ihl=0x5,ver=0x4,tos=0xc0,totlen=56,id=9300,fragoff=0,mf=0,df=0,rf=0,ttl=63,proto=1,cksum=0x0000,saddr=198.18.0.2,daddr=198.18.0.1)" +
		"+icmp(type=11,code=0,unused=0)" +
		"+ip(ihl=0x5,ver=0x4,tos=0x00,totlen=40,id=202,fragoff=0,mf=0,df=0,rf=0,ttl=1,proto=6,cksum=0x0000,saddr=198.18.0.1,daddr=198.19.8.5)" +
		// 0x9c41 = 40001, 0x0050 = 80, 0x0000022b = 555
		"+tcp(sport=0,dport=0,seq=0,ack=0,x2=0x0,off=0,flags=,win=0,cksum=0x0000,urp=0)+data(hex=9c4100500000022b)"
	c, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	want := &packet.Captured{IP: ipv4(0xc0, 56, 9300, 63, 1, false, router, client),
		ICMP: &packet.ICMP{Type: 11, Code: 0},
		Quoted: &packet.Captured{IP: ipv4(0, 40, 202, 1, 6, false, client, dst85),
			TCP:  &packet.TCP{SrcPort: 40001, DstPort: 80, Seq: 555},
			Data: []byte{0x9c, 0x41, 0x00, 0x50, 0x00, 0x00, 0x02, 0x2b}}}
	samePacket(t, "8-byte TCP quote", c, want)
}

func TestFixQuotedPorts(t *testing.T) {
	eight := []byte{0x9c, 0x41, 0x00, 0x50, 0xee, 0x6b, 0x28, 0x00} // 40001, 80, 4000000000
	for _, c := range []struct {
		name string
		in   packet.Captured
		want packet.Captured
	}{
		{"eight bytes",
			packet.Captured{TCP: &packet.TCP{}, Data: eight},
			packet.Captured{TCP: &packet.TCP{SrcPort: 40001, DstPort: 80, Seq: 4000000000}, Data: eight}},
		{"longer data: the first 8 bytes",
			packet.Captured{TCP: &packet.TCP{}, Data: append(append([]byte{}, eight...), 1, 2, 3, 4)},
			packet.Captured{TCP: &packet.TCP{SrcPort: 40001, DstPort: 80, Seq: 4000000000}, Data: append(append([]byte{}, eight...), 1, 2, 3, 4)}},
		{"seven bytes: unchanged",
			packet.Captured{TCP: &packet.TCP{}, Data: eight[:7]},
			packet.Captured{TCP: &packet.TCP{}, Data: eight[:7]}},
		{"decoded ports: unchanged",
			packet.Captured{TCP: &packet.TCP{SrcPort: 1, DstPort: 0, Seq: 9}, Data: eight},
			packet.Captured{TCP: &packet.TCP{SrcPort: 1, DstPort: 0, Seq: 9}, Data: eight}},
		{"udp: unchanged",
			packet.Captured{UDP: &packet.UDP{}, Data: eight},
			packet.Captured{UDP: &packet.UDP{}, Data: eight}},
		{"no transport: unchanged",
			packet.Captured{Data: eight},
			packet.Captured{Data: eight}},
	} {
		q := c.in
		fixQuotedPorts(&q)
		if !reflect.DeepEqual(q, c.want) {
			t.Errorf("%s: got %s, want %s", c.name, dump(&q), dump(&c.want))
		}
	}
}

func TestBuild(t *testing.T) {
	all := packet.FlagURG | packet.FlagACK | packet.FlagPSH | packet.FlagRST | packet.FlagSYN | packet.FlagFIN
	for _, c := range []struct {
		name string
		p    packet.Probe
		want string
	}{
		{"icmp echo", packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoICMP, TTL: 64, IPID: 201, ICMPID: 777, ICMPSeq: 3},
			"ip(saddr=198.18.0.1,daddr=198.19.8.5,ttl=64,tos=0,id=201)+icmp(type=8,code=0,id=777,seq=3)"},
		{"icmp echo with payload", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 64, IPID: 102, ICMPID: 777, ICMPSeq: 2, Payload: []byte("XXXXXXXX")},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=102)+icmp(type=8,code=0,id=777,seq=2)+data(hex=5858585858585858)"},
		{"icmp bounds", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 255, TOS: 255, IPID: 65535, ICMPID: 65535, ICMPSeq: 65535},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=255,tos=255,id=65535)+icmp(type=8,code=0,id=65535,seq=65535)"},
		{"icmp don't fragment", packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoICMP, TTL: 64, TOS: 184, IPID: 9, DontFrag: true, ICMPID: 7, ICMPSeq: 1},
			"ip(saddr=198.18.0.1,daddr=198.19.8.5,ttl=64,tos=184,id=9,df=1)+icmp(type=8,code=0,id=7,seq=1)"},
		{"icmp zero ids, ttl 1", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 1, TOS: 16},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=1,tos=16,id=0)+icmp(type=8,code=0,id=0,seq=0)"},
		{"tcp syn", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, IPID: 103, SrcPort: 40001, DstPort: 18080, TCPFlags: packet.FlagSYN, TCPSeq: 12345, TCPWindow: 512},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=103)+tcp(sport=40001,dport=18080,flags=s,seq=12345,ack=0,win=512)"},
		{"tcp ack probe", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, IPID: 106, SrcPort: 40004, DstPort: 1, TCPFlags: packet.FlagACK, TCPSeq: 1, TCPAck: 3000000000, TCPWindow: 64},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=106)+tcp(sport=40004,dport=1,flags=a,seq=1,ack=3000000000,win=64)"},
		{"tcp flags in header order", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, SrcPort: 1, DstPort: 65535, TCPFlags: packet.FlagACK | packet.FlagPSH, TCPSeq: 4294967295, TCPAck: 4294967295, TCPWindow: 65535},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=0)+tcp(sport=1,dport=65535,flags=pa,seq=4294967295,ack=4294967295,win=65535)"},
		{"tcp every flag", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, SrcPort: 2, DstPort: 3, TCPFlags: all},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=0)+tcp(sport=2,dport=3,flags=fsrpau,seq=0,ack=0,win=0)"},
		{"tcp fin urg", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, SrcPort: 2, DstPort: 3, TCPFlags: packet.FlagURG | packet.FlagFIN},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=0)+tcp(sport=2,dport=3,flags=fu,seq=0,ack=0,win=0)"},
		{"tcp syn with payload", packet.Probe{Src: client, Dst: dst85, Proto: packet.ProtoTCP, TTL: 64, IPID: 202, SrcPort: 40001, DstPort: 80, TCPFlags: packet.FlagSYN, TCPSeq: 555, TCPWindow: 64, Payload: []byte{0, 1, 0xfe, 0xff}},
			"ip(saddr=198.18.0.1,daddr=198.19.8.5,ttl=64,tos=0,id=202)+tcp(sport=40001,dport=80,flags=s,seq=555,ack=0,win=64)+data(hex=0001feff)"},
		{"udp", packet.Probe{Src: client, Dst: target7, Proto: packet.ProtoUDP, TTL: 64, IPID: 207, SrcPort: 40005, DstPort: 7777},
			"ip(saddr=198.18.0.1,daddr=198.19.0.7,ttl=64,tos=0,id=207)+udp(sport=40005,dport=7777)"},
		{"udp with payload", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoUDP, TTL: 64, TOS: 16, IPID: 105, SrcPort: 40003, DstPort: 9, Payload: []byte("XXX")},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=16,id=105)+udp(sport=40003,dport=9)+data(hex=585858)"},
		{"empty payload writes no data layer", packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoUDP, TTL: 64, SrcPort: 65535, DstPort: 1, Payload: []byte{}},
			"ip(saddr=127.0.0.1,daddr=127.0.0.1,ttl=64,tos=0,id=0)+udp(sport=65535,dport=1)"},
	} {
		got, err := Build(&c.p)
		if err != nil {
			t.Errorf("%s: Build: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// Build's text is one token of the engine's `send ID PACKET` line and goes
// to hping3 as data: no space, no Tcl syntax.
func TestBuildIsOneSafeToken(t *testing.T) {
	safe := regexp.MustCompile(`^[a-z0-9().,=+]+$`)
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, p := range []packet.Probe{
		{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 64, Payload: []byte("a b\n[exit]$x{}\\;\"")},
		{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, SrcPort: 1, DstPort: 2, TCPFlags: packet.FlagSYN, Payload: payload},
		{Src: lo, Dst: lo, Proto: packet.ProtoUDP, TTL: 64, SrcPort: 1, DstPort: 2, Payload: payload},
	} {
		s, err := Build(&p)
		if err != nil {
			t.Fatal(err)
		}
		if !safe.MatchString(s) {
			t.Errorf("Build gave %q: characters outside [a-z0-9().,=+]", s)
		}
		if !regexp.MustCompile(`^send ([0-9]+) (\S+)$`).MatchString("send 1 " + s) {
			t.Errorf("engine.tcl's send pattern does not take %q", s)
		}
	}
}

// BUG (fails): TCPFlags with no bit Build has a letter for (0x40 is ECE,
// 0x80 CWR) passes the "no TCP flags" check and renders "flags=", which
// hping3 refuses at send time ("Packet building error: 'Missing brace or
// comma'", checked with Debian's hping3). Build should refuse it itself.
func TestBuildRejectsFlagsWithoutLetters(t *testing.T) {
	for _, flags := range []int{0x40, 0x80, 0x100} {
		p := packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, SrcPort: 40011, DstPort: 18082, TCPFlags: flags, TCPSeq: 5, TCPWindow: 64}
		if s, err := Build(&p); err == nil {
			t.Errorf("TCPFlags %#x: Build = %q, want an error", flags, s)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	icmp := packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoICMP, TTL: 64}
	tcp := packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoTCP, TTL: 64, SrcPort: 40001, DstPort: 80, TCPFlags: packet.FlagSYN}
	udp := packet.Probe{Src: lo, Dst: lo, Proto: packet.ProtoUDP, TTL: 64, SrcPort: 40001, DstPort: 53}
	with := func(p packet.Probe, f func(*packet.Probe)) packet.Probe { f(&p); return p }
	for _, c := range []struct {
		name string
		p    packet.Probe
	}{
		{"ipv6 source", with(icmp, func(p *packet.Probe) { p.Src = netip.MustParseAddr("::1") })},
		{"ipv6 destination", with(icmp, func(p *packet.Probe) { p.Dst = netip.MustParseAddr("2001:db8::1") })},
		{"ipv4-mapped destination", with(icmp, func(p *packet.Probe) { p.Dst = netip.MustParseAddr("::ffff:127.0.0.1") })},
		{"zero source", with(icmp, func(p *packet.Probe) { p.Src = netip.Addr{} })},
		{"zero destination", with(icmp, func(p *packet.Probe) { p.Dst = netip.Addr{} })},
		{"ttl 0", with(icmp, func(p *packet.Probe) { p.TTL = 0 })},
		{"ttl 256", with(icmp, func(p *packet.Probe) { p.TTL = 256 })},
		{"ttl negative", with(icmp, func(p *packet.Probe) { p.TTL = -1 })},
		{"tos 256", with(icmp, func(p *packet.Probe) { p.TOS = 256 })},
		{"tos negative", with(icmp, func(p *packet.Probe) { p.TOS = -1 })},
		{"ip id 65536", with(icmp, func(p *packet.Probe) { p.IPID = 65536 })},
		{"ip id negative", with(icmp, func(p *packet.Probe) { p.IPID = -1 })},
		{"icmp id 65536", with(icmp, func(p *packet.Probe) { p.ICMPID = 65536 })},
		{"icmp seq negative", with(icmp, func(p *packet.Probe) { p.ICMPSeq = -1 })},
		{"icmp seq 65536", with(icmp, func(p *packet.Probe) { p.ICMPSeq = 65536 })},
		{"tcp source port 0", with(tcp, func(p *packet.Probe) { p.SrcPort = 0 })},
		{"tcp destination port 0", with(tcp, func(p *packet.Probe) { p.DstPort = 0 })},
		{"tcp port 65536", with(tcp, func(p *packet.Probe) { p.DstPort = 65536 })},
		{"tcp no flags", with(tcp, func(p *packet.Probe) { p.TCPFlags = 0 })},
		{"tcp window 65536", with(tcp, func(p *packet.Probe) { p.TCPWindow = 65536 })},
		{"tcp window negative", with(tcp, func(p *packet.Probe) { p.TCPWindow = -1 })},
		{"udp source port 0", with(udp, func(p *packet.Probe) { p.SrcPort = 0 })},
		{"udp destination port 0", with(udp, func(p *packet.Probe) { p.DstPort = 0 })},
		{"udp port negative", with(udp, func(p *packet.Probe) { p.SrcPort = -5 })},
		{"udp port 65536", with(udp, func(p *packet.Probe) { p.SrcPort = 65536 })},
		{"protocol 0", with(icmp, func(p *packet.Probe) { p.Proto = 0 })},
		{"protocol 2 (igmp)", with(icmp, func(p *packet.Probe) { p.Proto = 2 })},
		{"protocol 58 (icmpv6)", with(icmp, func(p *packet.Probe) { p.Proto = 58 })},
	} {
		if s, err := Build(&c.p); err == nil {
			t.Errorf("%s: Build = %q, want an error", c.name, s)
		} else if s != "" {
			t.Errorf("%s: Build returned %q with its error", c.name, s)
		}
	}
}

// A kernel SYN-ACK captured live on loopback (the answer to a connect()
// with every option): hping3 prints each option as a tcp.* layer, and an
// option it cannot decode as tcp.unknown(hex=...) with bytes past the
// header. Every option layer is skipped.
func TestParseTCPOptionLayers(t *testing.T) {
	const synAck = "ip(ihl=0x5,ver=0x4,tos=0x00,totlen=60,id=0,fragoff=0,mf=0,df=1,rf=0,ttl=64,proto=6,cksum=0xba3c,saddr=127.0.0.1,daddr=127.0.0.1)+tcp(sport=18089,dport=45872,seq=350165990,ack=374673269,x2=0x0,off=10,flags=sa,win=65483,cksum=0xfe30,urp=0)+tcp.mss(size=65495)+tcp.sackperm()+tcp.mss(size=2753)+tcp.unknown(hex=f0bd6d0103030a0000000000000000000000000000000000610000000000000010cd39b93f7f000010cd39b93f7f000000000000000000004100000000000000e0e94cf735560000c0cc39b93f7f000000000000000000002100000000000000e0e94cf735560000c0cc39b93f7f00006000000000000000f000000000000000be91139430560000f06119cf38ca9c3f78342c746f733d307830302c746f746c656e3d36302c69643d32333835352c667261676f66663d302c6d663d30)"
	c, err := Parse(synAck)
	if err != nil {
		t.Fatal(err)
	}
	samePacket(t, "SYN-ACK with options", c, &packet.Captured{IP: ipv4(0, 60, 0, 64, 6, true, lo, lo),
		TCP: &packet.TCP{SrcPort: 18089, DstPort: 45872, Seq: 350165990, Ack: 374673269, Flags: packet.FlagSYN | packet.FlagACK, Window: 65483}})
	// Options then a payload: the data layer after them is read.
	c, err = Parse(strings.Replace(tcpText, "urp=0)", "urp=0)+tcp.nop()+tcp.nop()+tcp.timestamp(val=4176526701,ecr=3241605154)+data(hex=6869)", 1))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Data) != "hi" || c.TCP == nil || c.TCP.DstPort != 40002 {
		t.Errorf("TCP with options and data: %s", dump(c))
	}
}

// BUG (fails): an echo reply carrying IP options, captured live on
// loopback (the answer to an echo request with a record-route option).
// hping3 prints the options as ip.* layers between ip and icmp; Parse
// reads no transport layer past them and returns, without an error, a
// packet with no ICMP header and no data: Lookup then finds no key, and
// the reply is silently lost (not even counted as unparsed). Parse should
// skip ip.* layers as it skips tcp.* ones, or refuse the packet.
func TestParseIPOptionLayers(t *testing.T) {
	const reply = "ip(ihl=0xf,ver=0x4,tos=0x00,totlen=72,id=49213,fragoff=0,mf=0,df=0,rf=0,ttl=64,proto=1,cksum=0xd196,saddr=127.0.0.1,daddr=127.0.0.1)+ip.rr(ptr=16,data=127.0.0.1/127.0.0.1/127.0.0.1/0.0.0.0/0.0.0.0/0.0.0.0/0.0.0.0/0.0.0.0/0.0.0.0)+ip.eol()+icmp(type=0,code=0,id=4242,seq=1)+data(hex=58585858)"
	c, err := Parse(reply)
	if err != nil {
		return // refused: counted as unparsed, which is acceptable
	}
	samePacket(t, "echo reply with IP options", c, &packet.Captured{IP: ipv4(0, 72, 49213, 64, 1, false, lo, lo),
		ICMP: &packet.ICMP{Type: 0, Code: 0, ID: 4242, Seq: 1}, Data: []byte("XXXX")})
}
