package hping3

import (
	"os"
	"testing"
)

// benchLines is a round's worth of the stdout forms the plugin meets most:
// ICMP, TCP open and closed, UDP unreachable with its status line, ICMP
// errors and DUP!.
func benchLines(b *testing.B) []string {
	b.Helper()
	var lines []string
	for _, name := range []string{"icmp-echo", "tcp-open", "tcp-closed", "udp-closed", "host-unreachable", "icmp-dup"} {
		out, err := os.ReadFile("testdata/" + name + ".stdout")
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, physicalLines(string(out))...)
	}
	return lines
}

// BenchmarkFeed measures one physical line (ns/op and allocs/op are per
// line). Run: go test ./plugin/hping3 -run '^$' -bench Feed -benchmem
func BenchmarkFeed(b *testing.B) {
	lines := benchLines(b)
	var p Parser
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if l, ok := p.Feed(lines[i%len(lines)]); ok && l.Kind == Unknown {
			b.Fatalf("benchmark line %q not recognised", l.Text)
		}
	}
}

// BenchmarkFeedVerbose measures -V replies, two physical lines per op: the
// joined text is the one allocation the parser makes.
func BenchmarkFeedVerbose(b *testing.B) {
	first := "len=28 ip=127.0.0.1 ttl=64 id=47461 tos=0 iplen=28"
	tail := "icmp_seq=0 rtt=0.4 ms"
	var p Parser
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Feed(first)
		if l, ok := p.Feed(tail); !ok || l.Kind != Reply {
			b.Fatal("verbose reply not joined")
		}
	}
}

// BenchmarkParseSummary measures one statistics block.
func BenchmarkParseSummary(b *testing.B) {
	e, err := os.ReadFile("testdata/icmp-echo.stderr")
	if err != nil {
		b.Fatal(err)
	}
	stderr := string(e)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := ParseSummary(stderr); !ok {
			b.Fatal("no summary")
		}
	}
}
