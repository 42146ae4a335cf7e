package hping3

import "strings"

// Parser reads hping3's stdout one physical line at a time. It keeps state
// only to join -V's two-line replies.
//
// The parser is strict: a line is a Reply, ICMPError or UDPStatus only when
// it has exactly the shape hping3's printf formats produce (single spaces,
// integers without sign or leading zeros, rtt with one decimal as "%.1f"),
// so garbage or a truncated line is Unknown and never counted as an answer.
// It runs on every line of every probe, so it avoids regexp and allocates
// nothing except for -V's joined text.
type Parser struct {
	// pending is a -V reply's first line waiting for its tail. ready is a
	// complete record held back for one call because Feed had another to
	// return first (only when a first line is not followed by its tail).
	// At most one of the two is set at any time, so Flush loses nothing.
	pending, ready       Line
	hasPending, hasReady bool
}

// Feed takes one physical line (without its newline) and returns a complete
// record when one is ready. With -V the first line of a reply returns
// ok == false and the record is completed by the next line.
//
// Every line fed comes back in exactly one record, in order: a -V first line
// whose tail never arrives is returned on its own as a Reply with Seq and RTT
// absent (-1).
func (p *Parser) Feed(s string) (l Line, ok bool) {
	if p.hasPending {
		joined := p.pending
		if parseTail(&joined, s) {
			p.hasPending = false
			joined.Text = p.pending.Text + "\n" + s
			return joined, true
		}
		// The tail never came: the first line goes out incomplete.
		out := p.pending
		p.hasPending = false
		p.hold(s)
		return out, true
	}
	if p.hasReady {
		out := p.ready
		p.hasReady = false
		p.hold(s)
		return out, true
	}
	l, complete := parseLine(s)
	if !complete {
		p.pending, p.hasPending = l, true
		return Line{}, false
	}
	return l, true
}

// hold parses s and keeps its record for the next call.
func (p *Parser) hold(s string) {
	l, complete := parseLine(s)
	if complete {
		p.ready, p.hasReady = l, true
	} else {
		p.pending, p.hasPending = l, true
	}
}

// Flush returns a record still waiting for its second line, if any.
func (p *Parser) Flush() (Line, bool) {
	switch {
	case p.hasReady:
		p.hasReady = false
		return p.ready, true
	case p.hasPending:
		p.hasPending = false
		return p.pending, true
	}
	return Line{}, false
}

// parseLine classifies one physical line. complete is false only for the
// first line of a -V reply.
func parseLine(s string) (l Line, complete bool) {
	l = Line{Kind: Unknown, Text: s, TTL: -1, Seq: -1, RTT: -1}
	switch {
	case strings.HasPrefix(s, "len=") || strings.HasPrefix(s, "DUP! len="):
		return parseReply(l)
	case strings.HasPrefix(s, "ICMP "), strings.HasPrefix(s, "TTL 0 during "):
		parseICMPError(&l)
	case strings.HasPrefix(s, "status="):
		parseUDPStatus(&l)
	case strings.HasPrefix(s, "HPING "):
		l.Kind = Header
	case strings.HasPrefix(s, "Option error: "), isBracketMessage(s):
		l.Kind = Message
	}
	return l, true
}

// parseReply reads "[DUP! ]len=%d ip=%s ttl=%d [DF ]id=[+]%d " and then either
// a tail on the same line or, with -V, "tos=%x iplen=%u" (tail on the next
// line). Anything else leaves the line Unknown.
func parseReply(base Line) (Line, bool) {
	l := base
	rest := l.Text
	if r, ok := strings.CutPrefix(rest, "DUP! "); ok {
		l.Dup, rest = true, r
	}
	var f string
	var ok bool
	f, rest = field(rest)
	if l.Len, ok = intValue(f, "len="); !ok {
		return base, true
	}
	f, rest = field(rest)
	if l.IP, ok = strings.CutPrefix(f, "ip="); !ok || !isIPv4Text(l.IP) {
		return base, true
	}
	f, rest = field(rest)
	if l.TTL, ok = intValue(f, "ttl="); !ok {
		return base, true
	}
	f, rest = field(rest)
	if f == "DF" {
		l.DF = true
		f, rest = field(rest)
	}
	id, ok := strings.CutPrefix(f, "id=")
	if !ok {
		return base, true
	}
	id = strings.TrimPrefix(id, "+") // -r prints the delta as "+N"
	if l.ID, ok = canonicalInt(id); !ok {
		return base, true
	}
	if strings.HasPrefix(rest, "tos=") {
		// -V: "tos=%x iplen=%u", then the tail on the next line.
		f, rest = field(rest)
		if !isHex(f[len("tos="):]) {
			return base, true
		}
		// The last field is the whole rest: a trailing space is malformed.
		if _, ok := intValue(rest, "iplen="); !ok {
			return base, true
		}
		// A Reply already, with Seq and RTT absent until the tail arrives.
		l.Kind = Reply
		return l, false
	}
	if !parseTail(&l, rest) {
		return base, true
	}
	return l, true
}

