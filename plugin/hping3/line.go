package hping3

// Kind says what a line of hping3's stdout is.
type Kind int

const (
	Unknown   Kind = iota // not recognised; kept in Line.Text for debugging
	Header                // "HPING 127.0.0.1 (lo 127.0.0.1): icmp mode set, ..."
	Reply                 // a TCP or ICMP echo reply: "len=40 ip=... rtt=0.9 ms"
	ICMPError             // "ICMP Host Unreachable from ip=...", "TTL 0 during transit from ip=..."
	UDPStatus             // Debian's "status=0 port=1770 seq=0" after a UDP port unreachable
	Message               // "[main] ...", "Option error: ...", "[send_ip] ..." on stdout
)

func (k Kind) String() string {
	switch k {
	case Header:
		return "header"
	case Reply:
		return "reply"
	case ICMPError:
		return "icmp-error"
	case UDPStatus:
		return "udp-status"
	case Message:
		return "message"
	}
	return "unknown"
}

// Line is one record of hping3's stdout. With -V a reply spans two physical
// lines; the Parser joins them into one Line.
type Line struct {
	Kind Kind
	Text string // the physical line(s) as read

	// Reply fields (Kind == Reply).
	Dup   bool    // hping3 printed "DUP!"
	Len   int     // len=
	IP    string  // ip= (also the sender of an ICMP error)
	TTL   int     // ttl=; -1 when absent
	DF    bool    // "DF" present
	ID    int     // id= (with -r the "+N" delta)
	Seq   int     // seq=, icmp_seq= or the UDP status line's seq=; -1 when absent
	RTT   float64 // rtt= in ms; -1 when absent
	SPort int     // TCP sport= (the target's port); 0 when absent
	Flags string  // TCP flags=, e.g. "SA", "RA", "none"
	Win   int     // TCP win=
	ICMP  bool    // an ICMP echo reply (icmp_seq=)

	// ICMP error fields (Kind == ICMPError): Error is the text between the
	// leading "ICMP " (if any) and " from", e.g. "Host Unreachable",
	// "Port Unreachable", "Packet filtered", "Unreachable type=13",
	// "TTL 0 during transit". IP holds the sender.
	Error string

	// UDP status fields (Kind == UDPStatus): Status 0 first answer, 1 duplicate.
	Status int
	Port   int
}

// Summary is hping3's statistics block from stderr. It is kept for reference
// and for what hping3 tells nowhere else (UDP round-trip times); its counts
// are not trusted (docs/hping3.md, "The summary is not trusted").
type Summary struct {
	Target      string // as in "--- TARGET hping statistic ---"
	Transmitted int
	Received    int
	LossPercent int // may be negative when duplicates push received above sent
	OutOfSeq    int // "N out of sequence packets received"; 0 when absent
	Min         float64
	Avg         float64
	Max         float64
	HasRTT      bool // the round-trip line was present
}

// PortUnreachable reports whether an ICMPError line is a port unreachable,
// the answer a closed UDP port gives, so that no other package compares
// hping3's wording.
func (l Line) PortUnreachable() bool { return l.Kind == ICMPError && l.Error == "Port Unreachable" }
