package core

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// halfOpen is a fake network whose target, 3 hops and rtt away, keeps
// state per five-tuple as a host does: a SYN to its open port leaves a
// half-open connection from its arrival until our kernel's RST (sent when
// the SYN-ACK arrives) reaches it, an rtt later, and a SYN that arrives
// meanwhile gets no SYN-ACK (Linux answers a bare ACK of the first, at most
// one per 500 ms); a UDP service answers every datagram, those with an odd
// IP id after 30 ms and the others after 10 ms, so that its replies come
// back out of order when two datagrams of a flow are at the target at
// once. Routers at hops 1 and 2 answer time exceeded.
type halfOpen struct {
	rtt time.Duration

	mu   sync.Mutex
	busy map[packet.Key]time.Time
	// spoilt counts the SYNs that met a half-open connection, by TTL.
	spoilt map[int]int
}

func (n *halfOpen) answer(p *packet.Probe) []reply {
	if p.TTL < 3 {
		return []reply{{time.Duration(p.TTL) * time.Millisecond, icmpError(p, routerAt(p.TTL), packet.ICMPTimeExceeded, 0)}}
	}
	if p.Proto == packet.ProtoUDP {
		c := &packet.Captured{IP: packet.IP{Src: p.Dst, Dst: p.Src, TTL: 64, Proto: packet.ProtoUDP},
			UDP: &packet.UDP{SrcPort: p.DstPort, DstPort: p.SrcPort}}
		d := 10 * time.Millisecond
		if p.IPID%2 == 1 {
			d = 30 * time.Millisecond
		}
		return []reply{{d, c}}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	arrives := time.Now().Add(n.rtt / 2)
	k := p.Key()
	if arrives.Before(n.busy[k]) {
		n.spoilt[p.TTL]++
		return nil
	}
	n.busy[k] = arrives.Add(n.rtt)
	return []reply{{n.rtt, targetReply(p)}}
}

// TestSessionOneFlowPerTarget: a TCP target with an open port 20 ms away,
// and a UDP target whose service answers in 10 or 30 ms, with path probes:
// every packet
// of a target, path probes included, takes one flow (one source port),
// none of them meets another at the target (but path probes beyond its hop
// in the first sweep, which are not measured), so every hop and the target
// answer every packet, and each UDP reply is matched to its own datagram
// (every RTT exactly the network's delay of it).
func TestSessionOneFlowPerTarget(t *testing.T) {
	for _, proto := range []config.Protocol{config.TCP, config.UDP} {
		for _, mode := range modes {
			t.Run(string(proto)+"/"+string(mode), func(t *testing.T) {
				hn := &halfOpen{rtt: 20 * time.Millisecond, busy: map[packet.Key]time.Time{}, spoilt: map[int]int{}}
				net := newFakeNet(0)
				net.setAnswer(hn.answer)
				s := fakeSettings()
				s.Protocol, s.Port, s.Path, s.MaxHops = proto, 443, true, 8
				h := newHarness(t, mode, net, []string{"127.0.0.1"}, s)
				for i := range 2 {
					rd := h.next(1, 500*time.Millisecond)
					r := rd.Results[0]
					p := r.Path
					if r.Code != probe.OK || p == nil || r.Transmitted == 0 || r.Received != r.Transmitted {
						t.Fatalf("report %d: %+v", i+1, r)
					}
					exact := func(rtt *probe.RTT) bool {
						for _, ms := range rtt.Samples {
							if (proto == config.TCP && ms != 20) || (proto == config.UDP && ms != 10 && ms != 30) {
								return false
							}
						}
						return len(rtt.Samples) > 0
					}
					if !exact(r.RTT) {
						t.Errorf("report %d: target RTTs %v ms, want each the network's delay", i+1, r.RTT.Samples)
					}
					if !p.Reached || p.HopCount != 3 || len(p.Hops) != 3 {
						t.Fatalf("report %d: path %+v, want the target reached at hop 3", i+1, p)
					}
					for _, hop := range p.Hops {
						if hop.Transmitted == 0 || hop.Received != hop.Transmitted {
							t.Errorf("report %d: hop %d (%s): %d of %d answered", i+1, hop.Hop, hop.IP, hop.Received, hop.Transmitted)
						}
						if hop.Hop == 3 && !exact(hop.RTT) {
							t.Errorf("report %d: the target's hop: RTTs %v ms, want each the network's delay", i+1, hop.RTT.Samples)
						}
					}
				}
				ports := map[int]bool{}
				for _, sp := range net.packets() {
					ports[sp.probe.SrcPort] = true
				}
				if len(ports) != 1 {
					t.Errorf("source ports %v, want one: the target's flow", ports)
				}
				// Beyond hop 3 the first sweep's path probes may meet one:
				// they are not measured.
				if n := hn.spoilt[3] + hn.spoilt[64]; n != 0 {
					t.Errorf("%d SYNs of the target or its hop met a half-open connection of their flow at the target (by TTL: %v)", n, hn.spoilt)
				}
			})
		}
	}
}

// TestGateLetsLowerTTLsGo: a TCP path probe does not wait for one of a
// lower TTL of its flow, but for one of a higher TTL and for the target's own;
// the target's own waits for any; a router's answer, the target's, or the
// packet's expiry lets the next go, and a target that answered RST, or
// nothing, is not waited for any more.
func TestGateLetsLowerTTLsGo(t *testing.T) {
	s := config.DefaultSettings()
	s.Protocol, s.Port, s.Path, s.MaxHops = config.TCP, 443, true, 4
	own := &target{s: s, destination: destination{ip: netip.MustParseAddr("192.0.2.9"), route: route{src: netip.MustParseAddr("192.0.2.1")}}}
	own.flows = []flow{{port: 20000}}
	own.addHops(4)
	for _, h := range own.hops {
		h.destination, h.flows = own.destination, own.flows
	}
	gs := gates{}
	fl := newFlights()
	ids := newIdentity()
	send := func(t *target) *flight {
		f := fl.prepare(t, t.nextProbe(ids), time.Now())
		gs.sent(f)
		return f
	}
	router := packet.Answer{Kind: packet.ICMPErrorOf, From: routerAt(1), ICMPType: packet.ICMPTimeExceeded}
	synAck := packet.Answer{Kind: packet.TCPReply, From: own.ip, TCPFlags: packet.FlagSYN | packet.FlagACK}
	rst := packet.Answer{Kind: packet.TCPReply, From: own.ip, TCPFlags: packet.FlagRST | packet.FlagACK}

	first := send(own)
	for _, h := range own.hops {
		if !gs.holds(h) {
			t.Errorf("TTL %d went while the target's own first packet may be at the target", h.s.TTL)
		}
	}
	if w := gs.answered(first, synAck, time.Now()); len(w) != 4 {
		t.Errorf("the target's SYN-ACK released %d targets, want the 4 path probes", len(w))
	}
	ttl2 := send(own.hops[1])
	if gs.holds(own.hops[2]) || gs.holds(own.hops[3]) {
		t.Error("a path probe waited for one of a lower TTL")
	}
	if !gs.holds(own.hops[0]) || !gs.holds(own) {
		t.Error("TTL 1 or the target's own went while TTL 2 may be at the target")
	}
	gs.answered(ttl2, router, time.Now())
	if gs.holds(own) {
		t.Error("the target's own waited for a path probe a router answered")
	}
	second := send(own)
	if !gs.holds(own.hops[3]) {
		t.Error("TTL 4 went while the target's own may be at the target")
	}
	gs.expired(second)
	if gs.holds(own.hops[3]) {
		t.Error("TTL 4 waited for an expired packet")
	}
	third := send(own)
	gs.answered(third, rst, time.Now())
	send(own)
	if gs.holds(own.hops[3]) {
		t.Error("a target that answered RST keeps no state, but TTL 4 waited")
	}
	// Known hop count: TTLs below it never reach the target.
	own.hopCount = 3
	send(own.hops[2])
	if gs.holds(own.hops[0]) || gs.holds(own.hops[1]) {
		t.Error("a path probe below the hop count waited")
	}
}
