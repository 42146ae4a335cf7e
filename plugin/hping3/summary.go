package hping3

import "strings"

// ParseSummary reads the statistics block from hping3's stderr text. ok is
// false when no block is present (hping3 killed, or it failed before sending).
//
// The block, as Debian's hping3 prints it (upstream spells "tramitted"):
//
//	--- TARGET hping statistic ---
//	%d packets transmitted, %d packets received, %d%% packet loss
//	[%d out of sequence packets received]
//	round-trip min/avg/max = %.1f/%.1f/%.1f ms
//
// ok means the counts line was found; the other lines are optional.
func ParseSummary(stderr string) (s Summary, ok bool) {
	const head, tail = "--- ", " hping statistic ---"
	rest := stderr
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		switch {
		case len(line) >= len(head)+len(tail) && strings.HasPrefix(line, head) && strings.HasSuffix(line, tail):
			s.Target = line[len(head) : len(line)-len(tail)]
		case parseCounts(line, &s):
			ok = true
		case strings.HasSuffix(line, " out of sequence packets received"):
			if n, good := canonicalInt(strings.TrimSuffix(line, " out of sequence packets received")); good {
				s.OutOfSeq = n
			}
		case strings.HasPrefix(line, "round-trip min/avg/max = "):
			parseRoundTrip(line[len("round-trip min/avg/max = "):], &s)
		}
	}
	return s, ok
}

// parseCounts reads "%d packets transmitted, %d packets received, %d%% packet
// loss" into s; loss may be negative when duplicates outnumber the probes.
func parseCounts(line string, s *Summary) bool {
	f, rest := field(line)
	sent, ok := canonicalInt(f)
	if !ok {
		return false
	}
	if r, found := strings.CutPrefix(rest, "packets transmitted, "); found {
		rest = r
	} else if r, found := strings.CutPrefix(rest, "packets tramitted, "); found {
		rest = r
	} else {
		return false
	}
	f, rest = field(rest)
	recv, ok := canonicalInt(f)
	if !ok {
		return false
	}
	rest, found := strings.CutPrefix(rest, "packets received, ")
	if !found {
		return false
	}
	pct, found := strings.CutSuffix(rest, "% packet loss")
	if !found {
		return false
	}
	neg := strings.HasPrefix(pct, "-")
	loss, ok := canonicalInt(strings.TrimPrefix(pct, "-"))
	if !ok || (neg && loss == 0) {
		return false
	}
	if neg {
		loss = -loss
	}
	s.Transmitted, s.Received, s.LossPercent = sent, recv, loss
	return true
}

// parseRoundTrip reads "%.1f/%.1f/%.1f ms".
func parseRoundTrip(v string, s *Summary) {
	v, found := strings.CutSuffix(v, " ms")
	if !found {
		return
	}
	minS, v, _ := strings.Cut(v, "/")
	avgS, maxS, _ := strings.Cut(v, "/")
	lo, ok1 := decimal(minS)
	avg, ok2 := decimal(avgS)
	hi, ok3 := decimal(maxS)
	if ok1 && ok2 && ok3 {
		s.Min, s.Avg, s.Max, s.HasRTT = lo, avg, hi, true
	}
}
