package bench

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/execd"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// benchRound is a 300-target round as the core returns it: every probe
// answered, RTT detail and two percentiles, one group tag.
func benchRound(n int) core.Report {
	rd := core.Report{Start: time.Unix(1700000000, 0)}
	for i, ip := range Targets(n) {
		rd.Results = append(rd.Results, probe.Result{
			Target: ip, IP: ip, Protocol: config.ICMP, Tags: map[string]string{"site": "lab"},
			Transmitted: 3, Received: 3, TTL: 64,
			RTT: &probe.RTT{Min: 0.1, Avg: 0.2 + float64(i%7)/10, Max: 0.9, Detail: true, StdDev: 0.05,
				Jitter: 0.03, HasJitter: true, Percentiles: []probe.Percentile{{P: 50, Value: 0.2}, {P: 95, Value: 0.8}}},
		})
	}
	return rd
}

// TestEncodeRound pins what the benchmark encodes: one line per target with
// its RTT fields, so the benchmark cannot silently measure an empty round.
func TestEncodeRound(t *testing.T) {
	out := execd.Encode(benchRound(300))
	if n := bytes.Count(out, []byte("\n")); n != 300 {
		t.Fatalf("%d lines, want 300", n)
	}
	first, _, _ := bytes.Cut(out, []byte("\n"))
	for _, want := range []string{"hping3,", "target=198.19.0.1 ", "packets_received=3i", "percentile95_ms=0.8", " 1700000000000000000"} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("first line %q lacks %q", first, want)
		}
	}
}

// BenchmarkEncode measures the execd front end's encoding of one round.
func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{1, 300} {
		rd := benchRound(n)
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				size = len(execd.Encode(rd))
			}
			b.SetBytes(int64(size))
		})
	}
}
