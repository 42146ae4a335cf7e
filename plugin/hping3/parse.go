package hping3

// Parser reads hping3's stdout one physical line at a time. It keeps state
// only to join -V's two-line replies.
type Parser struct {
	pending *Line
}

// Feed takes one physical line (without its newline) and returns a complete
// record when one is ready. With -V the first line of a reply returns
// ok == false and the record is completed by the next line.
func (p *Parser) Feed(s string) (l Line, ok bool) {
	// Placeholder until the real parser lands.
	return Line{Kind: Unknown, Text: s, TTL: -1, Seq: -1, RTT: -1}, true
}

// Flush returns a record still waiting for its second line, if any.
func (p *Parser) Flush() (Line, bool) {
	if p.pending == nil {
		return Line{}, false
	}
	l := *p.pending
	p.pending = nil
	return l, true
}

// ParseSummary reads the statistics block from hping3's stderr text. ok is
// false when no block is present (hping3 killed, or it failed before sending).
func ParseSummary(stderr string) (s Summary, ok bool) {
	return Summary{}, false
}
