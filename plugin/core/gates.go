package core

import (
	"slices"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// A target's packets all take one flow (one five-tuple: ports.go), path
// probes included, so that routers balancing load send them down one path.
// Two packets of a flow that reach the target close together can then
// spoil each other's answer:
//   - TCP: a target that answers a SYN with SYN-ACK holds a half-open
//     connection until our kernel's RST reaches it, and meanwhile answers
//     another SYN of the five-tuple with a bare ACK of the first (Linux,
//     rate-limited), or not at all: the second packet would be lost.
//   - UDP: a service's reply tells its packet only by its ports.
//
// A gate per flow keeps one such packet at the target at a time: a packet
// that may reach the target waits while another one may be there, until
// that one is answered (the target's answer; for TCP, any packet of the
// flow sent before the target's SYN-ACK or RST arrived left the target no
// state), a router answers it (it did not reach the target), or it
// expires. A TCP path probe never waits for one of a lower TTL: the lower
// one reaches the target first and has its answer, and a path probe beyond
// the target's hop is not measured (a UDP one does wait: both would be
// answered, and a reply could be taken for the other's). Only a target
// that answers so is waited for, and the first packet of a session until
// its answer says which: a target that answers RST or port unreachable, or
// nothing, keeps no state, and its packets go as scheduled.

// gateState is what a flow's target was last seen to do.
type gateState int

const (
	gateFirst gateState = iota // not answered yet in this session: wait
	gateOne                    // it keeps state for a packet (SYN-ACK), or answers over UDP: one at a time
	gateFree                   // it answers each packet by itself (RST, port unreachable) or not at all
)

// gate is one flow's.
type gate struct {
	state gateState
	// there are the flow's packets that may be at the target, oldest
	// first.
	there []*flight
	// waiting are targets held back by it.
	waiting []*target
}

// gated reports whether t's flow needs a gate: UDP, and TCP SYN probes
// (a SYN with ACK or RST gets a RST and leaves no state).
func gated(s config.Settings) bool {
	switch s.Protocol {
	case config.UDP:
		return true
	case config.TCP:
		f := packet.TCPFlagBits(s.TCPFlags)
		return f&packet.FlagSYN != 0 && f&(packet.FlagACK|packet.FlagRST) == 0
	}
	return false
}

// mayReach reports whether t's packets may reach its target: the target's
// own, and path probes from the lowest TTL its path may end at (its hop
// count, once found; the previous round's; else every TTL). The hop count
// found so far is only the lowest TTL the target has answered at: in a
// first sweep a higher TTL's answer may come first, and a TTL below it
// still reaches the target until a router answers at it or above.
func (t *target) mayReach() bool {
	h := t.hopOf
	if h == nil {
		return true
	}
	from := h.hopCount
	if from == 0 {
		from = h.knownHops
	}
	return t.s.TTL >= from || (h.hopCount > 0 && t.s.TTL > h.routerTTL)
}

// gates are a session's, by flow.
type gates map[packet.Key]*gate

// holds reports whether t's next packet must wait for its flow's gate.
func (gs gates) holds(t *target) bool {
	if !gated(*t.s) || !t.mayReach() {
		return false
	}
	h := t.flowHeader()
	g := gs[h.Key()]
	if g == nil || g.state == gateFree {
		return false
	}
	for _, f := range g.there {
		if f.p.Proto == packet.ProtoUDP || f.t.hopOf == nil || t.hopOf == nil || f.p.TTL >= t.s.TTL {
			if !slices.Contains(g.waiting, t) {
				g.waiting = append(g.waiting, t)
			}
			return true
		}
	}
	return false
}

// sent notes f, just written to the engine, at its gate.
func (gs gates) sent(f *flight) {
	if !gated(*f.t.s) || !f.t.mayReach() {
		return
	}
	k := f.p.Key()
	g := gs[k]
	if g == nil {
		g = &gate{}
		gs[k] = g
	}
	g.there = append(g.there, f)
}

// answered takes f's first answer a, at at: a router's says f never
// reached the target; the target's says what it does with the flow's
// packets, and (TCP) that every packet sent before it arrived left no
// state there. It returns the targets to release.
func (gs gates) answered(f *flight, a packet.Answer, at time.Time) []*target {
	g := gs[f.p.Key()]
	if g == nil {
		return nil
	}
	if a.From != f.p.Dst {
		return g.leave(f)
	}
	switch {
	case a.Kind == packet.TCPReply && a.TCPFlags&(packet.FlagSYN|packet.FlagACK) == packet.FlagSYN|packet.FlagACK,
		a.Kind == packet.UDPReply:
		g.state = gateOne
	default:
		g.state = gateFree
	}
	if f.p.Proto == packet.ProtoTCP {
		g.there = slices.DeleteFunc(g.there, func(o *flight) bool { return o.given.Before(at) })
	}
	return g.leave(f)
}

// expired takes f past its deadline, or not sent: it is no longer waited
// for. A target that never answered it keeps no state for it.
func (gs gates) expired(f *flight) []*target {
	g := gs[f.p.Key()]
	if g == nil || !slices.Contains(g.there, f) {
		return nil
	}
	if !f.answered && g.state == gateFirst {
		g.state = gateFree
	}
	return g.leave(f)
}

// leave takes f off g and returns g's waiting targets, which go again.
func (g *gate) leave(f *flight) []*target {
	g.there = slices.DeleteFunc(g.there, func(o *flight) bool { return o == f })
	w := g.waiting
	g.waiting = nil
	return w
}
