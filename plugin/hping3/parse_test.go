package hping3

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Expected records, built from the fields hping3 printed. Text is checked
// separately (every input line comes back in exactly one record, in order).
func hdr() Line { return Line{Kind: Header, TTL: -1, Seq: -1, RTT: -1} }
func unk() Line { return Line{Kind: Unknown, TTL: -1, Seq: -1, RTT: -1} }
func msg() Line { return Line{Kind: Message, TTL: -1, Seq: -1, RTT: -1} }

func echo(ip string, ttl, id, seq int, rtt float64) Line {
	return Line{Kind: Reply, Len: 28, IP: ip, TTL: ttl, ID: id, Seq: seq, RTT: rtt, ICMP: true}
}

func tcp(n int, ip string, ttl, sport int, flags string, seq, win int, rtt float64) Line {
	return Line{Kind: Reply, Len: n, IP: ip, TTL: ttl, DF: true, ID: 0, SPort: sport, Flags: flags, Seq: seq, Win: win, RTT: rtt}
}

func icmpErr(what, ip string) Line {
	return Line{Kind: ICMPError, Error: what, IP: ip, TTL: -1, Seq: -1, RTT: -1}
}

func udpStatus(status, port, seq int) Line {
	return Line{Kind: UDPStatus, Status: status, Port: port, Seq: seq, TTL: -1, RTT: -1}
}

func dup(l Line) Line { l.Dup = true; return l }

