package probe

import (
	"math"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
)

// These tests feed measureReplies() records as the parser produces them; the
// parser's own tests cover turning captured hping3 text into records.

func reply(seq int, rtt float64, at time.Duration) hping3.TimedLine {
	return hping3.TimedLine{At: at, Line: hping3.Line{Kind: hping3.Reply, IP: "198.19.0.1", TTL: 63, Seq: seq, RTT: rtt, ICMP: true}}
}

func tcpReply(seq int, flags string, rtt float64) hping3.TimedLine {
	l := reply(seq, rtt, time.Duration(seq+1)*100*time.Millisecond)
	l.ICMP, l.SPort, l.Flags = false, 80, flags
	return l
}

func measured(t *testing.T, s config.Settings, sent int, lines ...hping3.TimedLine) Result {
	t.Helper()
	r := Result{IP: "198.19.0.1", TTL: -1}
	header := hping3.TimedLine{Line: hping3.Line{Kind: hping3.Header}, At: 10 * time.Millisecond}
	ex := &hping3.Execution{Lines: append([]hping3.TimedLine{header}, lines...)}
	measureReplies(&r, ex, hping3.Summary{Transmitted: sent, Received: 99, HasRTT: true, Min: 1, Avg: 2, Max: 3}, s)
	return r
}

func icmpSettings(count int) config.Settings {
	s := config.DefaultSettings()
	s.Count, s.Interval, s.Timeout = count, 100*time.Millisecond, 500*time.Millisecond
	return s
}

func TestRepliesCountsUniqueRepliesOnly(t *testing.T) {
	dup := reply(1, 5, 250*time.Millisecond)
	dup.Dup = true
	foreign := reply(2, 1, 260*time.Millisecond)
	foreign.IP = "198.19.0.2"
	r := measured(t, icmpSettings(4), 4,
		reply(0, 4, 50*time.Millisecond),
		reply(1, 6, 150*time.Millisecond),
		dup,                               // hping3's DUP!
		reply(1, 7, 160*time.Millisecond), // same seq again, unmarked
		foreign,                           // another host's reply on the interface
		reply(9, 1, 300*time.Millisecond), // not one of ours
		reply(3, 8, 380*time.Millisecond),
	)
	if r.Transmitted != 4 || r.Received != 3 || r.Duplicates != 2 || r.Loss != 25 || r.TTL != 63 {
		t.Fatalf("result = %+v", r)
	}
	// seq 0, 1, 3 at 4, 6, 8 ms: deviations -2, 0, 2, stddev sqrt(8/3) =
	// 1.633; jitter (2 + 2) / 2 = 2.
	if r.RTT == nil || !near(r.RTT.Avg, 6) || !near(r.RTT.Min, 4) || !near(r.RTT.Max, 8) ||
		!near(r.RTT.StdDev, 1.633) || !near(r.RTT.Jitter, 2) || len(r.RTT.Samples) != 3 ||
		r.RTT.Samples[0] != 4 || r.RTT.Samples[1] != 6 || r.RTT.Samples[2] != 8 {
		t.Errorf("rtt = %+v, want samples 4 6 8 (min 4 avg 6 max 8, stddev 1.633, jitter 2) from seq 0,1,3", r.RTT)
	}
}

func TestRepliesICMPErrorsAreNotReplies(t *testing.T) {
	unreach := hping3.TimedLine{Line: hping3.Line{Kind: hping3.ICMPError, IP: "198.19.9.1", Error: "Host Unreachable", Seq: -1, TTL: -1, RTT: -1}}
	r := measured(t, icmpSettings(3), 3, unreach, unreach, unreach)
	if r.Received != 0 || r.ICMPErrors != 3 || r.Loss != 100 || r.RTT != nil || r.TTL != -1 {
		t.Errorf("result = %+v, want 0 received, 3 icmp errors, 100%% loss, no RTT", r)
	}
}

