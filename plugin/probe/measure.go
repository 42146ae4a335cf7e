package probe

import (
	"slices"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
)

// measure fills r from hping3's reply lines. hping3's summary is used only
// for the number of packets sent, and for UDP round-trip times, which it
// prints nowhere else; its received count and loss are not trusted
// (duplicates and ICMP errors count as received there).
func measure(r *Result, ex *hping3.Execution, sum hping3.Summary, s config.Settings) {
	r.Transmitted = sum.Transmitted
	t0 := firstPacketTime(ex)
	answered := make(map[int]bool, s.Count)
	type sample struct {
		seq int
		rtt float64
	}
	var samples []sample
	udpPending := false // the last line was the target's port unreachable
	unreachable := 0    // UDP packets answered by a port unreachable

	accept := func(seq int) bool {
		if seq < 0 || seq >= s.Count {
			return false // not one of this probe's packets
		}
		if answered[seq] {
			r.Duplicates++
			return false
		}
		answered[seq] = true
		r.Received++
		return true
	}

	for _, l := range ex.Lines {
		wasPending := udpPending
		udpPending = false
		switch l.Kind {
		case hping3.Reply:
			if !isReplyFromTarget(l.Line, r.IP, s) {
				continue
			}
			if l.Dup {
				if l.Seq >= 0 && l.Seq < s.Count {
					r.Duplicates++
				}
				continue
			}
			if l.RTT >= 0 && l.RTT > ms(s.Timeout) && !isGlitch(l, t0, s.Interval) {
				r.Late++ // arrived after the timeout: lost
				continue
			}
			if !accept(l.Seq) {
				continue
			}
			if r.TTL < 0 {
				r.TTL = l.TTL
			}
			if s.Protocol == config.UDP {
				r.PortState = PortOpen // a service answered from the port
			}
			if s.Protocol == config.TCP {
				switch {
				case strings.Contains(l.Flags, "S") && strings.Contains(l.Flags, "A"):
					r.PortState = PortOpen
				case strings.Contains(l.Flags, "R") && r.PortState == "":
					r.PortState = PortClosed
				}
			}
			switch {
			case l.RTT < 0:
			case isGlitch(l, t0, s.Interval):
				r.Glitches++
			default:
				samples = append(samples, sample{l.Seq, l.RTT})
			}
		case hping3.ICMPError:
			switch {
			case l.Error != "Port Unreachable":
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
			if l.Status == 0 {
				if accept(l.Seq) {
					unreachable++
					if r.PortState == "" {
						r.PortState = PortClosed
					}
				}
			} else if l.Seq >= 0 && l.Seq < s.Count {
				r.Duplicates++
			}
		}
	}

	r.Transmitted -= cutShort(ex, sum, s, answered)
	if r.Transmitted > 0 {
		r.Loss = 100 * float64(r.Transmitted-min(r.Received, r.Transmitted)) / float64(r.Transmitted)
	}
	if s.Protocol != config.ICMP && r.PortState == "" {
		r.PortState = PortNone
	}
	if s.Protocol == config.UDP && unreachable > 0 {
		// hping3 prints no per-reply time for a port unreachable; its
		// summary's min/avg/max is all there is. (A UDP reply from the
		// port itself has its rtt on its line, like any other reply.)
		if sum.HasRTT {
			r.RTT = &RTT{Min: sum.Min, Avg: sum.Avg, Max: sum.Max}
		}
		return
	}
	slices.SortFunc(samples, func(a, b sample) int { return a.seq - b.seq })
	rtts := make([]float64, len(samples))
	for i, x := range samples {
		rtts[i] = x.rtt
	}
	r.RTT = rttStats(rtts, s.Percentiles)
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