// stdoutCases holds the exact records of every captured stdout in testdata.
var stdoutCases = map[string][]Line{
	"bad-option": nil,
	"bad-value":  {msg()},
	"frag-needed": {hdr(),
		icmpErr("Fragmentation Needed/DF set", "198.18.0.2"),
		icmpErr("Fragmentation Needed/DF set", "198.18.0.2"),
		icmpErr("Fragmentation Needed/DF set", "198.18.0.2")},
	"host-unreachable": {hdr(),
		icmpErr("Host Unreachable", "198.18.0.2"),
		icmpErr("Host Unreachable", "198.18.0.2"),
		icmpErr("Host Unreachable", "198.18.0.2")},
	"icmp-dup-verbose": {unk(), hdr(),
		echo("198.19.2.1", 63, 43432, 0, 0.6),
		dup(echo("198.19.2.1", 63, 43432, 0, 0.6)),
		echo("198.19.2.1", 63, 43447, 1, 0.4)},
	"icmp-dup": {hdr(),
		echo("198.19.2.1", 63, 43310, 0, 0.4),
		dup(echo("198.19.2.1", 63, 43310, 0, 0.4)),
		echo("198.19.2.1", 63, 43345, 1, 0.1)},
	"icmp-echo-lab": {hdr(),
		echo("198.19.0.1", 63, 16390, 0, 1.2),
		echo("198.19.0.1", 63, 16399, 1, 0.7),
		echo("198.19.0.1", 63, 16443, 2, 1.2)},
	"icmp-echo": {hdr(),
		echo("127.0.0.1", 64, 47206, 0, 0.4),
		echo("127.0.0.1", 64, 47218, 1, 1.0),
		echo("127.0.0.1", 64, 47264, 2, 0.8)},
	"icmp-relid": {hdr(),
		echo("127.0.0.1", 64, 47389, 0, 0.8),
		echo("127.0.0.1", 64, 19, 1, 0.7),
		echo("127.0.0.1", 64, 44, 2, 0.5)},
	"icmp-verbose": {unk(), hdr(),
		echo("127.0.0.1", 64, 47461, 0, 0.4),
		echo("127.0.0.1", 64, 47486, 1, 0.1),
		echo("127.0.0.1", 64, 47517, 2, 0.9)},
	"net-unreachable": {hdr(),
		icmpErr("Network Unreachable", "198.18.0.2"),
		icmpErr("Network Unreachable", "198.18.0.2"),
		icmpErr("Network Unreachable", "198.18.0.2")},
	"no-permission":   {msg()},
	"no-reply":        {hdr()},
	"packet-filtered": {hdr(), icmpErr("Packet filtered", "198.18.0.2")},
	"prot-unreachable": {hdr(),
		icmpErr("Protocol Unreachable", "198.18.0.2"),
		udpStatus(0, 3001, 1)},
	"sendto-unreachable": {hdr()},
	"synthetic-glitch": {hdr(),
		echo("127.0.0.1", 64, 47206, 0, 0.4),
		echo("127.0.0.1", 64, 47218, 1, 1001.0),
		echo("127.0.0.1", 64, 47264, 2, 0.8)},
	"tcp-closed": {hdr(),
		tcp(40, "127.0.0.1", 64, 81, "RA", 0, 0, 0.3),
		tcp(40, "127.0.0.1", 64, 81, "RA", 1, 0, 0.1),
		tcp(40, "127.0.0.1", 64, 81, "RA", 2, 0, 0.9)},
	"tcp-dup": {hdr(),
		tcp(40, "198.19.2.1", 63, 81, "RA", 0, 0, 0.6),
		dup(tcp(40, "198.19.2.1", 63, 81, "RA", 0, 0, 0.6)),
		tcp(40, "198.19.2.1", 63, 81, "RA", 1, 0, 0.3)},
	"tcp-open": {hdr(),
		tcp(44, "127.0.0.1", 64, 8080, "SA", 0, 65495, 0.8),
		tcp(44, "127.0.0.1", 64, 8080, "SA", 1, 65495, 0.5),
		tcp(44, "127.0.0.1", 64, 8080, "SA", 2, 65495, 0.4)},
	// -V: each reply is joined from two lines; the TCP seq/ack/sum/urp line
	// and the empty line after it are Unknown.
	"tcp-verbose": {unk(), hdr(),
		tcp(44, "127.0.0.1", 64, 8080, "SA", 0, 65495, 0.3), unk(), unk(),
		tcp(44, "127.0.0.1", 64, 8080, "SA", 1, 65495, 0.1), unk(), unk(),
		tcp(44, "127.0.0.1", 64, 8080, "SA", 2, 65495, 0.9), unk(), unk()},
	// Traceroute hop lines are Unknown: the plugin never passes -T.
	"traceroute": {hdr(), unk(), unk(),
		echo("198.19.0.1", 63, 18691, 1, 0.1),
		echo("198.19.0.1", 63, 18722, 2, 0.9)},
	"ttl-reassembly": {hdr(), icmpErr("TTL 0 during reassembly", "198.19.0.1")},
	"ttl-transit": {hdr(),
		icmpErr("TTL 0 during transit", "198.18.0.2"),
		icmpErr("TTL 0 during transit", "198.18.0.2")},
	"udp-closed-lab": {hdr(),
		icmpErr("Port Unreachable", "198.19.0.1"), udpStatus(0, 3000, 0),
		icmpErr("Port Unreachable", "198.19.0.1"), udpStatus(0, 3001, 1),
		icmpErr("Port Unreachable", "198.19.0.1"), udpStatus(0, 3002, 2)},
	"udp-closed": {hdr(),
		icmpErr("Port Unreachable", "127.0.0.1"), udpStatus(0, 3000, 0),
		icmpErr("Port Unreachable", "127.0.0.1"), udpStatus(0, 3001, 1),
		icmpErr("Port Unreachable", "127.0.0.1"), udpStatus(0, 3002, 2)},
	"udp-dup": {hdr(),
		icmpErr("Port Unreachable", "198.19.2.1"), udpStatus(0, 3000, 0),
		icmpErr("Port Unreachable", "198.19.2.1"), udpStatus(1, 3000, 0),
		icmpErr("Port Unreachable", "198.19.2.1"), udpStatus(0, 3001, 1)},
	"unreachable-type": {hdr(),
		icmpErr("Unreachable type=10", "198.18.0.2"),
		icmpErr("Unreachable type=10", "198.18.0.2")},
	"unresolvable": nil,
}

