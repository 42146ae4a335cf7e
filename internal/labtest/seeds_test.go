package labtest

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/plugin/capture"
)

var updateSeeds = flag.Bool("update-seeds", false, "TestTclLabFramesDecode: write one frame of each kind the lab showed into plugin/capture's FuzzDecode seed corpus")

// seedDir is FuzzDecode's seed corpus, from this package's directory.
var seedDir = filepath.Join("..", "..", "plugin", "capture", "testdata", "fuzz", "FuzzDecode")

// TestTclLabFramesDecode: every IPv4 packet the plugin's probes and their
// answers put on the lab's wires decodes (capture.Decode) to what its own
// bytes say at their fixed offsets: ICMP echo, TCP SYN to an open and a
// closed port, UDP to a closed port and to an echo service, on the veth
// path and on loopback, and path probes of each protocol through the
// router chain, whose routers answer with ICMP time exceeded. And the
// decoder's fuzz corpus (plugin/capture, FuzzDecode) holds a frame of
// every kind the lab showed, lab-<wire>-<kind>; -update-seeds writes them
// from this run:
//
//	go test ./internal/labtest -run TestTclLabFramesDecode -update-seeds
func TestTclLabFramesDecode(t *testing.T) {
	l := lab(t)
	if err := l.ListenTCP(8080); err != nil {
		t.Fatal(err)
	}
	target := netlab.Target(33)
	if _, err := l.UDPEcho(target, 7); err != nil {
		t.Fatal(err)
	}
	both := quoted([]string{target.String(), "127.0.0.1"})
	direct := ""
	for _, tb := range []struct {
		targets, proto string
		port           int
	}{{both, "icmp", 0}, {both, "tcp", 8080}, {quoted([]string{target.String()}), "tcp", 8081}, {both, "udp", 9}, {quoted([]string{target.String()}), "udp", 7}} {
		direct += fmt.Sprintf("[[inputs.hping3]]\ntargets = %s\nprotocol = %q\ncount = 2\ninterval = \"20ms\"\n", tb.targets, tb.proto)
		if tb.port > 0 {
			direct += fmt.Sprintf("port = %d\n", tb.port)
		}
	}
	stopC0, stopLo := tcpdumpIn(t, l, "c0", "inout"), tcpdumpIn(t, l, "lo", "in")
	round(t, l, direct)
	frames := map[string][]captured{"veth": stopC0(), "lo": stopLo()}

	c := chain(t)
	path := pathGroup("icmp", 0, 1, "20ms", 4) + pathGroup("tcp", 8081, 1, "20ms", 4) + pathGroup("udp", 9, 1, "20ms", 4)
	stopL0 := tcpdumpIn(t, c, "l0", "inout")
	round(t, c, path)
	frames["chain"] = stopL0()

	// Every wire must show at least these kinds.
	want := map[string][]string{
		"veth":  {"icmp-echo-request", "icmp-echo-reply", "tcp-syn", "tcp-syn-ack", "tcp-rst-ack", "udp", "icmp-unreachable-3-quoting-udp"},
		"lo":    {"icmp-echo-request", "icmp-echo-reply", "tcp-syn", "tcp-rst-ack", "udp", "icmp-unreachable-3-quoting-udp"},
		"chain": {"icmp-time-exceeded-quoting-icmp", "icmp-time-exceeded-quoting-tcp", "icmp-time-exceeded-quoting-udp", "icmp-echo-reply"},
	}
	seeds := map[string][]byte{}
	for wire, fs := range frames {
		seen := map[string]int{}
		for _, f := range fs {
			data := f.pkt.Data()[14:] // the link header (Ethernet; loopback's is one of zeros)
			k := kind(data)
			if err := decodedAsBytes(data); err != nil {
				t.Errorf("%s, %s frame % x: %v", wire, k, data, err)
			}
			if seen[k]++; seen[k] == 1 {
				seeds["lab-"+wire+"-"+k] = data
			}
		}
		t.Logf("%s: %d frames: %v", wire, len(fs), seen)
		for _, k := range want[wire] {
			if seen[k] == 0 {
				t.Errorf("%s: no %s frame in the capture", wire, k)
			}
		}
	}
	names := make([]string, 0, len(seeds))
	for n := range seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		file := filepath.Join(seedDir, n)
		if *updateSeeds {
			if err := os.WriteFile(file, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seeds[n])), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := readSeed(file)
		switch {
		case err != nil:
			t.Errorf("FuzzDecode's corpus has no frame of kind %s, which the lab showed (%v): write it with -update-seeds", n, err)
		case "lab-"+wireOf(n)+"-"+kind(data) != n:
			t.Errorf("%s holds a %s frame", file, kind(data))
		}
	}
}

func wireOf(name string) string {
	w, _, _ := strings.Cut(strings.TrimPrefix(name, "lab-"), "-")
	return w
}

