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
	// net is the fake network: a packet's times count from when it went
	// (net.sending), as its replies' do, not from when it is answered.
	net *fakeNet

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
	arrives := n.net.sending.Add(n.rtt / 2)
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
				net := newFakeNet(0)
				hn := &halfOpen{rtt: 20 * time.Millisecond, net: net, busy: map[packet.Key]time.Time{}, spoilt: map[int]int{}}
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
	own := &target{s: &s, destination: destination{ip: netip.MustParseAddr("192.0.2.9"), route: route{src: netip.MustParseAddr("192.0.2.1")}}}
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

// TestSessionHostileAnswers: before each genuine answer the network
// delivers forgeries an attacker off the path could send, each quoting or
// answering the probe nearly right: a time exceeded from another router
// quoting the next IP id, one quoting the right IP id from another source
// address, for TCP one quoting another sequence number and a SYN-ACK of
// it (a guess: off the path the sequence number is not known), for ICMP an echo reply and a time exceeded carrying another
// process's tag. None of them answers a probe: the path and the target read
// exactly as without them (every hop answered by its router in its time),
// and the gates still let every packet go.
func TestSessionHostileAnswers(t *testing.T) {
	for _, proto := range []config.Protocol{config.ICMP, config.TCP} {
		for _, mode := range modes {
			t.Run(string(proto)+"/"+string(mode), func(t *testing.T) {
				forger := netip.MustParseAddr("192.0.2.66")
				net := newFakeNet(0)
				net.setAnswer(func(p *packet.Probe) []reply {
					var forged []*packet.Captured
					next := *p
					next.IPID = (p.IPID + 1) % 65536
					forged = append(forged, icmpError(&next, forger, packet.ICMPTimeExceeded, 0))
					other := *p
					other.Src = netip.MustParseAddr("127.0.0.99")
					if q := icmpError(&other, forger, packet.ICMPTimeExceeded, 0); true {
						q.IP.Dst = p.Src
						forged = append(forged, q)
					}
					switch proto {
					case config.TCP:
						seq := *p
						seq.TCPSeq += 100000 // a guess, as off the path it must be
						forged = append(forged, icmpError(&seq, forger, packet.ICMPTimeExceeded, 0))
						forged = append(forged, targetReply(&seq))
					case config.ICMP:
						theirs := *p
						theirs.Payload = append([]byte{0xff, 0xff, 0xff, 0xff}, p.Payload[4:]...)
						forged = append(forged, targetReply(&theirs))
						q := icmpError(&theirs, forger, packet.ICMPTimeExceeded, 0)
						q.Quoted.Data = theirs.Payload
						forged = append(forged, q)
					}
					var out []reply
					for _, c := range forged {
						out = append(out, reply{500 * time.Microsecond, c})
					}
					if p.TTL < 3 {
						return append(out, reply{time.Duration(p.TTL) * time.Millisecond, icmpError(p, routerAt(p.TTL), packet.ICMPTimeExceeded, 0)})
					}
					return append(out, reply{3 * time.Millisecond, targetReply(p)})
				})
				s := fakeSettings()
				s.Protocol, s.Path, s.MaxHops = proto, true, 6
				if proto == config.TCP {
					s.Port = 443
				}
				h := newHarness(t, mode, net, []string{"127.0.0.1"}, s)
				h.next(1, 300*time.Millisecond)
				rd := h.next(1, 300*time.Millisecond)
				r := rd.Results[0]
				p := r.Path
				if r.Code != probe.OK || p == nil || r.Transmitted == 0 || r.Received != r.Transmitted || r.ICMPErrors != 0 || r.Duplicates != 0 {
					t.Fatalf("%+v", r)
				}
				if r.RTT.Min != 3 || r.RTT.Max != 3 {
					t.Errorf("target RTT %+v, want every sample 3 ms", r.RTT)
				}
				if !p.Reached || p.HopCount != 3 || len(p.Hops) != 3 {
					t.Fatalf("path %+v, want the target reached at hop 3, one responder per hop", p)
				}
				for k, hop := range p.Hops {
					want := routerAt(k + 1).String()
					if k == 2 {
						want = "127.0.0.1"
					}
					if hop.IP != want || hop.Transmitted == 0 || hop.Received != hop.Transmitted || hop.RTT.Min != float64(k+1) || hop.RTT.Max != float64(k+1) {
						t.Errorf("hop %+v (RTT %+v), want %s answering every packet in %d ms", hop, hop.RTT, want, k+1)
					}
				}
				want := 2 // a round's engine each (two reports)
				if mode == config.ModeContinuous {
					want = 1 // none killed for a flood
				}
				if starts, _ := net.counts(); starts != want {
					t.Errorf("%d engine starts, want %d", starts, want)
				}
			})
		}
	}
}
