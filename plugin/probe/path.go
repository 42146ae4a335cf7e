package probe

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// Path is what path probing (path = true) measured of one target's route in
// one round or window: one Hop per hop and responder, by hop number, over
// every flow the path probes took (flows).
type Path struct {
	Hops []Hop
	// HopCount is where the path ends: the lowest TTL the target itself
	// answered at, or a router's error other than time exceeded (an
	// unreachable: nothing goes further). When neither came, the highest
	// TTL any router answered at; 0 when nothing answered at all. Over
	// several flows, the highest of theirs.
	HopCount int
	// Ended: the target or a router's unreachable answered at HopCount.
	// Reached: the target itself did. Over several flows: any of them.
	Ended, Reached bool
	// ID identifies the responders of hops 1..HopCount (and whether the
	// target was reached): the same path gives the same ID in every
	// window and every process, a changed path a different one. Over
	// several flows it identifies the set of their paths.
	ID string
	// Sent counts every path probe sent, those beyond HopCount included
	// (the first sweep of a path tries TTLs past the target until its
	// answer comes back).
	Sent int
	// Flows are each flow's own path, by flow number, when the probes took
	// more than one flow (flows > 1); nil with one.
	Flows []FlowPath
	// Distinct counts the different paths among Flows (1 with one flow).
	Distinct int
}

// FlowPath is the path one flow of a target's path probes took.
type FlowPath struct {
	Flow           int
	HopCount       int
	Ended, Reached bool
	ID             string
}

// Hop is one responder at one hop, or the hop's silence.
type Hop struct {
	Hop int
	// IP is the responder: the router whose ICMP error (time exceeded,
	// normally) answered packets sent with TTL Hop, or the target. Empty:
	// the packets of flows no responder answered at this hop.
	IP string
	// Transmitted counts the packets of this hop that are the
	// responder's: those it answered, and the lost ones of the same flow
	// it answered nearest in time (a flow takes one branch, so its loss
	// is that branch's). Received counts those it answered, Loss is the
	// share lost.
	Transmitted, Received int
	Loss                  float64
	RTT                   *RTT   // this responder's answers; nil when none
	PortState             string // tcp and udp, when IP is the target
	// Flows counts the flows whose packets of this hop are the
	// responder's.
	Flows int
}

// shot is one path probe sent: its flow, when it went, and its first
// answer within the timeout (from invalid: lost).
type shot struct {
	flow int
	sent time.Time
	from netip.Addr
	a    packet.Answer
	rtt  float64
}

// MeasurePath measures the path of target from the records of its path
// probes, byTTL[h-1] holding the packets sent with TTL h. The rules:
//   - a packet is answered by the sender of its first answer within timeout:
//     a router's ICMP error quoting it (time exceeded, or an unreachable
//     from where the path ends; PathAnswer) or the target's reply,
//     whatever kind;
//   - later answers (duplicates) and answers after the timeout count for
//     nothing: a packet answered late is lost;
//   - each flow's path ends where its own answers say; its packets past
//     that are not reported (past the highest hop count of all flows, for
//     a flow that did not end);
//   - a lost packet is the responder's that answered its flow at its hop
//     nearest in time; when none did, it is the hop's silence (a line
//     without IP);
//   - hops are reported from 1 to HopCount; a hop nobody answered gets one
//     line without IP.
//
// The engines stop sending TTLs beyond an answer that EndsPath.
func MeasurePath(byTTL [][]Record, target netip.Addr, s config.Settings) *Path {
	flows := 1
	shots := make([][]shot, len(byTTL))
	p := &Path{}
	for i, recs := range byTTL {
		for rec := range sent(recs) {
			p.Sent++
			flows = max(flows, rec.Flow+1)
			sh := shot{flow: rec.Flow, sent: rec.Sent}
			for _, a := range rec.Answers {
				if !PathAnswer(a.Answer, target) {
					continue // a redirect or a source quench says nothing of the hop
				}
				if a.At.Sub(rec.Sent) <= s.Timeout {
					sh.from, sh.a, sh.rtt = a.From, a.Answer, ms(max(a.At.Sub(rec.Sent), 0))
				}
				break // a first answer that came late: lost
			}
			shots[i] = append(shots[i], sh)
		}
	}
	fps := make([]FlowPath, flows)
	for n := range fps {
		fps[n] = flowPath(shots, n, target)
		p.HopCount = max(p.HopCount, fps[n].HopCount)
		p.Ended = p.Ended || fps[n].Ended
		p.Reached = p.Reached || fps[n].Reached
	}
	for h := 1; h <= p.HopCount; h++ {
		p.Hops = append(p.Hops, hopLines(h, shots[h-1], fps, p.HopCount, target, s)...)
	}
	ids := map[string]bool{}
	for _, fp := range fps {
		ids[fp.ID] = true
	}
	p.Distinct = len(ids)
	if flows == 1 {
		p.ID = fps[0].ID
		return p
	}
	p.Flows = fps
	p.ID = hashID(strings.Join(slices.Sorted(maps.Keys(ids)), ","))
	return p
}