func rtt(lo, avg, hi float64) Summary { return Summary{Min: lo, Avg: avg, Max: hi, HasRTT: true} }

type wantSummary struct {
	ok                   bool
	target               string
	sent, recv, loss, oo int
	rtt                  Summary // Min/Avg/Max/HasRTT only
}

// stderrCases holds the exact statistics of every captured stderr.
var stderrCases = map[string]wantSummary{
	"bad-option":                {},
	"bad-value":                 {},
	"frag-needed":               {true, "198.19.0.1", 3, 3, 0, 0, rtt(0, 0, 0)},
	"host-unreachable":          {true, "198.19.3.1", 3, 3, 0, 0, rtt(0, 0, 0)},
	"icmp-dup-verbose":          {true, "198.19.2.1", 2, 3, -50, 0, rtt(0.4, 0.5, 0.6)},
	"icmp-dup":                  {true, "198.19.2.1", 2, 3, -50, 0, rtt(0.1, 0.3, 0.4)},
	"icmp-echo-lab":             {true, "198.19.0.1", 3, 3, 0, 0, rtt(0.7, 1.0, 1.2)},
	"icmp-echo":                 {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.4, 0.8, 1.0)},
	"icmp-relid":                {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.5, 0.7, 0.8)},
	"icmp-verbose":              {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.1, 0.5, 0.9)},
	"net-unreachable":           {true, "198.19.3.2", 3, 3, 0, 0, rtt(0, 0, 0)},
	"no-permission":             {},
	"no-reply":                  {true, "198.19.1.1", 3, 0, 100, 0, rtt(0, 0, 0)},
	"packet-filtered":           {true, "198.19.3.4", 3, 1, 67, 0, rtt(0, 0, 0)},
	"prot-unreachable":          {true, "198.19.3.3", 3, 1, 67, 0, rtt(0.2, 0.2, 0.2)},
	"sendto-unreachable":        {},
	"synthetic-out-of-sequence": {true, "198.19.2.1", 4, 5, -25, 2, rtt(0.1, 0.3, 0.6)},
	"synthetic-tramitted":       {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.2, 0.4, 0.7)},
	"tcp-closed":                {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.1, 0.4, 0.9)},
	"tcp-dup":                   {true, "198.19.2.1", 2, 3, -50, 0, rtt(0.3, 0.5, 0.6)},
	"tcp-open":                  {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.4, 0.6, 0.8)},
	"tcp-verbose":               {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.1, 0.4, 0.9)},
	"traceroute":                {true, "198.19.0.1", 3, 3, 0, 0, rtt(0.1, 0.5, 0.9)},
	"ttl-reassembly":            {true, "198.19.0.1", 2, 1, 50, 0, rtt(0, 0, 0)},
	"ttl-transit":               {true, "198.19.0.1", 3, 2, 34, 0, rtt(0, 0, 0)},
	"udp-closed-lab":            {true, "198.19.0.1", 3, 3, 0, 0, rtt(0.5, 0.9, 1.3)},
	"udp-closed":                {true, "127.0.0.1", 3, 3, 0, 0, rtt(0.5, 0.7, 1.0)},
	"udp-dup":                   {true, "198.19.2.1", 2, 3, -50, 0, rtt(0.6, 0.8, 0.8)},
	"unreachable-type":          {true, "198.19.3.5", 3, 2, 34, 0, rtt(0, 0, 0)},
	"unresolvable":              {},
}

// testdataFiles returns name -> content for every testdata file with ext.
func testdataFiles(t testing.TB, ext string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*"+ext))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/*%s files (err %v)", ext, err)
	}
	files := make(map[string]string, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(filepath.Base(p), ext)] = string(b)
	}
	return files
}

