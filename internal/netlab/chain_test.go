package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The chain's tests probe with hping3, which CI installs (ping is not) and
// which the plugin itself runs. Each answered probe takes about 40 ms, each
// unanswered one hping3's 1 s wait; the tests run in parallel so those waits
// overlap (parallel tests start after the package's serial ones, so they do
// not disturb the Lab's timing tests).

var (
	transitRE     = regexp.MustCompile(`(?m)^TTL 0 during transit from ip=(\S+)`)
	chainReplyRE  = regexp.MustCompile(`(?m)^len=\d+ ip=(\S+) ttl=(\d+) .*?(?:flags=(\S+) .*?)?rtt=`)
	portUnreachRE = regexp.MustCompile(`(?m)^ICMP Port Unreachable from ip=(\S+)`)
	statsRE       = regexp.MustCompile(`(\d+) packets transmitted, (\d+) packets received`)
)

// commander runs a command in a lab's client namespace (Chain, Diamond).
type commander interface {
	Command(ctx context.Context, name string, args ...string) *exec.Cmd
}

// chainHping3 runs hping3 -n with args in the client namespace (no shell)
// and returns its stdout followed by its stderr. They are read apart:
// hping3's stdout to a pipe is block-buffered, and interleaved with stderr
// in one buffer a reply line can be cut in two.
func chainHping3(t *testing.T, c commander, args ...string) string {
	t.Helper()
	bin := testbin.RequireTool(t, "hping3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := c.Command(ctx, bin, append([]string{"-n"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // hping3 exits 1 when nothing answered: the output tells
	return stdout.String() + stderr.String()
}

// answer sums up everything hping3 printed for its probes, in one line
// a test compares exactly: "from <addr>" per time exceeded, "reply <addr>
// ttl=<n> [flags]" per reply, "unreach <addr>" per port unreachable, and
// "-" when nothing came back.
func answer(out string) string {
	var got []string
	for _, m := range transitRE.FindAllStringSubmatch(out, -1) {
		got = append(got, "from "+m[1])
	}
	for _, m := range chainReplyRE.FindAllStringSubmatch(out, -1) {
		got = append(got, strings.TrimSpace("reply "+m[1]+" ttl="+m[2]+" "+m[3]))
	}
	for _, m := range portUnreachRE.FindAllStringSubmatch(out, -1) {
		got = append(got, "unreach "+m[1])
	}
	if len(got) == 0 {
		return "-"
	}
	return strings.Join(got, "; ")
}

// trace sends one ICMP echo to ChainTarget with each TTL 1..maxTTL and
// returns the answer to each.
func trace(t *testing.T, c *Chain, maxTTL int) []string {
	t.Helper()
	var got []string
	for ttl := 1; ttl <= maxTTL; ttl++ {
		got = append(got, answer(chainHping3(t, c, "-1", "-c", "1", "-t", strconv.Itoa(ttl), ChainTarget.String())))
	}
	return got
}

func from(a netip.Addr) string { return "from " + a.String() }

// reached is the answer of the target to an echo, its reply sent with TTL
// 64 and decremented once per router on the way back.
func reached(routers int) string {
	return "reply " + ChainTarget.String() + " ttl=" + strconv.Itoa(64-routers)
}

func wantTrace(t *testing.T, c *Chain, want ...string) {
	t.Helper()
	if got := trace(t, c, len(want)); !reflect.DeepEqual(got, want) {
		t.Errorf("answers to TTL 1..%d:\n got %q\nwant %q", len(want), got, want)
	}
}

func packets(t *testing.T, c Counter) int {
	t.Helper()
	n, err := c.Packets()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRoutes checks that namespace ns has unicast IPv4 routes to want and
// to nothing else.
func wantRoutes(t *testing.T, ns string, want ...string) {
	t.Helper()
	routes, err := Output("ip", "-n", ns, "-4", "route", "show", "table", "all", "type", "unicast")
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, l := range strings.Split(strings.TrimSpace(routes), "\n") {
		dsts = append(dsts, strings.Fields(l)[0])
	}
	if !reflect.DeepEqual(dsts, want) {
		t.Errorf("%s routes to %q, want %q:\n%s", ns, dsts, want, routes)
	}
}

func TestChainReachesOnlyLab(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	if err := c.ListenTCP(80); err != nil {
		t.Fatal(err)
	}
	target := ChainTarget.String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-1", "-c", "1", target}, reached(3)},
		{[]string{"-S", "-p", "80", "-c", "1", target}, "reply " + target + " ttl=61 SA"},
		{[]string{"-S", "-p", "81", "-c", "1", target}, "reply " + target + " ttl=61 RA"},
		{[]string{"-2", "-p", "33434", "-c", "1", target}, "unreach " + target},
	} {
		if out := chainHping3(t, c, tc.args...); answer(out) != tc.want {
			t.Errorf("hping3 %v: got %q, want %q\n%s", tc.args, answer(out), tc.want, out)
		}
	}
	// Only the link and the lab's /20: no default route, nothing else.
	wantRoutes(t, c.Client, "198.18.32.0/24", "198.18.32.0/20")
	// Outside the /20 nothing is routed: connect fails before any packet,
	// and hping3's sendto with it.
	err := Do(c.Client, func() error {
		conn, err := net.Dial("udp4", "198.18.100.1:9")
		if err == nil {
			conn.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("dial 198.18.100.1 from the client: got %v, want network is unreachable", err)
	}
	if out := chainHping3(t, c, "-1", "-c", "1", "198.18.100.1"); !strings.Contains(out, "sendto: Network is unreachable") || answer(out) != "-" {
		t.Errorf("hping3 to 198.18.100.1: want sendto: Network is unreachable and no answer:\n%s", out)
	}
}

func TestChainTTL(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	// The address plan, spelled out: each router answers from its address
	// on the link towards the client (the source of its route back).
	for k, want := range []string{"198.18.32.2", "198.18.33.2", "198.18.34.2"} {
		if got := c.Hop(k + 1).String(); got != want {
			t.Errorf("Hop(%d) = %s, want %s", k+1, got, want)
		}
	}
	wantTrace(t, c, from(c.Hop(1)), from(c.Hop(2)), from(c.Hop(3)), reached(3))
	// A TCP probe expires the same way.
	if got, want := answer(chainHping3(t, c, "-S", "-p", "80", "-c", "1", "-t", "2", ChainTarget.String())), from(c.Hop(2)); got != want {
		t.Errorf("TCP SYN with TTL 2: got %q, want %q", got, want)
	}
}

func TestChainNoICMPRateLimit(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	// With the kernel's default icmp_ratemask a router answers a burst of
	// about 6 and then one per second.
	out := chainHping3(t, c, "-1", "-c", "20", "-i", "u10000", "-t", "1", ChainTarget.String())
	if got := len(transitRE.FindAllString(out, -1)); got != 20 {
		t.Errorf("20 probes with TTL 1 in 0.2 s: %d time exceeded, want 20\n%s", got, out)
	}
}

func TestChainSilentHop(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	silenced, err := c.SilenceTimeExceeded(2)
	if err != nil {
		t.Fatal(err)
	}
	wantTrace(t, c, from(c.Hop(1)), "-", from(c.Hop(3)), reached(3))
	if n := packets(t, silenced); n != 1 {
		t.Errorf("R2 dropped %d time exceeded, want 1 (the TTL 2 probe's)", n)
	}
}

func TestChainForwardLoss(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	perTTL, other, err := c.ForwardLoss(2, 100, []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	// TTL 2 expires at R2 and is answered; TTL 3 and 4 arrive there with
	// TTL 2 and 3 and are dropped.
	wantTrace(t, c, from(c.Hop(1)), from(c.Hop(2)), "-", "-")
	// TTL 64 arrives with 63: one for the other counter.
	if got := answer(chainHping3(t, c, "-1", "-c", "1", ChainTarget.String())); got != "-" {
		t.Errorf("echo with TTL 64 through 100%% loss: got %q, want nothing", got)
	}
	got := map[int]int{}
	for ttl, cnt := range perTTL {
		got[ttl] = packets(t, cnt)
	}
	got[0] = packets(t, other)
	if want := map[int]int{1: 0, 2: 1, 3: 1, 0: 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("dropped by arrival TTL (0: other) %v, want %v", got, want)
	}
}

func TestChainForwardLossRandom(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	_, other, err := c.ForwardLoss(1, 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	out := chainHping3(t, c, "-1", "-c", strconv.Itoa(n), "-i", "u2000", ChainTarget.String())
	recv := len(chainReplyRE.FindAllString(out, -1))
	dropped := packets(t, other)
	// The counter is the exact truth (replies are never dropped); that it
	// dropped none or all of 200 at 50% has probability 2^-199.
	want := []string{strconv.Itoa(n), strconv.Itoa(n - dropped)}
	if m := statsRE.FindStringSubmatch(out); m == nil || !reflect.DeepEqual(m[1:], want) || recv != n-dropped || dropped == 0 || dropped == n {
		t.Errorf("hping3 sent/received %v, %d reply lines; nft dropped %d: want %v, 0 < dropped < %d\n%s", m, recv, dropped, want, n, out)
	}
}

func TestChainBypass(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	if got := c.BypassHop().String(); got != "198.18.36.2" {
		t.Errorf("BypassHop() = %s, want 198.18.36.2", got)
	}
	if err := c.Bypass(); err != nil {
		t.Fatal(err)
	}
	// R3 now answers from its bypass address, and the reply skips R2 too.
	wantTrace(t, c, from(c.Hop(1)), from(c.BypassHop()), reached(2))
	if err := c.Restore(); err != nil {
		t.Fatal(err)
	}
	wantTrace(t, c, from(c.Hop(1)), from(c.Hop(2)), from(c.Hop(3)), reached(3))
}

func TestChainForwardLossAfterBypass(t *testing.T) {
	t.Parallel()
	c := NewChain(t)
	if err := c.Bypass(); err != nil {
		t.Fatal(err)
	}
	// R3 is hop 2 now, its client side the bypass link: TTL 3 arrives
	// there with TTL 2.
	perTTL, other, err := c.ForwardLoss(3, 100, []int{2})
	if err != nil {
		t.Fatal(err)
	}
	wantTrace(t, c, from(c.Hop(1)), from(c.BypassHop()), "-")
	if a, b := packets(t, perTTL[2]), packets(t, other); a != 1 || b != 0 {
		t.Errorf("R3 dropped %d with arrival TTL 2 and %d others, want 1 and 0", a, b)
	}
}

func TestChainBesideLab(t *testing.T) {
	t.Parallel()
	l, c := New(t), NewChain(t)
	r, out := fping(t, l, 1, 10*time.Millisecond, Target(1).String())
	if r.recv != 1 {
		t.Errorf("lab target beside a chain: fping received %d, want 1\n%s", r.recv, out)
	}
	wantTrace(t, c, from(c.Hop(1)), from(c.Hop(2)), from(c.Hop(3)), reached(3))
}