// flowPath is the path flow n of shots took: where it ends, and its id.
func flowPath(shots [][]shot, n int, target netip.Addr) FlowPath {
	fp := FlowPath{Flow: n}
	for i, hop := range shots {
		answered := false
		for _, sh := range hop {
			if sh.flow != n || !sh.from.IsValid() {
				continue
			}
			answered = true
			if !fp.Ended && EndsPath(sh.a, target) {
				fp.Ended, fp.HopCount = true, i+1
			}
			fp.Reached = fp.Reached || (sh.from == target && fp.HopCount == i+1)
		}
		if !fp.Ended && answered {
			fp.HopCount = i + 1
		}
	}
	var id strings.Builder
	for i := range fp.HopCount {
		fmt.Fprintf(&id, "%d:", i+1)
		var ips []netip.Addr
		for _, sh := range shots[i] {
			if sh.flow == n && sh.from.IsValid() && !slices.Contains(ips, sh.from) {
				ips = append(ips, sh.from)
			}
		}
		if len(ips) == 0 {
			id.WriteString("*;")
			continue
		}
		slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
		for _, a := range ips {
			id.WriteString(a.String() + ",")
		}
		id.WriteString(";")
	}
	id.WriteString(strconv.FormatBool(fp.Reached) + strconv.FormatBool(fp.Ended))
	fp.ID = hashID(id.String())
	return fp
}

func hashID(s string) string {
	f := fnv.New64a()
	f.Write([]byte(s))
	return fmt.Sprintf("%016x", f.Sum64())
}

// hopLines are the lines of hop h from its shots: one per responder, in
// address order, and one without IP for the packets of flows nothing
// answered at h. A flow's packets count up to its own hop count when its
// path ended, else up to the path's (upTo).
func hopLines(h int, shots []shot, fps []FlowPath, upTo int, target netip.Addr, s config.Settings) []Hop {
	type line struct {
		tx, rx int
		rtts   []float64
		ports  string
		flows  map[int]bool
	}
	by := map[netip.Addr]*line{}
	get := func(a netip.Addr, flow int) *line {
		l := by[a]
		if l == nil {
			l = &line{flows: map[int]bool{}}
			by[a] = l
		}
		l.flows[flow] = true
		return l
	}
	for _, sh := range shots {
		if fp := fps[sh.flow]; h > fp.HopCount && (fp.Ended || h > upTo) {
			continue // past where this flow's path ends
		}
		from := sh.from
		if !from.IsValid() {
			from = nearest(shots, sh)
		}
		l := get(from, sh.flow)
		l.tx++
		if sh.from.IsValid() {
			l.rx++
			l.rtts = append(l.rtts, sh.rtt)
			if sh.from == target {
				l.ports = portState(l.ports, sh.a, s.Protocol)
			}
		}
	}
	addrs := slices.SortedFunc(maps.Keys(by), func(a, b netip.Addr) int { return a.Compare(b) })
	if len(addrs) > 0 && !addrs[0].IsValid() {
		addrs = append(addrs[1:], addrs[0]) // the silence last
	}
	var out []Hop
	for _, a := range addrs {
		l := by[a]
		hp := Hop{Hop: h, Transmitted: l.tx, Received: l.rx, Flows: len(l.flows)}
		if l.tx > 0 {
			hp.Loss = 100 * float64(l.tx-l.rx) / float64(l.tx)
		}
		if a.IsValid() {
			hp.IP, hp.RTT = a.String(), rttStats(l.rtts, nil)
			if a == target && s.Protocol != config.ICMP {
				hp.PortState = cmp.Or(l.ports, PortNone)
			}
		}
		out = append(out, hp)
	}
	return out
}

// nearest is the responder that answered lost's flow at its hop nearest
// in time to lost; invalid when none did.
func nearest(shots []shot, lost shot) netip.Addr {
	var best netip.Addr
	var gap time.Duration
	for _, sh := range shots {
		if sh.flow != lost.flow || !sh.from.IsValid() {
			continue
		}
		d := sh.sent.Sub(lost.sent)
		if d < 0 {
			d = -d
		}
		if !best.IsValid() || d < gap {
			best, gap = sh.from, d
		}
	}
	return best
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