// physicalLines splits stdout as a line reader would: no trailing empty
// element for the final newline.
func physicalLines(out string) []string {
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// parseAll feeds every line and flushes, as the runner does.
func parseAll(lines []string) []Line {
	var p Parser
	var got []Line
	for _, s := range lines {
		if l, ok := p.Feed(s); ok {
			got = append(got, l)
		}
	}
	if l, ok := p.Flush(); ok {
		got = append(got, l)
	}
	return got
}

// checkTexts asserts that the records' texts are the input lines, each used
// exactly once and in order.
func checkTexts(t *testing.T, lines []string, got []Line) {
	t.Helper()
	var texts []string
	for _, l := range got {
		texts = append(texts, l.Text)
	}
	if j, want := strings.Join(texts, "\n"), strings.Join(lines, "\n"); j != want {
		t.Errorf("texts of the records:\n%q\nwant the input lines:\n%q", j, want)
	}
}

func TestFeedCaptures(t *testing.T) {
	files := testdataFiles(t, ".stdout")
	for name := range files {
		if _, ok := stdoutCases[name]; !ok {
			t.Errorf("testdata/%s.stdout has no expected records in stdoutCases", name)
		}
	}
	for name, want := range stdoutCases {
		t.Run(name, func(t *testing.T) {
			out, ok := files[name]
			if !ok {
				t.Fatalf("testdata/%s.stdout is missing", name)
			}
			lines := physicalLines(out)
			got := parseAll(lines)
			checkTexts(t, lines, got)
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d:\n%+v", len(got), len(want), got)
			}
			for i := range got {
				g := got[i]
				g.Text = ""
				if !reflect.DeepEqual(g, want[i]) {
					t.Errorf("record %d (%q):\n got %+v\nwant %+v", i, got[i].Text, g, want[i])
				}
			}
		})
	}
}

func TestParseSummaryCaptures(t *testing.T) {
	files := testdataFiles(t, ".stderr")
	for name := range files {
		if _, ok := stderrCases[name]; !ok {
			t.Errorf("testdata/%s.stderr has no expected summary in stderrCases", name)
		}
	}
	for name, w := range stderrCases {
		t.Run(name, func(t *testing.T) {
			errText, ok := files[name]
			if !ok {
				t.Fatalf("testdata/%s.stderr is missing", name)
			}
			got, ok := ParseSummary(errText)
			want := Summary{}
			if w.ok {
				want = w.rtt
				want.Target, want.Transmitted, want.Received, want.LossPercent, want.OutOfSeq =
					w.target, w.sent, w.recv, w.loss, w.oo
			}
			if ok != w.ok || got != want {
				t.Errorf("ParseSummary = %+v, %v\nwant %+v, %v", got, ok, want, w.ok)
			}
		})
	}
}

