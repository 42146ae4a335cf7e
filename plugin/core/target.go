package core

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// maxWindow bounds the decided packets a target keeps for its next report
// (22 minutes at the highest rate, 100 packets/s; 36 hours at 1/s), so
// that a front end that stops asking cannot exhaust memory.
const maxWindow = 1 << 17

// target is one probe of the Tcl engine, the same in a round and in
// continuous mode: a configured target of a group, or one TTL of its path
// probes (path = true), which is a target of its own with its target's
// settings but the TTL, so that sending, matching, timing and failures are
// those of any packet. Its parts say what they hold: what to probe, its
// path, where it leaves, how its packets are sent, and what its next
// report measures. What only one mode needs (a round's packets left, a
// continuous target's period) its schedule keeps.
type target struct {
	// What to probe, from the configuration.
	index int // of its job, and of its result in a report (a path probe: its target's)
	name  string
	s     *config.Settings // its group's (a path probe: its own, with its TTL)
	tags  map[string]string
	// keepRecords keeps its decided packets' records (records): a test
	// reads their send times.
	keepRecords bool

	path
	destination
	sending
	nextReport
}

// path is a target's path probes (path = true): hops lists them by TTL,
// hopOf points back from one.
type path struct {
	hops  []*target
	hopOf *target
	// hopCount is where the target's path ends (probe.EndsPath: the
	// lowest TTL the target or a router's unreachable answered at), 0
	// while not known: its path probes of higher TTLs are not sent.
	hopCount int
	// routerTTL is the highest TTL a router answered this session's path
	// probes at (time exceeded): a probe at or below it does not reach the
	// target. 0 while none has, and again whenever hopCount is.
	routerTTL int
	// knownHops is the hop count the previous round found, 0 when none.
	knownHops int
}

// destination is where a target's packets go and leave from: its name's
// address, and the route to it (routeAll).
type destination struct {
	res   probe.Resolution
	ip    netip.Addr
	route route
	// err is why it cannot be probed now: no route, no capture, no
	// source ports, no engine process.
	err error
}

// sending is how a session sends a target's packets: its payload and
// flows (reserveFor), and when its next packet is due.
type sending struct {
	payload []byte
	// flows are what its packets keep unchanged, one per flow: a
	// configured target's own packets take flow 0; its path probes share
	// its flows (flows of them with path = true), the i-th packet of each
	// TTL taking flow i mod flows (nextFlow).
	flows    []flow
	nextFlow int
	due      time.Time
}

// flow is one of a target's flows: what routers balancing load hash.
type flow struct {
	port   int // the TCP or UDP source port
	icmpID int // the ICMP echo id (the checksum follows from it)
}

// flow returns the flow of t's next packet and its number (none before
// reserveFor).
func (t *target) flow() (int, flow) {
	if len(t.flows) == 0 {
		return 0, flow{}
	}
	return t.nextFlow, t.flows[t.nextFlow]
}

// nextReport is what a target's next report measures: its packets decided
// since the previous report (in a round, all of them), in send order.
type nextReport struct {
	// tally measures them as they are decided. Their records are kept
	// only where the report reads more than the tally (records).
	tally probe.Tally
	done  []probe.Record
	// dropped counts decided packets beyond maxWindow, not counted.
	dropped int
	// lostErr is why the engine process failed with packets of the target
	// undecided; lost counts them. They are not decided.
	lostErr error
	lost    int
}

// records reports whether t keeps its decided packets' records as well as
// their tally: a path probe, whose path is measured from them
// (probe.MeasurePath), or a target whose test reads them (keepRecords).
func (t *target) records() bool { return t.hopOf != nil || t.keepRecords }

// decided counts t's packets decided for its next report.
func (t *target) decided() int { return t.tally.Decided }

// beyondPath reports whether t is a path probe past where its target's
// path ends: its packets are not sent while that holds.
func (t *target) beyondPath() bool {
	h := t.hopOf
	return h != nil && h.hopCount > 0 && t.s.TTL > h.hopCount
}

// settles reports whether answer a to one of t's packets decides it: the
// target's reply, or for a path probe any answer of its hop (a router's
// time exceeded is what it asks for; probe.PathAnswer).
func (t *target) settles(a packet.Answer) bool {
	if t.hopOf != nil {
		return probe.PathAnswer(a, t.ip)
	}
	return probe.IsReply(a, t.ip, t.s.Protocol)
}

// keep adds a decided packet, sent to dst, to t's next report. Past
// maxWindow packets the oldest are no longer counted: half of the records,
// all of the tally.
func (t *target) keep(rec probe.Record, dst netip.Addr) {
	if t.tally.Decided >= maxWindow {
		if t.records() {
			half := len(t.done) / 2
			t.dropped += half
			t.done = append(t.done[:0], t.done[half:]...)
			t.tally = probe.Tally{}
			for _, r := range t.done {
				t.tally.Add(r, dst, t.s)
			}
		} else {
			t.dropped += t.tally.Decided
			t.tally = probe.Tally{}
		}
	}
	t.tally.Add(rec, dst, t.s)
	if t.records() {
		t.done = append(t.done, rec)
	}
}