// readSeed reads a corpus file of one []byte value.
func readSeed(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
	if !ok || !strings.HasSuffix(v, ")") {
		return nil, fmt.Errorf("not a corpus file of one []byte")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
	return []byte(s), err
}

var protoNames = map[byte]string{1: "icmp", 6: "tcp", 17: "udp"}

// kind names an IPv4 packet by its protocol and, read at fixed offsets,
// its ICMP type (with what an ICMP error quotes) or TCP flags.
func kind(b []byte) string {
	if len(b) < 20 {
		return "short"
	}
	ihl := int(b[0]&0x0f) * 4
	p := protoNames[b[9]]
	if p == "" || len(b) < ihl+8 {
		return "other"
	}
	t := b[ihl:]
	switch p {
	case "icmp":
		switch t[0] {
		case 0:
			return "icmp-echo-reply"
		case 8:
			return "icmp-echo-request"
		case 3, 11:
			name := "icmp-unreachable-" + strconv.Itoa(int(t[1]))
			if t[0] == 11 {
				name = "icmp-time-exceeded"
			}
			if len(t) >= 8+20 && protoNames[t[8+9]] != "" {
				return name + "-quoting-" + protoNames[t[8+9]]
			}
			return name
		}
		return "icmp-type-" + strconv.Itoa(int(t[0]))
	case "tcp":
		if len(t) < 14 {
			return "tcp-short"
		}
		var fl []string
		for _, f := range []struct {
			bit  byte
			name string
		}{{0x02, "syn"}, {0x04, "rst"}, {0x01, "fin"}, {0x08, "psh"}, {0x10, "ack"}} {
			if t[13]&f.bit != 0 {
				fl = append(fl, f.name)
			}
		}
		return "tcp-" + strings.Join(fl, "-")
	}
	return p
}

// decodedAsBytes checks capture.Decode's reading of b against the bytes
// themselves: the IPv4 header, the transport's identifiers, and an ICMP
// error's quoted header and first 8 bytes.
func decodedAsBytes(b []byte) error {
	c, err := capture.Decode(b)
	if err != nil {
		return err
	}
	be := binary.BigEndian
	ihl := int(b[0]&0x0f) * 4
	src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	if c.IP.Src != src || c.IP.Dst != dst || c.IP.ID != int(be.Uint16(b[4:])) || c.IP.TTL != int(b[8]) || c.IP.Proto != int(b[9]) || c.IP.TotLen != int(be.Uint16(b[2:])) {
		return fmt.Errorf("IP header read as %+v", c.IP)
	}
	t := b[ihl:]
	switch {
	case c.ICMP != nil:
		if c.ICMP.Type != int(t[0]) || c.ICMP.Code != int(t[1]) {
			return fmt.Errorf("ICMP read as %+v", *c.ICMP)
		}
		if t[0] == 0 || t[0] == 8 {
			if c.ICMP.ID != int(be.Uint16(t[4:])) || c.ICMP.Seq != int(be.Uint16(t[6:])) {
				return fmt.Errorf("echo read as %+v", *c.ICMP)
			}
		}
		if t[0] == 3 || t[0] == 11 {
			q := t[8:]
			qihl := int(q[0]&0x0f) * 4
			switch {
			case c.Quoted == nil:
				return fmt.Errorf("ICMP error without its quote")
			case c.Quoted.IP.ID != int(be.Uint16(q[4:])) || c.Quoted.IP.Proto != int(q[9]) || c.Quoted.IP.Dst != netip.AddrFrom4([4]byte(q[16:20])):
				return fmt.Errorf("quoted header read as %+v", c.Quoted.IP)
			case c.Quoted.TCP != nil && (c.Quoted.TCP.SrcPort != int(be.Uint16(q[qihl:])) || c.Quoted.TCP.DstPort != int(be.Uint16(q[qihl+2:])) || c.Quoted.TCP.Seq != be.Uint32(q[qihl+4:])):
				return fmt.Errorf("quoted TCP read as %+v", *c.Quoted.TCP)
			case c.Quoted.UDP != nil && (c.Quoted.UDP.SrcPort != int(be.Uint16(q[qihl:])) || c.Quoted.UDP.DstPort != int(be.Uint16(q[qihl+2:]))):
				return fmt.Errorf("quoted UDP read as %+v", *c.Quoted.UDP)
			case c.Quoted.ICMP != nil && (c.Quoted.ICMP.ID != int(be.Uint16(q[qihl+4:])) || c.Quoted.ICMP.Seq != int(be.Uint16(q[qihl+6:]))):
				return fmt.Errorf("quoted ICMP read as %+v", *c.Quoted.ICMP)
			}
		}
	case c.TCP != nil:
		if c.TCP.SrcPort != int(be.Uint16(t)) || c.TCP.DstPort != int(be.Uint16(t[2:])) || c.TCP.Seq != be.Uint32(t[4:]) || c.TCP.Ack != be.Uint32(t[8:]) || c.TCP.Flags != int(t[13]&0x3f) {
			return fmt.Errorf("TCP read as %+v", *c.TCP)
		}
	case c.UDP != nil:
		if c.UDP.SrcPort != int(be.Uint16(t)) || c.UDP.DstPort != int(be.Uint16(t[2:])) {
			return fmt.Errorf("UDP read as %+v", *c.UDP)
		}
	default:
		return fmt.Errorf("no transport read")
	}
	return nil
}