// TestFeedLines covers forms the captures cannot show (other ICMP codes,
// output without -n, UDP replies from an open port) and malformed lines,
// which must stay Unknown so that garbage is never counted as an answer.
func TestFeedLines(t *testing.T) {
	udpReply := Line{Kind: Reply, Len: 28, IP: "198.19.0.1", TTL: 63, ID: 7, Seq: 4, RTT: 12.5}
	none := tcp(40, "198.19.0.1", 63, 80, "none", 2, 512, 0.2)
	none.DF = false
	all := tcp(40, "198.19.0.1", 63, 80, "RSAFPUXY", 2, 512, 0.2)
	all.DF = false
	negative := echo("127.0.0.1", 64, 5, 3, -1)
	big := echo("127.0.0.1", 64, 65535, 65535, 999999.9)
	tests := []struct {
		in   string
		want Line
	}{
		{"ICMP Source Route failed from ip=198.18.0.2", icmpErr("Source Route failed", "198.18.0.2")},
		{"ICMP Precedence violation from ip=198.18.0.2", icmpErr("Precedence violation", "198.18.0.2")},
		{"ICMP precedence cut off from ip=198.18.0.2", icmpErr("precedence cut off", "198.18.0.2")},
		{"ICMP Unreachable type=15 from ip=198.18.0.2", icmpErr("Unreachable type=15", "198.18.0.2")},
		// Without -n hping3 appends the reverse lookup right after the address.
		{"ICMP Host Unreachable from ip=198.18.0.2name=UNKNOWN", icmpErr("Host Unreachable", "198.18.0.2")},
		{"TTL 0 during transit from ip=198.18.0.2name=router.lab", icmpErr("TTL 0 during transit", "198.18.0.2")},
		{"len=28 ip=198.19.0.1 ttl=63 id=7 seq=4 rtt=12.5 ms", udpReply},
		{"len=40 ip=198.19.0.1 ttl=63 id=0 sport=80 flags=none seq=2 win=512 rtt=0.2 ms", none},
		{"len=40 ip=198.19.0.1 ttl=63 id=0 sport=80 flags=RSAFPUXY seq=2 win=512 rtt=0.2 ms", all},
		// A clock stepped back: still a reply, without a usable time.
		{"len=28 ip=127.0.0.1 ttl=64 id=5 icmp_seq=3 rtt=-0.3 ms", negative},
		{"len=28 ip=127.0.0.1 ttl=64 id=65535 icmp_seq=65535 rtt=999999.9 ms", big},
		{"[main] can't open raw socket", msg()},
		{"[send_ip] sendto: Network is unreachable", msg()},
		{"Option error: count must > 0", msg()},
		{"HPING 127.0.0.1 (lo 127.0.0.1): icmp mode set, 28 headers + 0 data bytes", hdr()},
		{"status=0 port=3000 seq=0", udpStatus(0, 3000, 0)},

		// Malformed, truncated or foreign lines.
		{"", unk()},
		{"[|tcp]", unk()},
		{"[|icmp quoted ip]", unk()},
		{"hop=1 TTL 0 during transit from ip=198.18.0.2", unk()},
		{"hop=1 hoprtt=0.3 ms", unk()},
		{"seq=3517572683 ack=996203965 sum=20fe urp=0", unk()},
		{"using lo, addr: 127.0.0.1, MTU: 65536", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_se", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=0.4", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=0.4 ms extra", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=0.25 ms", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=.4 ms", unk()},
		{"len=28 ip=127.0.0.1 ttl=064 id=1 icmp_seq=0 rtt=0.4 ms", unk()},
		{"len=28  ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=0.4 ms", unk()},
		{"len=28 ip=127.0.0.256 ttl=64 id=1 icmp_seq=0 rtt=0.4 ms", unk()},
		{"len=28 ip=localhost ttl=64 id=1 icmp_seq=0 rtt=0.4 ms", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=+ icmp_seq=0 rtt=0.4 ms", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=99999999999 rtt=0.4 ms", unk()},
		{"len=28 ip=127.0.0.1 ttl=-1 id=1 icmp_seq=0 rtt=0.4 ms", unk()},
		{"len=40 ip=127.0.0.1 ttl=64 DF id=0 sport=80 flags=AS seq=0 win=0 rtt=0.4 ms", unk()},
		{"len=40 ip=127.0.0.1 ttl=64 DF id=0 sport=80 flags= seq=0 win=0 rtt=0.4 ms", unk()},
		{"DUP! ", unk()},
		{"ICMP timestamp: Originate=1 Receive=2 Transmit=3", unk()},
		{"ICMP  from ip=198.18.0.2", unk()},
		{"ICMP Host Unreachable from ip=", unk()},
		{"status=0 port=3000", unk()},
		{"status=0 port=3000 seq=0 more", unk()},
		// Found by FuzzFeed: a trailing space after the last field.
		{"status=0 port=0 seq=0 ", unk()},
		{"len=28 ip=127.0.0.1 ttl=64 id=1 icmp_seq=0 rtt=0.4 ms ", unk()},
	}
	for _, tt := range tests {
		var p Parser
		got, ok := p.Feed(tt.in)
		if !ok {
			t.Errorf("Feed(%q) held the line back; only a -V first line may", tt.in)
			continue
		}
		if got.Text != tt.in {
			t.Errorf("Feed(%q).Text = %q", tt.in, got.Text)
		}
		got.Text = ""
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Feed(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
		if l, ok := p.Flush(); ok {
			t.Errorf("Flush after %q returned %+v", tt.in, l)
		}
	}
}

// TestFeedVerboseInterrupted: a -V first line whose tail does not follow is
// returned on its own, incomplete, and nothing after it is lost or reordered.
func TestFeedVerboseInterrupted(t *testing.T) {
	first := "len=28 ip=127.0.0.1 ttl=64 id=9 tos=0 iplen=28"
	incomplete := Line{Kind: Reply, Len: 28, IP: "127.0.0.1", TTL: 64, ID: 9, Seq: -1, RTT: -1}
	lines := []string{
		first,
		"ICMP Host Unreachable from ip=198.18.0.2", // interrupts: first goes out alone
		"HPING 127.0.0.1 (lo 127.0.0.1): icmp mode set, 28 headers + 0 data bytes",
		first, // held back behind the header, then completed
		"icmp_seq=4 rtt=0.5 ms",
		first, first, // a second first line interrupts the first
		"icmp_seq=6 rtt=0.7 ms",
		first, // truncated at the end: Flush returns it
	}
	complete := func(seq int, rtt float64) Line { return echo("127.0.0.1", 64, 9, seq, rtt) }
	want := []Line{incomplete, icmpErr("Host Unreachable", "198.18.0.2"), hdr(),
		complete(4, 0.5), incomplete, complete(6, 0.7), incomplete}

	var p Parser
	if _, ok := p.Feed(first); ok {
		t.Fatal("a -V first line must wait for its tail")
	}
	p = Parser{}
	var got []Line
	for _, s := range lines {
		if l, ok := p.Feed(s); ok {
			got = append(got, l)
		}
	}
	if l, ok := p.Flush(); ok {
		got = append(got, l)
	}
	checkTexts(t, lines, got)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g := got[i]
		g.Text = ""
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("record %d (%q):\n got %+v\nwant %+v", i, got[i].Text, g, want[i])
		}
	}
	if l, ok := p.Flush(); ok {
		t.Errorf("second Flush returned %+v", l)
	}
}

