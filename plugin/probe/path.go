package probe

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// Path is what path probing (path = true) measured of one target's route in
// one round or window: one Hop per hop and responder, by hop number.
type Path struct {
	Hops []Hop
	// HopCount is where the path ends: the lowest TTL the target itself
	// answered at, or a router's error other than time exceeded (an
	// unreachable: nothing goes further). When neither came, the highest
	// TTL any router answered at; 0 when nothing answered at all.
	HopCount int
	// Ended: the target or a router's unreachable answered at HopCount.
	// Reached: the target itself did.
	Ended, Reached bool
	// ID identifies the responders of hops 1..HopCount (and whether the
	// target was reached): the same path gives the same ID in every
	// window and every process, a changed path a different one.
	ID string
	// Sent counts every path probe sent, those beyond HopCount included
	// (the first sweep of a path tries TTLs past the target until its
	// answer comes back).
	Sent int
}

// Hop is one responder at one hop, or the hop's silence.
type Hop struct {
	Hop int
	// IP is the responder: the router whose ICMP error (time exceeded,
	// normally) answered packets sent with TTL Hop, or the target. Empty:
	// no packet of this hop was answered.
	IP string
	// Transmitted counts the hop's packets, Received those this
	// responder answered. Loss is the hop's, the share of its packets no
	// responder answered: which of two ECMP routers lost a packet cannot
	// be known, so every line of a hop carries the same Loss.
	Transmitted, Received int
	Loss                  float64
	RTT                   *RTT   // this responder's answers; nil when none
	PortState             string // tcp and udp, when IP is the target
}

// MeasurePath measures the path of target from the records of its path
// probes, byTTL[h-1] holding the packets sent with TTL h. The rules:
//   - a packet is answered by the sender of its first answer within timeout:
//     a router's ICMP error quoting it (time exceeded, or an unreachable
//     from where the path ends; PathAnswer) or the target's reply,
//     whatever kind;
//   - later answers (duplicates) and answers after the timeout count for
//     nothing: a packet answered late is lost;
//   - hops are reported from 1 to HopCount; a hop nobody answered gets one
//     line without IP.
//
// The engines stop sending TTLs beyond an answer that EndsPath.
func MeasurePath(byTTL [][]Record, target netip.Addr, s config.Settings) *Path {
	type responder struct {
		rtts  []float64
		n     int
		ports string
	}
	type hop struct {
		sent, answered int
		by             map[netip.Addr]*responder
	}
	hops := make([]hop, len(byTTL))
	p := &Path{}
	for i, recs := range byTTL {
		h := &hops[i]
		h.by = map[netip.Addr]*responder{}
		for rec := range sent(recs) {
			h.sent++
			p.Sent++
			for _, a := range rec.Answers {
				if !PathAnswer(a.Answer, target) {
					continue // a redirect or a source quench says nothing of the hop
				}
				if a.At.Sub(rec.Sent) > s.Timeout {
					break // its first answer came late: lost
				}
				h.answered++
				r := h.by[a.From]
				if r == nil {
					r = &responder{}
					h.by[a.From] = r
				}
				r.n++
				r.rtts = append(r.rtts, ms(max(a.At.Sub(rec.Sent), 0)))
				if a.From == target {
					r.ports = portState(r.ports, a.Answer, s.Protocol)
				}
				if !p.Ended && EndsPath(a.Answer, target) {
					p.Ended, p.HopCount = true, i+1
				}
				p.Reached = p.Reached || (a.From == target && p.HopCount == i+1)
				break
			}
		}
		if !p.Ended && len(h.by) > 0 {
			p.HopCount = i + 1
		}
	}
	var id strings.Builder
	for i := range p.HopCount {
		h := hops[i]
		loss := 0.0
		if h.sent > 0 {
			loss = 100 * float64(h.sent-h.answered) / float64(h.sent)
		}
		ips := slices.SortedFunc(func(yield func(netip.Addr) bool) {
			for a := range h.by {
				if !yield(a) {
					return
				}
			}
		}, func(a, b netip.Addr) int { return a.Compare(b) })
		fmt.Fprintf(&id, "%d:", i+1)
		if len(ips) == 0 {
			p.Hops = append(p.Hops, Hop{Hop: i + 1, Transmitted: h.sent, Loss: loss})
			id.WriteString("*;")
			continue
		}
		for _, a := range ips {
			r := h.by[a]
			hp := Hop{Hop: i + 1, IP: a.String(), Transmitted: h.sent, Received: r.n, Loss: loss, RTT: rttStats(r.rtts, nil)}
			if a == target && s.Protocol != config.ICMP {
				hp.PortState = cmp.Or(r.ports, PortNone)
			}
			p.Hops = append(p.Hops, hp)
			id.WriteString(a.String() + ",")
		}
		id.WriteString(";")
	}
	id.WriteString(strconv.FormatBool(p.Reached) + strconv.FormatBool(p.Ended))
	f := fnv.New64a()
	f.Write([]byte(id.String()))
	p.ID = fmt.Sprintf("%016x", f.Sum64())
	return p
}

// PathAnswer reports whether a answers a path probe of target: the
// target's own answer, or a router's time exceeded, unreachable or
// parameter problem. A redirect (a gateway pointing at a better next hop)
// or a source quench comes from a router the packet went on from, so it
// neither answers the probe nor tells its hop.
func PathAnswer(a packet.Answer, target netip.Addr) bool {
	if a.From == target || a.Kind != packet.ICMPErrorOf {
		return true
	}
	switch a.ICMPType {
	case packet.ICMPTimeExceeded, packet.ICMPUnreachable, packet.ICMPParamProblem:
		return true
	}
	return false
}

// EndsPath reports whether answer a to a path probe of target means no
// higher TTL can go further: the target answered, or a router said the
// target is unreachable or the packet wrong (a PathAnswer other than time
// exceeded).
func EndsPath(a packet.Answer, target netip.Addr) bool {
	return PathAnswer(a, target) && (a.From == target || a.Kind != packet.ICMPErrorOf || a.ICMPType != packet.ICMPTimeExceeded)
}
