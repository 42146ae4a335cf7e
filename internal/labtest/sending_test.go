package labtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// keep returns a function that passes on a new counter, or fails t with
// the error that came instead.
func keep(t *testing.T) func(netlab.Counter, error) netlab.Counter {
	return func(c netlab.Counter, err error) netlab.Counter {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// onlyLines checks that r has exactly one line per key (point.key), each
// with all of its count packets received and no loss.
func onlyLines(t *testing.T, r run, count int, keys ...string) {
	t.Helper()
	for _, key := range keys {
		p := r.get(t, key)
		if rx, loss := p.int(t, "packets_received"), p.float(t, "percent_packet_loss"); rx != count || loss != 0 {
			t.Errorf("%s: %d received, %.0f%% loss; want %d, 0", key, rx, loss, count)
		}
	}
	if got := len(r.points); got != len(keys) {
		t.Errorf("%d lines, want %d (one per table): %v", got, len(keys), r.points)
	}
}

// TestSourceAddress: probes from a source_address the client holds on its
// loopback only leave by c0 (the route to the target), reach the target
// from that address (its nftables counts them by source), and every answer,
// which comes back to c0, is read; the lines carry the tag source_address.
// A table without it sends from the route's address, without the tag.
func TestSourceAddress(t *testing.T) {
	l := lab(t)
	if err := l.AddLoopbackSource(); err != nil {
		t.Fatal(err)
	}
	src := netlab.LoopbackSource
	a, b := netlab.Target(21), netlab.Target(22)
	fromLo := keep(t)(l.CountFrom(src, a, ""))
	fromRoute := keep(t)(l.CountFrom(netlab.ClientIP, b, ""))
	strayA := keep(t)(l.CountFrom(netlab.ClientIP, a, ""))
	strayB := keep(t)(l.CountFrom(src, b, ""))
	r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = ["%[1]s"]
count = 5
interval = "100ms"
source_address = "%[2]s"

[[inputs.hping3]]
targets = ["%[1]s"]
protocol = "tcp"
port = 9
count = 5
interval = "100ms"
source_address = "%[2]s"

[[inputs.hping3]]
targets = ["%[3]s"]
count = 5
interval = "100ms"
`, a, src, b))
	tag := " source_address=" + src.String()
	onlyLines(t, r, 5, a.String()+tag, a.String()+":9"+tag, b.String())
	for _, c := range []struct {
		what string
		n    netlab.Counter
		want int
	}{
		{"from " + src.String() + " to " + a.String(), fromLo, 10},
		{"from " + netlab.ClientIP.String() + " to " + b.String(), fromRoute, 5},
		{"from " + netlab.ClientIP.String() + " to " + a.String(), strayA, 0},
		{"from " + src.String() + " to " + b.String(), strayB, 0},
	} {
		if got := counted(t, c.n); got != c.want {
			t.Errorf("the target counted %d packets %s, want %d", got, c.what, c.want)
		}
	}
}

// TestForeignSourceRefused: a source_address this host does not hold (the
// router's) is refused before anything is sent: exit 2, one E! line that
// names the setting, nothing on stdout, no packet at the target.
func TestForeignSourceRefused(t *testing.T) {
	l := lab(t)
	dst := netlab.Target(23)
	any := keep(t)(l.Count(dst))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := l.Command(ctx, testbin.Plugin(t), "--once", "--engine", engine(t), "--target", dst.String(), "--source-address", netlab.RouterIP.String())
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2; stderr:\n%s", err, errb.String())
	}
	var es []string
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.HasPrefix(line, "E! ") {
			es = append(es, line)
		}
	}
	if len(es) != 1 || !strings.Contains(es[0], `source_address = "198.18.0.2": an IPv4 address of this host`) {
		t.Errorf("E! lines %q, want one refusing source_address 198.18.0.2; stderr:\n%s", es, errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
	if n := counted(t, any); n != 0 {
		t.Errorf("the target received %d packets, want 0", n)
	}
}

// TestDontFragment: behind a 1400-byte link, a don't-fragment probe of 1408
// bytes is lost at the router, which answers "fragmentation needed"
// (counted in icmp_errors), while one of exactly 1400 bytes passes.
func TestDontFragment(t *testing.T) {
	l := lab(t)
	if err := l.TargetLinkMTU(1400); err != nil {
		t.Fatal(err)
	}
	big, fits := netlab.Target(24), netlab.Target(25)
	bigIn, fitsIn := keep(t)(l.Count(big)), keep(t)(l.Count(fits))
	r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = ["%s"]
count = 5
interval = "100ms"
dont_fragment = true
data_size = 1380

[[inputs.hping3]]
targets = ["%s"]
count = 5
interval = "100ms"
dont_fragment = true
data_size = 1372
`, big, fits))
	p := r.get(t, big.String())
	if rx, loss, icmp := p.int(t, "packets_received"), p.float(t, "percent_packet_loss"), p.int(t, "icmp_errors"); rx != 0 || loss != 100 || icmp != 5 {
		t.Errorf("1408 bytes over 1400: %d received, %.0f%% loss, %d icmp_errors; want 0, 100, 5", rx, loss, icmp)
	}
	p = r.get(t, fits.String())
	if rx, loss, icmp := p.int(t, "packets_received"), p.float(t, "percent_packet_loss"), p.int(t, "icmp_errors"); rx != 5 || loss != 0 || icmp != 0 {
		t.Errorf("1400 bytes over 1400: %d received, %.0f%% loss, %d icmp_errors; want 5, 0, 0", rx, loss, icmp)
	}
	if n := counted(t, bigIn); n != 0 {
		t.Errorf("%d probes of 1408 bytes reached the target, want 0", n)
	}
	if n := counted(t, fitsIn); n != 5 {
		t.Errorf("%d probes of 1400 bytes reached the target, want 5", n)
	}
}

