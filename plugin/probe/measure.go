package probe

import (
	"iter"
	"net/netip"
	"slices"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// Record is what became of one probe packet, as an engine saw it: when it
// left, and every answer matched to it with the time it was read.
type Record struct {
	Sent    time.Time // zero: never sent
	SendErr error     // why it was not sent
	Answers []TimedAnswer
	Clock   Clock // whose stamps Sent and the answers' At are
	// Flow is which of its target's flows the packet took: 0 for the
	// target's own packets, 0..flows-1 for path probes.
	Flow int
}

// sent yields the records of recs whose packet was sent: a packet never
// sent counts nowhere, not even as lost.
func sent(recs []Record) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		for _, rec := range recs {
			if !rec.Sent.IsZero() && !yield(rec) {
				return
			}
		}
	}
}

// Clock says whose stamps timed a packet.
type Clock int

const (
	// ClockEngine: the engine's own (hping3's: its send's return, its
	// capture handler's entry). The CLI engine, and the Tcl engine where
	// the plugin cannot capture.
	ClockEngine Clock = iota
	// ClockKernel: the kernel's, the probe leaving and its answers
	// arriving, read at one interface by the plugin's own capture.
	ClockKernel
	// ClockFallback: the plugin captured the interface but not this
	// probe leaving; the engine's send stamp stands in for it.
	ClockFallback
)

// Stamps counts a target's sent packets by the clock that timed them.
type Stamps struct{ Kernel, Fallback, Engine int }

func (s *Stamps) count(c Clock) {
	switch c {
	case ClockKernel:
		s.Kernel++
	case ClockFallback:
		s.Fallback++
	default:
		s.Engine++
	}
}

// Add adds o's counts to s.
func (s *Stamps) Add(o Stamps) {
	s.Kernel += o.Kernel
	s.Fallback += o.Fallback
	s.Engine += o.Engine
}

// TimedAnswer is one packet matched to a probe, with when it was read.
// A zero At is an answer the engine could not time (the CLI engine's UDP
// port unreachable, or an rtt hping3 got wrong): it counts, but has no RTT.
type TimedAnswer struct {
	packet.Answer
	At time.Time
}

// Measure fills r's counts, RTTs, TTL and port state from the records of
// one target's packets, in sequence order. These are the measurement rules:
//   - a packet is received when its first answer from the target (echo
//     reply, any TCP segment from the port, a UDP datagram from the port,
//     or for UDP the target's own port unreachable) came within timeout;
//   - every further answer to it is a duplicate; a first answer after the
//     timeout is late, and the packet lost;
//   - every ICMP error quoting the packet, other than the UDP target's port
//     unreachable, is counted in ICMPErrors and answers nothing.
//
// Counts already in r (errors an engine could not tie to a packet) are
// added to. Measure is a Tally of recs.
func Measure(r *Result, recs []Record, s config.Settings) {
	target, _ := netip.ParseAddr(r.IP)
	var t Tally
	for _, rec := range recs {
		t.Add(rec, target, &s)
	}
	t.Fill(r, s)
}

// Tally is Measure's rules applied one record at a time, as packets are
// decided: a target's window in continuous mode is a tally, not the
// records themselves, which at 10,000 targets and a 10 s window held
// about 28 MB until the report.
type Tally struct {
	// Decided counts the records added, sent or not.
	Decided int
	// SendErr is the first error of a packet that was not sent.
	SendErr error
	// First is when the first packet sent went, End when the last was
	// decided: its reply, or its timeout.
	First, End time.Time

	transmitted, received, duplicates, late, icmpErrors int
	stamps                                              Stamps
	ttl                                                 int // the first reply's, +1 (0: none yet)
	portState                                           string
	rtts                                                []float64
}

// Add counts rec, one packet to target with settings s: Measure's rules.
func (t *Tally) Add(rec Record, target netip.Addr, s *config.Settings) {
	t.Decided++
	if rec.SendErr != nil && t.SendErr == nil {
		t.SendErr = rec.SendErr
	}
	if rec.Sent.IsZero() {
		return // a packet never sent counts nowhere, not even as lost
	}
	t.transmitted++
	t.stamps.count(rec.Clock)
	if t.First.IsZero() {
		t.First = rec.Sent
	}
	done := rec.Sent.Add(s.Timeout)
	seen := false // it had an answer already
	for _, a := range rec.Answers {
		if !IsReply(a.Answer, target, s.Protocol) {
			t.icmpErrors++
			continue
		}
		timed := !a.At.IsZero()
		rtt := a.At.Sub(rec.Sent)
		switch {
		case seen:
			t.duplicates++
			continue
		case timed && rtt > s.Timeout:
			seen = true
			t.late++
			continue
		}
		seen = true
		t.received++
		done = a.At
		// Both stamps are from one clock (Record.Clock), never
		// negative unless the clock was stepped.
		if timed {
			t.rtts = append(t.rtts, ms(max(rtt, 0)))
		}
		if t.ttl == 0 {
			t.ttl = a.TTL + 1
		}
		t.portState = portState(t.portState, a.Answer, s.Protocol)
	}
	if done.After(t.End) {
		t.End = done
	}
}

// Fill adds what t counted to r and measures its RTTs, as Measure does.
func (t *Tally) Fill(r *Result, s config.Settings) {
	r.Transmitted += t.transmitted
	r.Received += t.received
	r.Duplicates += t.duplicates
	r.Late += t.late
	r.ICMPErrors += t.icmpErrors
	r.Stamps.Add(t.stamps)
	if r.TTL < 0 && t.ttl > 0 {
		r.TTL = t.ttl - 1
	}
	if t.portState == PortOpen || r.PortState == "" {
		r.PortState = t.portState
	}
	if r.Transmitted > 0 {
		r.Loss = 100 * float64(r.Transmitted-r.Received) / float64(r.Transmitted)
	}
	if s.Protocol != config.ICMP && r.PortState == "" {
		r.PortState = PortNone
	}
	// Clipped: a report taken while t goes on (a scrape's peek) shares
	// its samples, which t's later packets append after, never over.
	r.RTT = rttStats(slices.Clip(t.rtts), s.Percentiles)
}

// portState folds one reply into the port state seen so far: open wins
// over closed (a port that answered SYN-ACK once is open).
func portState(cur string, a packet.Answer, p config.Protocol) string {
	switch p {
	case config.TCP:
		switch {
		case a.TCPFlags&packet.FlagSYN != 0 && a.TCPFlags&packet.FlagACK != 0:
			return PortOpen
		case a.TCPFlags&packet.FlagRST != 0 && cur == "":
			return PortClosed
		}
	case config.UDP:
		switch {
		case a.Kind == packet.UDPReply:
			return PortOpen
		case cur == "":
			return PortClosed
		}
	}
	return cur
}

// IsReply reports whether answer a from a probe of target counts as the
// target's reply (rather than an ICMP error about the packet): anything but
// an ICMP error, and for UDP the target's own port unreachable.
func IsReply(a packet.Answer, target netip.Addr, p config.Protocol) bool {
	return a.Kind != packet.ICMPErrorOf || (p == config.UDP && a.PortUnreachableFrom(target))
}