// parseTail reads a reply's tail into l: ICMP "icmp_seq=%d rtt=%.1f ms",
// TCP "sport=%d flags=%s seq=%d win=%d rtt=%.1f ms" or UDP "seq=%d rtt=%.1f
// ms". It reports false, leaving l untouched, when s is none of these.
func parseTail(l *Line, s string) bool {
	t := *l
	f, rest := field(s)
	var ok bool
	switch {
	case strings.HasPrefix(f, "icmp_seq="):
		t.ICMP = true
		if t.Seq, ok = intValue(f, "icmp_seq="); !ok {
			return false
		}
	case strings.HasPrefix(f, "sport="):
		if t.SPort, ok = intValue(f, "sport="); !ok {
			return false
		}
		f, rest = field(rest)
		if t.Flags, ok = strings.CutPrefix(f, "flags="); !ok || !isTCPFlags(t.Flags) {
			return false
		}
		f, rest = field(rest)
		if t.Seq, ok = intValue(f, "seq="); !ok {
			return false
		}
		f, rest = field(rest)
		if t.Win, ok = intValue(f, "win="); !ok {
			return false
		}
	case strings.HasPrefix(f, "seq="):
		if t.Seq, ok = intValue(f, "seq="); !ok {
			return false
		}
	default:
		return false
	}
	f, rest = field(rest)
	v, ok := strings.CutPrefix(f, "rtt=")
	if !ok || rest != "ms" {
		return false
	}
	rtt, ok := decimal(v)
	if !ok {
		return false
	}
	// A negative rtt (the clock stepped back) is a reply without a usable time.
	t.RTT = rtt
	if rtt < 0 {
		t.RTT = -1
	}
	t.Kind = Reply
	*l = t
	return true
}

// parseICMPError reads "ICMP <what> from ip=%s" and "TTL 0 during
// transit|reassembly from ip=%s". Without -n hping3 appends "name=..." right
// after the address; the address is still taken.
func parseICMPError(l *Line) {
	what, ip, ok := strings.Cut(l.Text, " from ip=")
	if !ok {
		return
	}
	what = strings.TrimPrefix(what, "ICMP ")
	if what == "" || strings.Contains(what, "  ") {
		return
	}
	if i := strings.Index(ip, "name="); i >= 0 {
		ip = ip[:i]
	}
	if !isIPv4Text(ip) {
		return
	}
	l.Kind, l.Error, l.IP = ICMPError, what, ip
}

// parseUDPStatus reads Debian's "status=%d port=%d seq=%d".
func parseUDPStatus(l *Line) {
	f, rest := field(l.Text)
	status, ok := intValue(f, "status=")
	if !ok {
		return
	}
	f, rest = field(rest)
	port, ok := intValue(f, "port=")
	if !ok {
		return
	}
	seq, ok := intValue(rest, "seq=") // the whole rest: nothing may follow
	if !ok {
		return
	}
	l.Kind, l.Status, l.Port, l.Seq = UDPStatus, status, port, seq
}

// isBracketMessage matches hping3's "[function] text" diagnostics such as
// "[main] can't open raw socket", but not its "[|tcp]" truncation markers.
func isBracketMessage(s string) bool {
	name, _, ok := strings.Cut(s, "] ")
	if !ok || len(name) < 2 || name[0] != '[' {
		return false
	}
	for _, c := range []byte(name[1:]) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// field splits off the text up to the next single space. hping3 separates
// its fields with exactly one space, so an empty field is a malformed line.
// rest is empty both at the end and after a trailing space, so a line's last
// field is parsed from rest itself, never with field.
func field(s string) (f, rest string) {
	f, rest, _ = strings.Cut(s, " ")
	return f, rest
}

// intValue parses the canonical unsigned integer after key in f.
func intValue(f, key string) (int, bool) {
	v, ok := strings.CutPrefix(f, key)
	if !ok {
		return 0, false
	}
	return canonicalInt(v)
}

// canonicalInt parses a decimal integer as "%d" prints a non-negative int:
// digits only, no sign, no leading zero, at most 2^31-1 (hping3's C ints).
func canonicalInt(s string) (int, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 1<<31-1
}

// decimal parses a number as "%.1f" prints it: an optional minus, an
// integer part without leading zeros, a dot and exactly one digit.
func decimal(s string) (float64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 1 || frac[0] < '0' || frac[0] > '9' || len(whole) > 14 {
		return 0, false
	}
	w, ok := wholeNumber(whole)
	if !ok {
		return 0, false
	}
	// One division of the exact integer w*10+d rounds to the same float64
	// as the decimal literal, so 1.2 parses to exactly 1.2.
	v := float64(w*10+int64(frac[0]-'0')) / 10
	if neg {
		v = -v
	}
	return v, true
}

// wholeNumber is canonicalInt without the 32-bit bound, for the integer part
// of a "%.1f" value (up to 14 digits, so that w*10+d stays exact in a float64).
func wholeNumber(s string) (int64, bool) {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isHex(s string) bool {
	if s == "" || len(s) > 8 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isIPv4Text accepts what inet_ntoa prints: four dot-separated decimal
// numbers 0-255.
func isIPv4Text(s string) bool {
	for i := 0; i < 4; i++ {
		part := s
		if i < 3 {
			var ok bool
			if part, s, ok = strings.Cut(s, "."); !ok {
				return false
			}
		}
		n, ok := canonicalInt(part)
		if !ok || n > 255 {
			return false
		}
	}
	return true
}

// isTCPFlags accepts hping3's flag string: a subset of RSAFPUXY in that
// order, or "none".
func isTCPFlags(s string) bool {
	if s == "none" {
		return true
	}
	const order = "RSAFPUXY"
	i := 0
	for _, c := range []byte(s) {
		j := strings.IndexByte(order[i:], c)
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return s != ""
}