func TestParseSummaryForms(t *testing.T) {
	block := "\n--- 198.19.0.1 hping statistic ---\n3 packets transmitted, 2 packets received, 34% packet loss\n"
	tests := []struct {
		name string
		in   string
		want Summary
		ok   bool
	}{
		{"empty", "", Summary{}, false},
		{"resolve error", "Unable to resolve 'nonexistent.invalid'\n", Summary{}, false},
		{"heading only (killed mid-print)", "\n--- 198.19.0.1 hping statistic ---\n", Summary{Target: "198.19.0.1"}, false},
		{"no rtt line", block, Summary{Target: "198.19.0.1", Transmitted: 3, Received: 2, LossPercent: 34}, true},
		{"no trailing newline", strings.TrimSuffix(block, "\n") + "\nround-trip min/avg/max = 1.0/2.5/1000.3 ms",
			Summary{Target: "198.19.0.1", Transmitted: 3, Received: 2, LossPercent: 34, Min: 1, Avg: 2.5, Max: 1000.3, HasRTT: true}, true},
		{"malformed rtt line", block + "round-trip min/avg/max = 1.0/2.5 ms\n",
			Summary{Target: "198.19.0.1", Transmitted: 3, Received: 2, LossPercent: 34}, true},
		{"warnings before", "Warning: Unable to guess the output interface\n" + block,
			Summary{Target: "198.19.0.1", Transmitted: 3, Received: 2, LossPercent: 34}, true},
		{"negative loss", "2 packets transmitted, 3 packets received, -50% packet loss\n",
			Summary{Transmitted: 2, Received: 3, LossPercent: -50}, true},
		{"minus zero loss is not hping3's", "2 packets transmitted, 2 packets received, -0% packet loss\n", Summary{}, false},
		{"garbled counts", "3 packets sent, 3 packets received, 0% packet loss\n", Summary{}, false},
		{"counts missing loss", "3 packets transmitted, 3 packets received\n", Summary{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseSummary(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: ParseSummary = %+v, %v\nwant %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