// A port unreachable can only answer a UDP probe: during an ICMP or TCP
// probe it belongs to someone else's UDP traffic to the same host.
func TestRepliesPortUnreachableOnlyForUDP(t *testing.T) {
	pu := hping3.TimedLine{Line: hping3.Line{Kind: hping3.ICMPError, IP: "198.19.0.1", Error: "Port Unreachable", Seq: -1, TTL: -1, RTT: -1}}
	hu := hping3.TimedLine{Line: hping3.Line{Kind: hping3.ICMPError, IP: "198.19.9.1", Error: "Host Unreachable", Seq: -1, TTL: -1, RTT: -1}}
	r := measured(t, icmpSettings(2), 2, reply(0, 1, 20*time.Millisecond), pu, hu, reply(1, 1, 120*time.Millisecond))
	if r.ICMPErrors != 1 || r.Received != 2 {
		t.Errorf("icmp probe: %d icmp errors, %d received; want 1 and 2", r.ICMPErrors, r.Received)
	}
	s := icmpSettings(2)
	s.Protocol, s.Port = config.UDP, 53
	router := pu
	router.IP = "198.19.9.1"
	if r := measured(t, s, 2, router); r.ICMPErrors != 1 || r.Received != 0 {
		t.Errorf("udp probe, port unreachable from a router: %d icmp errors, %d received; want 1 and 0", r.ICMPErrors, r.Received)
	}
}

// hping3 stops once replies, duplicates included, reach -c: here after 11
// of 20 packets. The header is read at 10 ms and packets go 20 ms apart, so
// the 11th (seq 10) left at 210 ms. Exiting less than the 200 ms timeout
// after that, before 410 ms, it had no chance to be answered: neither sent
// nor lost. From 410 ms on it had its timeout: lost.
func TestRepliesEarlyExitOnDuplicates(t *testing.T) {
	s := icmpSettings(20)
	s.Interval, s.Timeout = 20*time.Millisecond, 200*time.Millisecond
	header := hping3.TimedLine{Line: hping3.Line{Kind: hping3.Header}, At: 10 * time.Millisecond}
	lines := []hping3.TimedLine{header}
	// Each of packets 0..9 answered 2 ms after it left (12, 32, ... 192
	// ms) and duplicated 0.5 ms later.
	for seq := 0; seq < 10; seq++ {
		at := time.Duration(12+20*seq) * time.Millisecond
		lines = append(lines, reply(seq, 2, at))
		dup := reply(seq, 2.5, at+500*time.Microsecond)
		dup.Dup = true
		lines = append(lines, dup)
	}
	sum := hping3.Summary{Transmitted: 11, Received: 20}
	cases := []struct {
		elapsed     time.Duration
		transmitted int
		loss        float64
	}{
		{215 * time.Millisecond, 10, 0},      // 5 ms after the 11th packet
		{409 * time.Millisecond, 10, 0},      // 199 ms after
		{410 * time.Millisecond, 11, 9.0909}, // 1 of 11 lost
		{615 * time.Millisecond, 11, 9.0909},
	}
	for _, c := range cases {
		ex := &hping3.Execution{Lines: lines, Elapsed: c.elapsed}
		r := Result{IP: "198.19.0.1", TTL: -1}
		measureReplies(&r, ex, sum, s)
		if r.Transmitted != c.transmitted || r.Received != 10 || math.Abs(r.Loss-c.loss) > 1e-4 || r.Duplicates != 10 {
			t.Errorf("exit at %v: transmitted %d received %d loss %v duplicates %d; want %d 10 %.4f 10",
				c.elapsed, r.Transmitted, r.Received, r.Loss, r.Duplicates, c.transmitted, c.loss)
		}
	}
}

