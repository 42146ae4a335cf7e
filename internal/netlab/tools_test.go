package netlab

import (
	"context"
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

func TestBinomial999(t *testing.T) {
	// n=1000, p=0.3: mean 300, sd 14.49; the normal approximation gives
	// 300 +/- 3.29*14.49 = [252.3, 347.7], the exact interval is within 1.
	lo, hi := Binomial999(1000, 0.3)
	if lo < 251 || lo > 254 || hi < 346 || hi > 349 {
		t.Errorf("Binomial999(1000, 0.3) = [%d, %d], want about [252, 348]", lo, hi)
	}
}
