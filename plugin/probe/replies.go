package probe

import (
	"math"
	"net/netip"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// measureReplies fills r from hping3's reply lines: it turns them into one Record
// per packet hping3 sent and measures those with the rules every engine
// shares (Measure). hping3's summary is used only for the number of
// packets sent, and for UDP round-trip times to a closed port, which it
// prints nowhere else; its received count and loss are not trusted
// (duplicates and ICMP errors count as received there).
func measureReplies(r *Result, ex *hping3.Execution, sum hping3.Summary, s config.Settings) {
	t0 := firstPacketTime(ex)
	target, _ := netip.ParseAddr(r.IP)
	// Each packet's record has a nominal send time; an answer is stamped
	// at that time plus the rtt hping3 printed, so Measure reads back
	// exactly hping3's rtt.
	base := time.Unix(0, 0)
	recs := make([]Record, sum.Transmitted)
	for seq := range recs {
		recs[seq].Sent = base.Add(time.Duration(seq) * s.Interval)
	}
	answer := func(seq int, a packet.Answer, rtt float64, timed bool) {
		if seq < 0 || seq >= len(recs) {
			return // not one of this probe's packets
		}
		ta := TimedAnswer{Answer: a}
		if timed {
			ta.At = recs[seq].Sent.Add(time.Duration(math.Round(rtt * float64(time.Millisecond))))
		}
		recs[seq].Answers = append(recs[seq].Answers, ta)
	}
	udpPending := false // the last line was the target's port unreachable
	unreachable := 0    // UDP packets answered by a port unreachable
	for _, l := range ex.Lines {
		wasPending := udpPending
		udpPending = false
		switch l.Kind {
		case hping3.Reply:
			if !isReplyFromTarget(l.Line, r.IP, s) {
				continue
			}
			kind := packet.EchoReply
			switch s.Protocol {
			case config.TCP:
				kind = packet.TCPReply
			case config.UDP:
				kind = packet.UDPReply
			}
			a := packet.Answer{Kind: kind, From: target, TTL: l.TTL, TCPFlags: packet.TCPFlagBits(l.Flags)}
			switch {
			case l.RTT < 0:
				answer(l.Seq, a, 0, false)
			case isGlitch(l, t0, s.Interval):
				// Received, but its rtt is hping3's clock glitch.
				if l.Seq >= 0 && l.Seq < len(recs) && !l.Dup {
					r.Glitches++
				}
				answer(l.Seq, a, 0, false)
			default:
				answer(l.Seq, a, l.RTT, true)
			}
		case hping3.ICMPError:
			switch {
			case !l.PortUnreachable():
				r.ICMPErrors++
			case s.Protocol != config.UDP:
				// Only a UDP probe can draw a port unreachable: this one
				// answers someone else's UDP packet to the same host
				// (hping3 shows every ICMP error that quotes the target).
			case l.IP == r.IP:
				udpPending = true // its status line carries the sequence number
			default:
				r.ICMPErrors++ // from a device on the path, not the target
			}
		case hping3.UDPStatus:
			if !wasPending {
				continue
			}
			// hping3 prints no rtt for a port unreachable.
			if l.Status == 0 && l.Seq >= 0 && l.Seq < len(recs) && len(recs[l.Seq].Answers) == 0 {
				unreachable++
			}
			answer(l.Seq, packet.Answer{Kind: packet.ICMPErrorOf, From: target, TTL: -1,
				ICMPType: packet.ICMPUnreachable, ICMPCode: packet.CodePortUnreach}, 0, false)
		}
	}
	answered := make(map[int]bool, len(recs))
	for seq, rec := range recs {
		for _, a := range rec.Answers {
			if a.At.IsZero() || a.At.Sub(rec.Sent) <= s.Timeout {
				answered[seq] = true
			}
		}
	}
	for seq := len(recs) - cutShort(ex, sum, s, answered); seq < len(recs); seq++ {
		recs[seq].Sent = time.Time{} // hping3 did not wait for it: neither sent nor lost
	}
	Measure(r, recs, s)
	if s.Protocol == config.UDP && unreachable > 0 {
		// hping3 prints no per-reply time for a port unreachable; its
		// summary's min/avg/max is all there is. (A UDP reply from the
		// port itself has its rtt on its line, like any other reply.)
		r.RTT = nil
		if sum.HasRTT {
			r.RTT = &RTT{Min: sum.Min, Avg: sum.Avg, Max: sum.Max}
		}
	}
}

// cutShort counts the packets hping3 stopped waiting for too early to call
// them lost. hping3 exits as soon as its reply count reaches -c, and it
// counts duplicates: with duplicated replies it stops after fewer packets,
// the last of them just sent. An unanswered packet sent less than the
// timeout before hping3 exited was not given its chance, so it is neither
// sent nor lost. Only that early exit is corrected: SIGINT and hping3's own
// wait come after the timeout.
func cutShort(ex *hping3.Execution, sum hping3.Summary, s config.Settings, answered map[int]bool) int {
	if ex.Interrupts || ex.Killed || sum.Received < s.Count || sum.Transmitted >= s.Count {
		return 0
	}
	t0 := firstPacketTime(ex)
	gap := s.Interval // observed spacing of the packets, when replies show it
	for _, l := range ex.Lines {
		if l.Kind == hping3.Reply && !l.Dup && l.RTT >= 0 {
			gap = max(gap, hping3.Spacing(l, t0, s.Interval))
		}
	}
	n := 0
	for seq := sum.Transmitted - 1; seq >= 0 && !answered[seq]; seq-- {
		if ex.Elapsed-(t0+time.Duration(seq)*gap) >= s.Timeout {
			break
		}
		n++
	}
	return n
}

// isReplyFromTarget tells the probe's own replies from anything else hping3
// shows (it captures every frame on the interface).
func isReplyFromTarget(l hping3.Line, ip string, s config.Settings) bool {
	if l.IP != ip {
		return false
	}
	switch s.Protocol {
	case config.ICMP:
		return l.ICMP
	case config.UDP:
		// hping3 prints no ports on a UDP reply line: it shows only replies
		// from the probed port (its recv_udp matches the source port).
		return !l.ICMP && l.Flags == ""
	default:
		return !l.ICMP && l.SPort == s.Port
	}
}

// firstPacketTime estimates when hping3 sent its first packet: it prints
// its header line just before, and under stdbuf that line arrives at once.
func firstPacketTime(ex *hping3.Execution) time.Duration {
	for _, l := range ex.Lines {
		if l.Kind == hping3.Header {
			return l.At
		}
	}
	return 0
}

// isGlitch detects hping3's occasional +1000 ms rtt (a race between time()
// and gettimeofday()): packet seq cannot have left before t0+seq*interval,
// so a reply read at l.At cannot truly have taken longer than the difference.
func isGlitch(l hping3.TimedLine, t0, interval time.Duration) bool {
	if l.RTT < 1000 || l.Seq < 0 {
		return false
	}
	earliestSend := t0 + time.Duration(l.Seq)*interval
	bound := l.At - earliestSend + glitchSlack
	return l.RTT > ms(bound)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