func TestRepliesLateAndGlitch(t *testing.T) {
	s := icmpSettings(3)
	r := measured(t, s, 3,
		reply(0, 2, 20*time.Millisecond),
		// Read 130 ms after start: sent no earlier than 110 ms, so its
		// reported 1002 ms is hping3's clock glitch; it did arrive.
		reply(1, 1002, 130*time.Millisecond),
		// Read 1.3 s after start: truly took 1 s, beyond the 500 ms timeout.
		reply(2, 1000, 1300*time.Millisecond),
	)
	if r.Transmitted != 3 || r.Received != 2 || !near(r.Loss, 33.333) || r.Glitches != 1 || r.Late != 1 ||
		r.RTT == nil || len(r.RTT.Samples) != 1 || r.RTT.Samples[0] != 2 {
		t.Errorf("result = %+v rtt %+v", r, r.RTT)
	}
}

func TestRepliesTCPPortState(t *testing.T) {
	s := icmpSettings(2)
	s.Protocol, s.Port = config.TCP, 80
	if r := measured(t, s, 2, tcpReply(0, "SA", 1), tcpReply(1, "SA", 1)); r.PortState != PortOpen || r.Received != 2 {
		t.Errorf("open: %+v", r)
	}
	if r := measured(t, s, 2, tcpReply(0, "RA", 1)); r.PortState != PortClosed || r.Received != 1 || r.Loss != 50 {
		t.Errorf("closed: %+v", r)
	}
	other := tcpReply(1, "SA", 1)
	other.SPort = 81 // a reply from another port of the host is not ours
	if r := measured(t, s, 2, other); r.PortState != PortNone || r.Received != 0 || r.RTT != nil {
		t.Errorf("filtered: %+v", r)
	}
}

func TestRepliesUDPPortUnreachable(t *testing.T) {
	s := icmpSettings(3)
	s.Protocol, s.Port = config.UDP, 53
	pu := hping3.TimedLine{Line: hping3.Line{Kind: hping3.ICMPError, IP: "198.19.0.1", Error: "Port Unreachable", Seq: -1, TTL: -1, RTT: -1}}
	st := func(seq, status int) hping3.TimedLine {
		return hping3.TimedLine{Line: hping3.Line{Kind: hping3.UDPStatus, Status: status, Port: 53, Seq: seq, TTL: -1, RTT: -1}}
	}
	r := measured(t, s, 3, pu, st(0, 0), pu, st(1, 0), pu, st(1, 1), st(2, 0))
	// The last status line follows no port unreachable: not a reply.
	if r.Received != 2 || r.Duplicates != 1 || r.ICMPErrors != 0 || r.PortState != PortClosed {
		t.Fatalf("result = %+v", r)
	}
	if r.RTT == nil || r.RTT.Detail || r.RTT.Min != 1 || r.RTT.Avg != 2 || r.RTT.Max != 3 {
		t.Errorf("UDP RTT = %+v, want the summary's 1/2/3 without detail", r.RTT)
	}
}

// A service answering on the UDP port: hping3's reply line carries no
// ports (it matched the source port itself) but has its rtt.
func TestRepliesUDPReplyFromThePort(t *testing.T) {
	s := icmpSettings(3)
	s.Protocol, s.Port = config.UDP, 7
	udp := func(seq int, rtt float64) hping3.TimedLine {
		l := reply(seq, rtt, time.Duration(seq+1)*100*time.Millisecond)
		l.ICMP = false
		return l
	}
	tcp := tcpReply(2, "RA", 1) // not a UDP reply: never counted
	r := measured(t, s, 3, udp(0, 2), udp(1, 4), tcp)
	if r.Received != 2 || !near(r.Loss, 33.333) || r.PortState != PortOpen || r.TTL != 63 || r.Duplicates != 0 {
		t.Fatalf("result = %+v", r)
	}
	if r.RTT == nil || !r.RTT.Detail || r.RTT.Min != 2 || r.RTT.Avg != 3 || r.RTT.Max != 4 {
		t.Errorf("UDP RTT = %+v, want 2/3/4 from the reply lines with detail", r.RTT)
	}
}
