package netlab

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// fpingResult is fping's per-target summary.
type fpingResult struct{ sent, recv int }

var fpingRE = regexp.MustCompile(`xmt/rcv/%loss = (\d+)/(\d+)/`)

// fping pings each addr count times, interval apart (fping sends to the
// next address 1 ms later), from the client namespace and returns fping's own
// counts summed over the addresses, and its whole output.
func fping(t *testing.T, l *Lab, count int, interval time.Duration, addrs ...string) (fpingResult, string) {
	t.Helper()
	testbin.RequireTool(t, "fping")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ms := strconv.Itoa(int(interval / time.Millisecond))
	args := append([]string{"-c", strconv.Itoa(count), "-p", ms, "-i", "1", "-t", "500"}, addrs...)
	out, _ := l.Command(ctx, "fping", args...).CombinedOutput()
	ms2 := fpingRE.FindAllSubmatch(out, -1)
	if len(ms2) != len(addrs) {
		t.Fatalf("fping %v: %d summaries in:\n%s", addrs, len(ms2), out)
	}
	var r fpingResult
	for _, m := range ms2 {
		sent, _ := strconv.Atoi(string(m[1]))
		recv, _ := strconv.Atoi(string(m[2]))
		r.sent += sent
		r.recv += recv
	}
	return r, string(out)
}

// binomial999 returns the central 99.9% interval [lo, hi] of the number of
// successes in n trials of probability p, from the exact binomial
// distribution: 0.05% of the mass lies below lo and 0.05% above hi.
func binomial999(n int, p float64) (lo, hi int) {
	pmf := func(k int) float64 {
		lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
		return math.Exp(lg(n) - lg(k) - lg(n-k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
	}
	cdf := 0.0
	lo, hi = -1, n
	for k := 0; k <= n; k++ {
		cdf += pmf(k)
		if lo < 0 && cdf >= 0.0005 {
			lo = k
		}
		if cdf >= 0.9995 {
			hi = k
			break
		}
	}
	return lo, hi
}

func TestBinomial999(t *testing.T) {
	// n=1000, p=0.3: mean 300, sd 14.49; the normal approximation gives
	// 300 +/- 3.29*14.49 = [252.3, 347.7], the exact interval is within 1.
	lo, hi := binomial999(1000, 0.3)
	if lo < 251 || lo > 254 || hi < 346 || hi > 349 {
		t.Errorf("binomial999(1000, 0.3) = [%d, %d], want about [252, 348]", lo, hi)
	}
}