// reset empties what t's report measured, for the next one.
func (t *target) reset() {
	t.nextReport = nextReport{}
	for _, h := range t.hops {
		h.reset()
	}
}

// failureWords is how a mode words two failures of a target: no packet
// decided, and packets lost to an engine failure (lostErr, lost).
type failureWords struct {
	noPacket func(t *target) error
	lost     func(t *target) error
}

// measure fills r (probe.NewResult of t, resolved) from t's decided
// packets: the one way a target's result is built, for a round and for a
// window. A failure with packets undecided (lostErr), a send that failed,
// a target that could not be probed (err) or one with no packet decided
// fail the result with the reason, worded by its mode. With path set, the
// path, when there is one, is measured from the path probes' decided
// packets, and left out when one of them lost packets.
func (t *target) measure(r *probe.Result, words failureWords, path bool) {
	t.tally.Fill(r, *t.s)
	sendErr := t.tally.SendErr
	switch {
	case t.dropped > 0:
		r.Code, r.Err = probe.Failed, fmt.Errorf("%d packets decided since the previous report (%v ago) were more than the %d kept for it: the oldest %d are not counted; report more often",
			t.decided()+t.dropped, r.Duration.Round(time.Second), maxWindow, t.dropped)
	case t.lostErr != nil:
		r.Code, r.Err = probe.Failed, words.lost(t)
	case sendErr != nil:
		r.Code, r.Err = probe.Failed, sendErr
	case t.err != nil:
		// It cannot be probed now (no route; its capture ended mid-round):
		// packets it sent before that are not a measurement of it.
		r.Code, r.Err = probe.Failed, t.err
	case r.Transmitted == 0:
		r.Code, r.Err = probe.Failed, words.noPacket(t)
	}
	if !path || len(t.hops) == 0 || r.Code != probe.OK {
		return
	}
	byTTL := make([][]probe.Record, len(t.hops))
	for i, h := range t.hops {
		if h.lostErr != nil {
			return
		}
		byTTL[i] = h.done
	}
	target, _ := netip.ParseAddr(r.IP)
	r.Path = probe.MeasurePath(byTTL, target, *t.s)
}

// routeAll finds the route of every resolved target of targets (the
// configured ones) and gives it to its path probes, which go where their
// target goes; it returns the targets and path probes that can be probed.
// A target without a route keeps the reason in err.
func routeAll(targets []*target) []*target {
	rt := newRouter()
	defer rt.close()
	var live []*target
	for _, t := range targets {
		t.err = nil
		if t.res.Code != probe.OK {
			continue
		}
		t.ip, _ = netip.ParseAddr(t.res.IP)
		if t.route, t.err = rt.route(t.ip, *t.s); t.err != nil {
			continue
		}
		if n := probeSize(*t.s); n > t.route.mtu {
			t.err = fmt.Errorf("data_size %d makes %d-byte packets, more than the %d-byte MTU of %s, the interface to %s", t.s.DataSize, n, t.route.mtu, t.route.iface, t.ip)
			continue
		}
		live = append(live, t)
		for _, h := range t.hops {
			h.ip, h.route, h.err = t.ip, t.route, nil
			live = append(live, h)
		}
	}
	return live
}

// addHops gives t its path probes, one per TTL from 1 to upTo.
func (t *target) addHops(upTo int) {
	for h := 1; h <= upTo; h++ {
		s := *t.s
		s.TTL = h
		t.hops = append(t.hops, &target{index: t.index, name: t.name, s: &s, tags: t.tags, path: path{hopOf: t}})
	}
}

// pathLimit is the highest TTL t's path probes try: the hop count of its
// path found before (0 when none was), else max_hops; 0 without path =
// true. A path that grew longer shows as a target not reached, and the
// next round tries max_hops again.
func pathLimit(t *target, hopCount int) int {
	if !t.s.Path {
		return 0
	}
	if hopCount > 0 {
		return min(hopCount, t.s.MaxHops)
	}
	return t.s.MaxHops
}

// icmpMarkLen is how many bytes of an ICMP probe's payload the plugin
// writes: the process's tag (4 bytes), then 2 bytes that hold the echo's
// checksum constant (echoPayload). A smaller data_size is raised to it.
const icmpMarkLen = 6

// probePayload is the data of s's probes: hping3 -d fills with X too. An
// ICMP probe's first icmpMarkLen bytes are the plugin's (echoPayload).
func probePayload(s config.Settings) []byte {
	return []byte(strings.Repeat("X", payloadLen(s)))
}

// payloadLen is the length of probePayload(s).
func payloadLen(s config.Settings) int {
	if s.Protocol == config.ICMP {
		return max(s.DataSize, icmpMarkLen)
	}
	return s.DataSize
}

// probeSize is the length of s's packets on the wire, their IP header
// included: what must fit the MTU of the interface they leave by.
func probeSize(s config.Settings) int {
	const ipHeader, icmpHeader, udpHeader, tcpHeader = 20, 8, 8, 20 // the Tcl engine sends no options
	n := ipHeader + payloadLen(s)
	switch s.Protocol {
	case config.ICMP:
		return n + icmpHeader
	case config.UDP:
		return n + udpHeader
	}
	return n + tcpHeader
}
