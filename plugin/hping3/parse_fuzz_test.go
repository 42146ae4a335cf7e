package hping3

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// Run longer with:
//
//	go test ./plugin/hping3 -run '^$' -fuzz '^FuzzFeed$' -fuzztime 30s
//	go test ./plugin/hping3 -run '^$' -fuzz '^FuzzParseSummary$' -fuzztime 30s
//
// Crashers land in testdata/fuzz/<Name>/ and then run with every go test.

// FuzzFeed feeds arbitrary stdout, line by line, and checks what every
// record must satisfy whatever the input.
func FuzzFeed(f *testing.F) {
	for _, out := range testdataFiles(f, ".stdout") {
		f.Add(out)
	}
	for _, l := range []string{
		"len=28 ip=127.0.0.1 ttl=64 id=9 tos=0 iplen=28\nicmp_seq=0 rtt=0.5 ms",
		"len=28 ip=127.0.0.1 ttl=64 id=9 tos=0 iplen=28\nICMP Host Unreachable from ip=198.18.0.2",
		"DUP! len=40 ip=198.19.2.1 ttl=63 DF id=+3 sport=81 flags=RA seq=0 win=0 rtt=-0.6 ms",
		"len=28 ip=198.19.0.1 ttl=63 id=7 seq=4 rtt=12.5 ms",
		"ICMP Host Unreachable from ip=198.18.0.2name=UNKNOWN",
	} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, out string) {
		lines := strings.Split(out, "\n")
		got := parseAll(lines)
		checkTexts(t, lines, got)
		for _, l := range got {
			checkLine(t, l)
		}
	})
}

// checkLine asserts the invariants of one record: a valid Kind, the
// documented sentinels, and fields that reproduce the text hping3 printed.
func checkLine(t *testing.T, l Line) {
	t.Helper()
	if l.Kind < Unknown || l.Kind > Message {
		t.Fatalf("invalid kind %d for %q", l.Kind, l.Text)
	}
	if math.IsNaN(l.RTT) || math.IsInf(l.RTT, 0) || l.RTT < 0 && l.RTT != -1 {
		t.Fatalf("rtt %v for %q: want -1 or a finite non-negative value", l.RTT, l.Text)
	}
	if l.Seq < -1 || l.TTL < -1 {
		t.Fatalf("seq %d ttl %d for %q: below the -1 sentinel", l.Seq, l.TTL, l.Text)
	}
	switch l.Kind {
	case Reply:
		checkReply(t, l)
	case ICMPError:
		if l.Error == "" || l.TTL != -1 || l.Seq != -1 || l.RTT != -1 {
			t.Fatalf("ICMP error %+v: want an error text and TTL, Seq, RTT -1", l)
		}
		if !strings.Contains(l.Text, l.Error+" from ip="+l.IP) {
			t.Fatalf("ICMP error %+v: fields do not appear in the text", l)
		}
	case UDPStatus:
		if want := fmt.Sprintf("status=%d port=%d seq=%d", l.Status, l.Port, l.Seq); l.Text != want || l.RTT != -1 || l.TTL != -1 {
			t.Fatalf("UDP status %+v: want text %q and TTL, RTT -1", l, want)
		}
	default:
		if l.TTL != -1 || l.Seq != -1 || l.RTT != -1 || l.IP != "" || l.Dup || l.ICMP || l.Flags != "" {
			t.Fatalf("%v line %+v carries reply fields", l.Kind, l)
		}
	}
}