// TestTclLongTimeout: on a path that answers after 2 s, a 3 s timeout (the
// Tcl engine's: engine "cli" refuses it, TestHPing3WithoutTcl has the
// fallback) counts every reply, at its RTT.
func TestTclLongTimeout(t *testing.T) {
	l := lab(t)
	e := emulator(t, l)
	slow := netlab.Emu(11)
	e.Set(netip.PrefixFrom(slow, 32), netlab.Profile{Delay: 2 * time.Second})
	r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = ["%s"]
count = 3
interval = "1s"
timeout = "3s"
`, slow))
	p := r.get(t, slow.String())
	if rx, loss := p.int(t, "packets_received"), p.float(t, "percent_packet_loss"); rx != 3 || loss != 0 {
		t.Errorf("2 s path, 3 s timeout: %d received, %.0f%% loss; want 3, 0", rx, loss)
	}
	// Each RTT is the emulator's 2000 ms plus the lab's fraction of a
	// millisecond and the scheduling of a busy machine.
	if avg := p.float(t, "average_response_ms"); math.Abs(avg-2000.5) > 10 {
		t.Errorf("average RTT %.3f ms, want 2000..2010", avg)
	}
}

// TestDSCPClasses: two tables probe one target in two DSCP classes, a third
// without one: three series (tag dscp, and none for the third), and the
// target's nftables counts each table's packets in its class.
func TestDSCPClasses(t *testing.T) {
	l := lab(t)
	dst := netlab.Target(26)
	ef, af41, none := keep(t)(l.CountFrom(netlab.ClientIP, dst, "ef")), keep(t)(l.CountFrom(netlab.ClientIP, dst, "af41")), keep(t)(l.CountFrom(netlab.ClientIP, dst, "cs0"))
	table := func(extra string) string {
		return fmt.Sprintf("[[inputs.hping3]]\ntargets = [%q]\ncount = 5\ninterval = \"100ms\"\n%s\n", dst, extra)
	}
	r := round(t, l, table(`dscp = "ef"`)+table(`dscp = "34"`)+table(""))
	onlyLines(t, r, 5, dst.String()+" dscp=EF", dst.String()+" dscp=AF41", dst.String())
	for _, c := range []struct {
		class string
		n     netlab.Counter
	}{{"EF", ef}, {"AF41", af41}, {"CS0", none}} {
		if got := counted(t, c.n); got != 5 {
			t.Errorf("the target counted %d packets in class %s, want 5", got, c.class)
		}
	}
}
