package probe_test

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// These tests feed Measure records as an engine files them; every
// expected number is worked out by hand from the times below.

var (
	target   = netip.MustParseAddr("198.19.0.7")
	routerIP = netip.MustParseAddr("198.18.0.2")
	t0       = time.UnixMicro(1796127223389769)
)

const ms = time.Millisecond

func sentAt(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

// rec is packet i (sent at t0+i s) with answers read d after it was sent.
func rec(i int, answers ...probe.TimedAnswer) probe.Record {
	r := probe.Record{Sent: sentAt(i)}
	for _, a := range answers {
		a.At = r.Sent.Add(a.At.Sub(time.Time{}))
		r.Answers = append(r.Answers, a)
	}
	return r
}

// after is an answer read d after its packet left (rec adds the send time).
func after(d time.Duration, a packet.Answer) probe.TimedAnswer {
	return probe.TimedAnswer{Answer: a, At: time.Time{}.Add(d)}
}

func echoReply(ttl int) packet.Answer {
	return packet.Answer{Kind: packet.EchoReply, From: target, TTL: ttl}
}

func tcpReply(flags int) packet.Answer {
	return packet.Answer{Kind: packet.TCPReply, From: target, TTL: 63, TCPFlags: flags}
}

func udpReply() packet.Answer { return packet.Answer{Kind: packet.UDPReply, From: target, TTL: 62} }

func icmpError(from netip.Addr, typ, code int) packet.Answer {
	return packet.Answer{Kind: packet.ICMPErrorOf, From: from, TTL: 64, ICMPType: typ, ICMPCode: code}
}

func settings(p config.Protocol) config.Settings {
	s := config.Settings{Protocol: p, Count: 3, Interval: time.Second, Timeout: time.Second}
	if p != config.ICMP {
		s.Port = 7777
	}
	return s
}

func measure(s config.Settings, recs ...probe.Record) *probe.Result {
	r := &probe.Result{Target: "lab", IP: target.String(), Protocol: s.Protocol, Port: s.Port, TTL: -1}
	probe.Measure(r, recs, s)
	return r
}

// want is what one Measure must give; rtt nil means Result.RTT must be nil.
type want struct {
	tx, rx, dup, late, icmpErr, ttl int
	loss                            float64
	port                            string
	rtt                             *probe.RTT // Min, Avg, Max, Samples, StdDev, Jitter, HasJitter checked
}

func check(t *testing.T, r *probe.Result, w want) {
	t.Helper()
	if r.Transmitted != w.tx || r.Received != w.rx || r.Duplicates != w.dup || r.Late != w.late || r.ICMPErrors != w.icmpErr {
		t.Errorf("transmitted %d received %d duplicates %d late %d icmp_errors %d; want %d %d %d %d %d",
			r.Transmitted, r.Received, r.Duplicates, r.Late, r.ICMPErrors, w.tx, w.rx, w.dup, w.late, w.icmpErr)
	}
	if math.Abs(r.Loss-w.loss) > 1e-9 {
		t.Errorf("loss %v, want %v", r.Loss, w.loss)
	}
	if r.TTL != w.ttl {
		t.Errorf("ttl %d, want %d", r.TTL, w.ttl)
	}
	if r.PortState != w.port {
		t.Errorf("port state %q, want %q", r.PortState, w.port)
	}
	switch {
	case w.rtt == nil && r.RTT != nil:
		t.Errorf("rtt %+v, want none", *r.RTT)
	case w.rtt != nil && r.RTT == nil:
		t.Errorf("no rtt, want %+v", *w.rtt)
	case w.rtt != nil:
		g := r.RTT
		if g.Min != w.rtt.Min || g.Avg != w.rtt.Avg || g.Max != w.rtt.Max || !slices.Equal(g.Samples, w.rtt.Samples) || !g.Detail {
			t.Errorf("rtt min %v avg %v max %v samples %v detail %v; want %v %v %v %v true",
				g.Min, g.Avg, g.Max, g.Samples, g.Detail, w.rtt.Min, w.rtt.Avg, w.rtt.Max, w.rtt.Samples)
		}
		if g.StdDev != w.rtt.StdDev || g.Jitter != w.rtt.Jitter || g.HasJitter != w.rtt.HasJitter {
			t.Errorf("rtt stddev %v jitter %v (%v); want %v %v (%v)", g.StdDev, g.Jitter, g.HasJitter, w.rtt.StdDev, w.rtt.Jitter, w.rtt.HasJitter)
		}
	}
}

func TestMeasureAllAnswered(t *testing.T) {
	// RTTs 1, 2, 4 ms: avg 7/3 = 2.333333; population stddev
	// sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 3) = sqrt(42/27) = 1.247219;
	// jitter (|2-1| + |4-2|) / 2 = 1.5. TTL is the first reply's.
	r := measure(settings(config.ICMP),
		rec(0, after(1*ms, echoReply(63))),
		rec(1, after(2*ms, echoReply(62))),
		rec(2, after(4*ms, echoReply(61))))
	check(t, r, want{tx: 3, rx: 3, ttl: 63, loss: 0, port: "",
		rtt: &probe.RTT{Min: 1, Avg: 2.333333, Max: 4, Samples: []float64{1, 2, 4}, StdDev: 1.247219, Jitter: 1.5, HasJitter: true}})
}

func TestMeasurePercentiles(t *testing.T) {
	// Sorted 1, 2, 4: p50 is rank 1 = 2; p90 rank 1.8 = 2 + 0.8*(4-2) =
	// 3.6; p100 = 4; p0 = 1.
	s := settings(config.ICMP)
	s.Percentiles = []int{0, 50, 90, 100}
	r := measure(s,
		rec(0, after(4*ms, echoReply(63))),
		rec(1, after(1*ms, echoReply(63))),
		rec(2, after(2*ms, echoReply(63))))
	wantP := []probe.Percentile{{P: 0, Value: 1}, {P: 50, Value: 2}, {P: 90, Value: 3.6}, {P: 100, Value: 4}}
	if r.RTT == nil || !slices.Equal(r.RTT.Percentiles, wantP) {
		t.Fatalf("percentiles %+v, want %+v", r.RTT, wantP)
	}
	// Samples stay in sequence order.
	if !slices.Equal(r.RTT.Samples, []float64{4, 1, 2}) {
		t.Errorf("samples %v, want [4 1 2]", r.RTT.Samples)
	}
}

func TestMeasureOneLost(t *testing.T) {
	// Packet 1 unanswered: 1 of 3 lost = 33.333...%; RTTs 1 and 3 ms:
	// avg 2, stddev 1, jitter 2.
	r := measure(settings(config.ICMP),
		rec(0, after(1*ms, echoReply(63))),
		rec(1),
		rec(2, after(3*ms, echoReply(63))))
	check(t, r, want{tx: 3, rx: 2, ttl: 63, loss: 100.0 / 3,
		rtt: &probe.RTT{Min: 1, Avg: 2, Max: 3, Samples: []float64{1, 3}, StdDev: 1, Jitter: 2, HasJitter: true}})
}

func TestMeasureLate(t *testing.T) {
	// Timeout 1 s: packet 1's reply after 1.5 s is late and the packet
	// lost; a reply at exactly the timeout is in time.
	r := measure(settings(config.ICMP),
		rec(0, after(2*ms, echoReply(63))),
		rec(1, after(1500*ms, echoReply(60))),
		rec(2, after(time.Second, echoReply(61))))
	check(t, r, want{tx: 3, rx: 2, late: 1, ttl: 63, loss: 100.0 / 3,
		rtt: &probe.RTT{Min: 2, Avg: 501, Max: 1000, Samples: []float64{2, 1000}, StdDev: 499, Jitter: 998, HasJitter: true}})

	// The only reply late: nothing received, no TTL.
	r = measure(settings(config.ICMP), rec(0, after(time.Second+time.Microsecond, echoReply(63))))
	check(t, r, want{tx: 1, late: 1, ttl: -1, loss: 100})
	// A late reply and its copy: the first is late, the copy a duplicate
	// (as hping3 marks it DUP!), not a second late reply.
	r = measure(settings(config.ICMP), rec(0, after(1200*ms, echoReply(63)), after(1201*ms, echoReply(63))))
	check(t, r, want{tx: 1, late: 1, dup: 1, ttl: -1, loss: 100})
}

func TestMeasureDuplicates(t *testing.T) {
	// Packet 0 answered three times: the first (1 ms) counts, the other
	// two are duplicates, the one after the timeout too (it is a further
	// answer to an answered packet, not a late one).
	r := measure(settings(config.ICMP),
		rec(0, after(1*ms, echoReply(63)), after(1500*time.Microsecond, echoReply(50)), after(3*time.Second, echoReply(50))),
		rec(1, after(2*ms, echoReply(63)), after(2*ms, echoReply(63))))
	check(t, r, want{tx: 2, rx: 2, dup: 3, ttl: 63, loss: 0,
		rtt: &probe.RTT{Min: 1, Avg: 1.5, Max: 2, Samples: []float64{1, 2}, StdDev: 0.5, Jitter: 1, HasJitter: true}})
}

func TestMeasureUnsentNotCounted(t *testing.T) {
	// Packet 1 was never sent (the engine reported a send error): it is
	// neither transmitted nor lost, and an answer filed under it is ignored.
	unsent := probe.Record{SendErr: errors.New("hping3 could not send the probe: Network is unreachable"),
		Answers: []probe.TimedAnswer{{Answer: echoReply(1), At: sentAt(1)}}}
	r := measure(settings(config.ICMP),
		rec(0, after(4*ms, echoReply(63))),
		unsent,
		rec(2, after(2*ms, echoReply(63))))
	check(t, r, want{tx: 2, rx: 2, ttl: 63, loss: 0,
		rtt: &probe.RTT{Min: 2, Avg: 3, Max: 4, Samples: []float64{4, 2}, StdDev: 1, Jitter: 2, HasJitter: true}})

	// Nothing sent at all: no loss to report, no RTT.
	r = measure(settings(config.ICMP), probe.Record{SendErr: errors.New("x")}, probe.Record{})
	check(t, r, want{tx: 0, rx: 0, ttl: -1, loss: 0})
	r = measure(settings(config.TCP))
	check(t, r, want{ttl: -1, port: probe.PortNone})
}

func TestMeasureICMPErrorsFromRouter(t *testing.T) {
	hostUnreach := icmpError(routerIP, packet.ICMPUnreachable, 1)
	r := measure(settings(config.ICMP),
		rec(0, after(1*ms, hostUnreach)),
		rec(1, after(1*ms, hostUnreach)),
		rec(2, after(1*ms, hostUnreach)))
	check(t, r, want{tx: 3, icmpErr: 3, ttl: -1, loss: 100, port: ""})

	// TCP: admin prohibited for packet 0, time exceeded for packet 1,
	// then a SYN-ACK for packet 1 and packet 2 (5 and 7 ms).
	r = measure(settings(config.TCP),
		rec(0, after(1*ms, icmpError(routerIP, packet.ICMPUnreachable, 13))),
		rec(1, after(1*ms, icmpError(routerIP, packet.ICMPTimeExceeded, 0)), after(5*ms, tcpReply(packet.FlagSYN|packet.FlagACK))),
		rec(2, after(7*ms, tcpReply(packet.FlagSYN|packet.FlagACK))))
	check(t, r, want{tx: 3, rx: 2, icmpErr: 2, ttl: 63, loss: 100.0 / 3, port: probe.PortOpen,
		rtt: &probe.RTT{Min: 5, Avg: 6, Max: 7, Samples: []float64{5, 7}, StdDev: 1, Jitter: 2, HasJitter: true}})

	// TCP, errors only: the port state is none.
	r = measure(settings(config.TCP), rec(0, after(1*ms, hostUnreach)), rec(1))
	check(t, r, want{tx: 2, icmpErr: 1, ttl: -1, loss: 100, port: probe.PortNone})

	// The target's own port unreachable on an ICMP or TCP probe is an
	// ICMP error too, not a reply.
	r = measure(settings(config.TCP), rec(0, after(1*ms, icmpError(target, 3, 3))))
	check(t, r, want{tx: 1, icmpErr: 1, ttl: -1, loss: 100, port: probe.PortNone})
	r = measure(settings(config.ICMP), rec(0, after(1*ms, icmpError(target, 3, 3))))
	check(t, r, want{tx: 1, icmpErr: 1, ttl: -1, loss: 100})
}

func TestMeasureUDP(t *testing.T) {
	portUnreach := icmpError(target, packet.ICMPUnreachable, packet.CodePortUnreach)
	// The target's port unreachable answers each packet: the port is
	// closed, and each has its RTT (1, 2, 4 ms), TTL that of the error.
	r := measure(settings(config.UDP),
		rec(0, after(1*ms, portUnreach)),
		rec(1, after(2*ms, portUnreach)),
		rec(2, after(4*ms, portUnreach)))
	check(t, r, want{tx: 3, rx: 3, ttl: 64, loss: 0, port: probe.PortClosed,
		rtt: &probe.RTT{Min: 1, Avg: 2.333333, Max: 4, Samples: []float64{1, 2, 4}, StdDev: 1.247219, Jitter: 1.5, HasJitter: true}})

	// A UDP reply from the port: open.
	r = measure(settings(config.UDP), rec(0, after(3*ms, udpReply())), rec(1))
	check(t, r, want{tx: 2, rx: 1, ttl: 62, loss: 50, port: probe.PortOpen,
		rtt: &probe.RTT{Min: 3, Avg: 3, Max: 3, Samples: []float64{3}}})

	// Open wins over closed, in either order.
	r = measure(settings(config.UDP), rec(0, after(1*ms, portUnreach)), rec(1, after(2*ms, udpReply())))
	check(t, r, want{tx: 2, rx: 2, ttl: 64, port: probe.PortOpen,
		rtt: &probe.RTT{Min: 1, Avg: 1.5, Max: 2, Samples: []float64{1, 2}, StdDev: 0.5, Jitter: 1, HasJitter: true}})
	r = measure(settings(config.UDP), rec(0, after(2*ms, udpReply())), rec(1, after(1*ms, portUnreach)))
	check(t, r, want{tx: 2, rx: 2, ttl: 62, port: probe.PortOpen,
		rtt: &probe.RTT{Min: 1, Avg: 1.5, Max: 2, Samples: []float64{2, 1}, StdDev: 0.5, Jitter: 1, HasJitter: true}})

	// A router's errors (port unreachable from a router included) are
	// ICMP errors: nothing from the port.
	r = measure(settings(config.UDP),
		rec(0, after(1*ms, icmpError(routerIP, packet.ICMPUnreachable, packet.CodePortUnreach))),
		rec(1, after(1*ms, icmpError(routerIP, packet.ICMPUnreachable, 1))),
		rec(2, after(1*ms, icmpError(target, packet.ICMPUnreachable, 2))))
	check(t, r, want{tx: 3, icmpErr: 3, ttl: -1, loss: 100, port: probe.PortNone})

	// A second port unreachable for one packet is a duplicate.
	r = measure(settings(config.UDP), rec(0, after(1*ms, portUnreach), after(2*ms, portUnreach)))
	check(t, r, want{tx: 1, rx: 1, dup: 1, ttl: 64, port: probe.PortClosed,
		rtt: &probe.RTT{Min: 1, Avg: 1, Max: 1, Samples: []float64{1}}})
}

func TestMeasureTCPPortStateFromRecords(t *testing.T) {
	SA, RA, R := packet.FlagSYN|packet.FlagACK, packet.FlagRST|packet.FlagACK, packet.FlagRST
	for _, c := range []struct {
		name  string
		flags []int // one packet each, answered at 1, 2, ... ms
		port  string
	}{
		{"SYN-ACK then RST", []int{SA, RA}, probe.PortOpen},
		{"RST then SYN-ACK", []int{RA, SA}, probe.PortOpen},
		{"RST-ACK only", []int{RA, RA}, probe.PortClosed},
		{"bare RST only (to an ACK probe)", []int{R}, probe.PortClosed},
		{"SYN-ACK only", []int{SA, SA}, probe.PortOpen},
		{"an ACK without SYN or RST", []int{packet.FlagACK}, probe.PortNone},
		{"a SYN without ACK", []int{packet.FlagSYN}, probe.PortNone},
	} {
		var recs []probe.Record
		var samples []float64
		for i, f := range c.flags {
			recs = append(recs, rec(i, after(time.Duration(i+1)*ms, tcpReply(f))))
			samples = append(samples, float64(i+1))
		}
		r := measure(settings(config.TCP), recs...)
		if r.PortState != c.port || r.Received != len(c.flags) || r.TTL != 63 || r.RTT == nil || !slices.Equal(r.RTT.Samples, samples) {
			t.Errorf("%s: port state %q received %d ttl %d rtt %+v; want %q, %d, 63, samples %v",
				c.name, r.PortState, r.Received, r.TTL, r.RTT, c.port, len(c.flags), samples)
		}
	}
	// A SYN-ACK that comes late decides nothing: the port stays none.
	r := measure(settings(config.TCP), rec(0, after(2*time.Second, tcpReply(SA))))
	check(t, r, want{tx: 1, late: 1, ttl: -1, loss: 100, port: probe.PortNone})
}

func TestMeasureNothingAnswered(t *testing.T) {
	for _, p := range []config.Protocol{config.ICMP, config.TCP, config.UDP} {
		port := probe.PortNone
		if p == config.ICMP {
			port = ""
		}
		r := measure(settings(p), rec(0), rec(1), rec(2))
		check(t, r, want{tx: 3, ttl: -1, loss: 100, port: port})
	}
}

// An answer stamped before its send (a stepped clock) counts with RTT 0.
func TestMeasureNegativeRTT(t *testing.T) {
	r := measure(settings(config.ICMP), rec(0, after(-3*ms, echoReply(63))))
	check(t, r, want{tx: 1, rx: 1, ttl: 63, rtt: &probe.RTT{Min: 0, Avg: 0, Max: 0, Samples: []float64{0}}})
}

func TestIsReply(t *testing.T) {
	portUnreach := icmpError(target, packet.ICMPUnreachable, packet.CodePortUnreach)
	for _, c := range []struct {
		name string
		a    packet.Answer
		p    config.Protocol
		want bool
	}{
		{"echo reply", echoReply(63), config.ICMP, true},
		{"SYN-ACK", tcpReply(packet.FlagSYN | packet.FlagACK), config.TCP, true},
		{"RST", tcpReply(packet.FlagRST), config.TCP, true},
		{"UDP reply", udpReply(), config.UDP, true},
		{"the target's port unreachable, UDP", portUnreach, config.UDP, true},
		{"the target's port unreachable, TCP", portUnreach, config.TCP, false},
		{"the target's port unreachable, ICMP", portUnreach, config.ICMP, false},
		{"a router's port unreachable, UDP", icmpError(routerIP, 3, 3), config.UDP, false},
		{"the target's host unreachable, UDP", icmpError(target, 3, 1), config.UDP, false},
		{"the target's time exceeded code 3, UDP", icmpError(target, 11, 3), config.UDP, false},
		{"host unreachable, ICMP", icmpError(routerIP, 3, 1), config.ICMP, false},
		{"admin prohibited, TCP", icmpError(routerIP, 3, 13), config.TCP, false},
	} {
		if got := probe.IsReply(c.a, target, c.p); got != c.want {
			t.Errorf("%s: IsReply = %v, want %v", c.name, got, c.want)
		}
	}
	// Another target's port unreachable is not this one's.
	if probe.IsReply(portUnreach, netip.MustParseAddr("198.19.0.8"), config.UDP) {
		t.Errorf("198.19.0.7's port unreachable counts as 198.19.0.8's reply")
	}
}

// An answer with no time (an engine that saw it but could not time it)
// counts as received, never as late, and adds no RTT.
func TestMeasureUntimedAnswer(t *testing.T) {
	untimed := probe.TimedAnswer{Answer: echoReply(63)}
	r := measure(settings(config.ICMP),
		probe.Record{Sent: sentAt(0), Answers: []probe.TimedAnswer{untimed}},
		rec(1, after(2*ms, echoReply(62))),
		probe.Record{Sent: sentAt(2), Answers: []probe.TimedAnswer{untimed, untimed}})
	check(t, r, want{tx: 3, rx: 3, dup: 1, ttl: 63, loss: 0,
		rtt: &probe.RTT{Min: 2, Avg: 2, Max: 2, Samples: []float64{2}}})

	// Untimed answers only: received, but no RTT.
	r = measure(settings(config.ICMP), probe.Record{Sent: sentAt(0), Answers: []probe.TimedAnswer{untimed}})
	check(t, r, want{tx: 1, rx: 1, ttl: 63})
}

// Counts an engine could not tie to a packet, already in the Result, are
// added to.
func TestMeasureAddsToCounts(t *testing.T) {
	r := &probe.Result{IP: target.String(), Protocol: config.ICMP, TTL: -1, ICMPErrors: 2, Duplicates: 1}
	probe.Measure(r, []probe.Record{
		rec(0, after(1*ms, echoReply(63)), after(2*ms, echoReply(63))),
		rec(1, after(1*ms, icmpError(routerIP, 11, 0))),
	}, settings(config.ICMP))
	check(t, r, want{tx: 2, rx: 1, dup: 2, icmpErr: 3, ttl: 63, loss: 50,
		rtt: &probe.RTT{Min: 1, Avg: 1, Max: 1, Samples: []float64{1}}})
}

// A tally says, beside the counts, how many packets were decided, the
// first send error, and when the packets went and were decided: a
// round's start and length.
func TestTallySpanAndSendError(t *testing.T) {
	s := settings(config.ICMP)
	refused := errors.New("sendto: operation not permitted")
	recs := []probe.Record{
		rec(0, after(2*ms, echoReply(61))),
		{SendErr: refused},
		rec(1),                                // no answer: decided at its timeout, t0+2s
		rec(2, after(1500*ms, echoReply(61))), // late: decided at its timeout, t0+3s
		rec(3, after(4*ms, echoReply(60)), after(6*ms, echoReply(60))),
	}
	var tl probe.Tally
	for _, r := range recs {
		tl.Add(r, target, &s)
	}
	if tl.Decided != 5 || tl.SendErr != refused {
		t.Errorf("decided %d, send error %v: want 5 and %v", tl.Decided, tl.SendErr, refused)
	}
	if !tl.First.Equal(t0) || !tl.End.Equal(sentAt(3).Add(4*ms)) {
		t.Errorf("span %v to %v: want %v to %v", tl.First, tl.End, t0, sentAt(3).Add(4*ms))
	}
	r := &probe.Result{IP: target.String(), Protocol: s.Protocol, TTL: -1}
	tl.Fill(r, s)
	check(t, r, want{tx: 4, rx: 2, dup: 1, late: 1, ttl: 61, loss: 50,
		rtt: &probe.RTT{Min: 2, Avg: 3, Max: 4, Samples: []float64{2, 4}, StdDev: 1, Jitter: 2, HasJitter: true}})

	// Without the last packet, the late one's timeout ends the span.
	var early probe.Tally
	for _, r := range recs[:4] {
		early.Add(r, target, &s)
	}
	if !early.End.Equal(sentAt(3)) {
		t.Errorf("span ends %v: want %v, the late packet's timeout", early.End, sentAt(3))
	}

	// A packet the capture saw leave but the engine reported as failed is
	// sent, and its error still fails the target.
	var both probe.Tally
	both.Add(probe.Record{Sent: t0, SendErr: refused}, target, &s)
	if both.SendErr != refused || both.Decided != 1 {
		t.Errorf("send error %v, decided %d: want %v, 1", both.SendErr, both.Decided, refused)
	}
}