// checkReply re-prints a reply with hping3's own formats and compares.
func checkReply(t *testing.T, l Line) {
	t.Helper()
	if l.TTL < 0 || l.Len < 0 || l.ID < 0 || !isIPv4Text(l.IP) {
		t.Fatalf("reply %+v: negative or invalid prefix fields", l)
	}
	if l.Seq == -1 {
		// A -V first line without its tail.
		if l.RTT != -1 || l.Flags != "" || l.ICMP || strings.Contains(l.Text, "\n") {
			t.Fatalf("incomplete reply %+v has tail fields", l)
		}
		return
	}
	if l.ICMP && (l.Flags != "" || l.SPort != 0) {
		t.Fatalf("reply %+v is both ICMP and TCP", l)
	}
	var tail string
	rtt := fmt.Sprintf("%.1f", l.RTT)
	if l.RTT == -1 {
		// Only a negative printed rtt maps to -1: keep the printed value.
		_, printed, _ := strings.Cut(l.Text, " rtt=")
		rtt = strings.TrimSuffix(printed, " ms")
		if !strings.HasPrefix(rtt, "-") {
			t.Fatalf("reply %+v: rtt absent but printed %q", l, rtt)
		}
	}
	switch {
	case l.ICMP:
		tail = fmt.Sprintf("icmp_seq=%d rtt=%s ms", l.Seq, rtt)
	case l.Flags != "":
		tail = fmt.Sprintf("sport=%d flags=%s seq=%d win=%d rtt=%s ms", l.SPort, l.Flags, l.Seq, l.Win, rtt)
	default:
		tail = fmt.Sprintf("seq=%d rtt=%s ms", l.Seq, rtt)
	}
	prefix := fmt.Sprintf("len=%d ip=%s ttl=%d ", l.Len, l.IP, l.TTL)
	if l.Dup {
		prefix = "DUP! " + prefix
	}
	if l.DF {
		prefix += "DF "
	}
	first, second, verbose := strings.Cut(l.Text, "\n")
	// -r prints the id as "+N"; the record keeps N.
	first = strings.Replace(first, " id=+", " id=", 1)
	id := fmt.Sprintf("id=%d ", l.ID)
	if verbose {
		if !strings.HasPrefix(first, prefix+id+"tos=") || second != tail {
			t.Fatalf("-V reply %+v does not reproduce %q", l, l.Text)
		}
		return
	}
	if want := prefix + id + tail; first != want {
		t.Fatalf("reply %+v re-prints as %q, text is %q", l, want, l.Text)
	}
}

// FuzzParseSummary checks that whatever stderr holds, a parsed summary
// re-prints as lines present in the input.
func FuzzParseSummary(f *testing.F) {
	for _, e := range testdataFiles(f, ".stderr") {
		f.Add(e)
	}
	f.Add("--- hping statistic ---\n")
	f.Add("1 packets transmitted, 1 packets received, 0% packet loss\nround-trip min/avg/max = -0.0/0.0/0.0 ms")
	f.Fuzz(func(t *testing.T, e string) {
		s, ok := ParseSummary(e)
		if !ok {
			if s.Transmitted != 0 || s.Received != 0 || s.LossPercent != 0 {
				t.Fatalf("no summary, yet counts %+v", s)
			}
			return
		}
		if s.Transmitted < 0 || s.Received < 0 || s.OutOfSeq < 0 {
			t.Fatalf("negative count in %+v", s)
		}
		counts := fmt.Sprintf("%d packets transmitted, %d packets received, %d%% packet loss", s.Transmitted, s.Received, s.LossPercent)
		upstream := strings.Replace(counts, "transmitted", "tramitted", 1)
		if !strings.Contains(e, counts) && !strings.Contains(e, upstream) {
			t.Fatalf("summary %+v: %q is not in the input", s, counts)
		}
		for _, v := range []float64{s.Min, s.Avg, s.Max} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("summary %+v: non-finite round-trip value", s)
			}
		}
		if !s.HasRTT && (s.Min != 0 || s.Avg != 0 || s.Max != 0) {
			t.Fatalf("summary %+v: round-trip values without the round-trip line", s)
		}
		if s.HasRTT {
			rt := fmt.Sprintf("round-trip min/avg/max = %.1f/%.1f/%.1f ms", s.Min, s.Avg, s.Max)
			if !strings.Contains(e, rt) {
				t.Fatalf("summary %+v: %q is not in the input", s, rt)
			}
		}
	})
}
