package core

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
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
		tg := &target{s: &s, destination: destination{ip: netip.MustParseAddr("198.18.56.1"), route: route{src: netip.MustParseAddr("198.18.48.1")}}}
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
	if a, b := icmpFlowID(netip.MustParseAddr("198.18.56.1"), s, 0), icmpFlowID(netip.MustParseAddr("198.18.56.2"), s, 0); a == b {
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
			fd, err := bindPort(syscall.SOCK_STREAM, wantedPort(a, s, 0)+i)
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
		tg := &target{name: addr.String(), s: &s, destination: destination{ip: addr}}
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
			if h.flows[0].port != tg.flows[0].port {
				t.Errorf("TTL %d: source port %d, its target's %d", h.s.TTL, h.flows[0].port, tg.flows[0].port)
			}
		}
		return tg.flows[0].port
	}
	want := wantedPort(addr, s, 0)
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

// TestSessionFlowsFindBranches: a path that balances load over two branches
// by source port (an even port takes the first, routers 192.0.2.2 and
// .3 at hops 2 and 3; an odd one the second, .12 and .13): with flows = 4
// the path probes cycle through 4 flows, the target's own packets keep
// flow 0, and the path shows both branches, each hop's line with the flows
// that took it, every packet answered, and each flow's own path.
func TestSessionFlowsFindBranches(t *testing.T) {
	branchRouter := func(p *packet.Probe) netip.Addr {
		if p.TTL == 1 {
			return routerAt(1)
		}
		return routerAt(p.TTL + 10*(p.SrcPort%2))
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			net := newFakeNet(0)
			net.setAnswer(func(p *packet.Probe) []reply {
				if p.TTL < 4 {
					return []reply{{time.Duration(p.TTL) * time.Millisecond, icmpError(p, branchRouter(p), packet.ICMPTimeExceeded, 0)}}
				}
				return []reply{{4 * time.Millisecond, targetReply(p)}}
			})
			s := fakeSettings()
			s.Protocol, s.Port, s.Path, s.MaxHops, s.Flows = config.TCP, 81, true, 6, 4
			h := newHarness(t, mode, net, []string{"127.0.0.1"}, s)
			h.next(1, 300*time.Millisecond) // the first sweep
			rd := h.next(1, 300*time.Millisecond)
			r := rd.Results[0]
			p := r.Path
			if r.Code != probe.OK || p == nil || r.Received != r.Transmitted || p.HopCount != 4 || !p.Reached || len(p.Flows) != 4 {
				t.Fatalf("%+v: path %+v, want the target reached at hop 4 over 4 flows", r, p)
			}
			ports := map[int]int{} // flow: its source port
			own := map[int]bool{}
			for _, sp := range net.packets() {
				if sp.probe.TTL == 64 {
					own[sp.probe.SrcPort] = true
				}
			}
			if len(own) != 1 {
				t.Errorf("the target's own packets took source ports %v, want one", own)
			}
			even := 0
			for n := range 4 {
				ports[n] = wantedPort(netip.MustParseAddr("127.0.0.1"), s, n)
				if ports[n]%2 == 0 {
					even++
				}
			}
			if even == 0 || even == 4 {
				t.Fatalf("the 4 flows' ports %v all take one branch: this test needs both", ports)
			}
			for _, hop := range p.Hops {
				if hop.Transmitted == 0 || hop.Received != hop.Transmitted || hop.IP == "" {
					t.Errorf("hop %+v: want every packet answered", hop)
				}
				wantFlows := 4
				switch hop.IP {
				case routerAt(2).String(), routerAt(3).String():
					wantFlows = even
				case routerAt(12).String(), routerAt(13).String():
					wantFlows = 4 - even
				}
				if hop.Flows != wantFlows {
					t.Errorf("hop %d %s: %d flows, want %d", hop.Hop, hop.IP, hop.Flows, wantFlows)
				}
			}
			if len(p.Hops) != 6 || p.Distinct != 2 {
				t.Errorf("%d hop lines, %d distinct paths; want 6 (hops 2 and 3 on two branches), 2", len(p.Hops), p.Distinct)
			}
		})
	}
}
