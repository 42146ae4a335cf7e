package core

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// icmpChecksum is RFC 792's checksum of an echo request with p's id,
// sequence number and payload, computed here from the bytes.
func icmpChecksum(p packet.Probe) uint16 {
	b := []byte{8, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(p.ICMPID))
	b = binary.BigEndian.AppendUint16(b, uint16(p.ICMPSeq))
	b = append(b, p.Payload...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// TestEchoFlowHeldConstant: a target's echo requests keep the fields
// routers balance ICMP by (id and checksum) over every sequence number and
// in every process (each with its own tag and counters), and differ
// between two targets; the payload is data_size bytes with the tag first,
// 6 bytes at data_size 0, and data_size at its maximum.
func TestEchoFlowHeldConstant(t *testing.T) {
	for _, size := range []int{0, 1, 5, 6, 7, 56, config.MaxDataSize} {
		s := config.DefaultSettings()
		s.DataSize = size
		tg := &target{s: s, destination: destination{ip: netip.MustParseAddr("198.18.56.1"), route: route{src: netip.MustParseAddr("198.18.48.1")}}}
		if _, err := reserveFor([]*target{tg}, logger.New(&strings.Builder{}, false), &portWarnings{}); err != nil {
			t.Fatal(err)
		}
		id, sum := -1, -1
		for proc := range 3 {
			ids := newIdentity()
			if proc == 2 {
				ids.tag, ids.icmpSeq = 0xffffffff, 0xfff0 // sums that carry, a sequence that wraps
			}
			for range 40 {
				p := tg.nextProbe(ids)
				if want := max(size, 6); len(p.Payload) != want {
					t.Fatalf("data_size %d: payload of %d bytes, want %d", size, len(p.Payload), want)
				}
				if binary.BigEndian.Uint32(p.Payload) != ids.tag {
					t.Fatalf("data_size %d: payload %x does not begin with the tag %08x", size, p.Payload[:4], ids.tag)
				}
				if strings.Trim(string(p.Payload[6:]), "X") != "" {
					t.Fatalf("data_size %d: payload after the plugin's 6 bytes %q, want X", size, p.Payload[6:])
				}
				c := int(icmpChecksum(p))
				if id < 0 {
					id, sum = p.ICMPID, c
				}
				if p.ICMPID != id || c != sum {
					t.Fatalf("data_size %d, process %d, seq %d: id %d checksum %#04x; the first packet had id %d checksum %#04x", size, proc, p.ICMPSeq, p.ICMPID, c, id, sum)
				}
			}
		}
	}
	s := config.DefaultSettings()
	if a, b := icmpFlowID(netip.MustParseAddr("198.18.56.1"), s), icmpFlowID(netip.MustParseAddr("198.18.56.2"), s); a == b {
		t.Errorf("two targets share echo id %d", a)
	}
}

// TestFlowPortStable: a TCP target's flow has the same source port in
// every session, which its path probes share; when another process holds
// that port it takes the next free one and says so once.
func TestFlowPortStable(t *testing.T) {
	s := config.DefaultSettings()
	s.Protocol, s.Port, s.Path = config.TCP, 443, true
	// A target whose flow's port and the next two are free here.
	var addr netip.Addr
	for a := netip.MustParseAddr("192.0.2.7"); !addr.IsValid(); a = a.Next() {
		free := true
		for i := range 3 {
			fd, err := bindPort(syscall.SOCK_STREAM, wantedPort(a, s)+i)
			if err != nil {
				free = false
				break
			}
			syscall.Close(fd)
		}
		if free {
			addr = a
		}
	}
	newTarget := func() *target {
		tg := &target{name: addr.String(), s: s, destination: destination{ip: addr}}
		tg.addHops(3)
		for _, h := range tg.hops {
			h.destination = tg.destination
		}
		return tg
	}
	var logged strings.Builder
	log := logger.New(&logged, false)
	warn := &portWarnings{}
	session := func() int {
		tg := newTarget()
		ports, err := reserveFor(append([]*target{tg}, tg.hops...), log, warn)
		if err != nil {
			t.Fatal(err)
		}
		defer ports.release()
		for _, h := range tg.hops {
			if h.port != tg.port {
				t.Errorf("TTL %d: source port %d, its target's %d", h.s.TTL, h.port, tg.port)
			}
		}
		return tg.port
	}
	want := wantedPort(addr, s)
	if p := session(); p != want {
		t.Fatalf("source port %d, want the flow's %d", p, want)
	}
	if p := session(); p != want {
		t.Fatalf("second session: source port %d, want the flow's %d again", p, want)
	}
	// Another process holds it (and the next port too).
	for _, port := range []int{want, want + 1} {
		fd, err := bindPort(syscall.SOCK_STREAM, port)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
	}
	for range 2 {
		if p := session(); p != want+2 {
			t.Errorf("with %d and %d taken: source port %d, want %d", want, want+1, p, want+2)
		}
	}
	if n := strings.Count(logged.String(), "W! "); n != 1 || !strings.Contains(logged.String(), "is taken by another process") {
		t.Errorf("log %q: want one W! that the port is taken", logged.String())
	}
}
