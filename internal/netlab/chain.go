package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Chain is an isolated path of three routers, for path monitoring (probes
// with TTL 1..N): each router answers an expiring probe with ICMP time
// exceeded, and a bypass link lets a test change the route mid-run.
//
// Link i is 198.18.(32+i).0/24, with the device l<i> at both ends: its left
// end (towards the client) is .1, its right end .2. The target's address
// ChainTarget lies on its loopback, outside every link.
//
//	client C          R1                 R2                 R3                 target T
//	l0 .32.1 ── l0 .32.2  l1 .33.1 ── l1 .33.2  l2 .34.1 ── l2 .34.2  l3 .35.1 ── l3 .35.2   lo 198.18.40.1
//	                      l4 .36.1 ──────────── bypass ──────────── l4 .36.2
//
// Routes exist only for lab prefixes: the client routes 198.18.32.0/20
// (which holds every address here and no other range of netlab) via R1 and
// has no default route; each router routes ChainTarget's /24 one link to
// the right and the client's /24 one link to the left; the target routes
// the client's /24 back via R3. The bypass link carries nothing until
// Bypass. Every namespace is removed in t.Cleanup, also when the test fails.
type Chain struct {
	Client, Target string    // namespace names
	Routers        [3]string // R1, R2, R3
	teardown
}

// ChainTarget is the chain's target address (the client is 198.18.32.1).
var ChainTarget = netip.MustParseAddr("198.18.40.1")

const (
	chainClientNet = "198.18.32.0/24"
	chainTargetNet = "198.18.40.0/24"
	bypassLink     = 4
)

// chainLinks holds the two ends of each link as indexes into nodes():
// 0 the client, 1..3 the routers, 4 the target.
var chainLinks = [5][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {1, 3}}

// linkAddr is the address of one end (0 left, 1 right) of link i.
func linkAddr(i, end int) netip.Addr { return linkEnd(32, i, end) }

func dev(i int) string { return devName("l", i) }

// NewChain builds a chain for t, or skips t (fails it under CI) when root,
// ip or nft are missing. Every namespace is removed in t.Cleanup.
func NewChain(t testing.TB) *Chain {
	t.Helper()
	base := newBase(t)
	c := &Chain{Client: base + "c", Target: base + "t"}
	for k := range c.Routers {
		c.Routers[k] = base + "r" + strconv.Itoa(k+1)
	}
	t.Cleanup(c.close)
	if err := c.build(); err != nil {
		t.Fatalf("netlab chain: %v", err)
	}
	return c
}

func (c *Chain) nodes() []string {
	return []string{c.Client, c.Routers[0], c.Routers[1], c.Routers[2], c.Target}
}

func (c *Chain) build() error {
	nodes := c.nodes()
	routers := func(i int) [][2]string {
		if i >= 1 && i <= 3 {
			return [][2]string{{"net/ipv4/ip_forward", "1"}}
		}
		return nil
	}
	if err := addNodes(&c.teardown, nodes, routers); err != nil {
		return err
	}
	if err := addLinks(nodes, chainLinks[:], dev, linkAddr); err != nil {
		return err
	}
	routes := [][]string{
		{"-n", c.Client, "route", "add", "198.18.32.0/20", "via", linkAddr(0, 1).String()},
		{"-n", c.Target, "addr", "add", ChainTarget.String() + "/32", "dev", "lo"},
		{"-n", c.Target, "route", "add", chainClientNet, "via", linkAddr(3, 0).String()},
	}
	for k := 1; k <= 3; k++ {
		r := c.Routers[k-1]
		routes = append(routes, []string{"-n", r, "route", "add", chainTargetNet, "via", linkAddr(k, 1).String(), "dev", dev(k)})
		if k > 1 { // R1 has the client's /24 on l0
			routes = append(routes, []string{"-n", r, "route", "add", chainClientNet, "via", linkAddr(k-1, 0).String(), "dev", dev(k - 1)})
		}
	}
	if err := runIP(routes); err != nil {
		return err
	}
	// The routers' faults: forward_chain for ForwardLoss, output_chain
	// (the router's own packets) for SilenceTimeExceeded.
	for _, r := range c.Routers {
		if err := nft(r,
			"add table inet lab",
			"add chain inet lab forward_chain { type filter hook forward priority 0; policy accept; }",
			"add chain inet lab output_chain { type filter hook output priority 0; policy accept; }",
		); err != nil {
			return err
		}
	}
	return nil
}

// pinNeigh makes each end of the veth dev between namespaces a and b know
// the other's MAC permanently.
func pinNeigh(a, b, dev string, aIP, bIP netip.Addr) error {
	for _, p := range []struct {
		ns, peer string
		peerIP   netip.Addr
	}{{a, b, bIP}, {b, a, aIP}} {
		mac, err := MacOf(p.peer, dev)
		if err != nil {
			return err
		}
		if err := run("ip", "-n", p.ns, "neigh", "replace", p.peerIP.String(), "lladdr", mac, "dev", dev, "nud", "permanent"); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs name inside the client namespace
// (through `ip netns exec`, as Lab.Command). No shell is involved.
func (c *Chain) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.Client, name}, args...)...)
}

// Hop returns the address router k (1..3) sends its ICMP time exceeded
// from on the initial path: Linux takes the source address of its route
// back to the sender, here the router's address on the link towards the
// client, .2 of link k-1. (Not that of the link the probe came in on: had
// only R1 been rerouted over the bypass, R3 would still answer from .34.2.)
func (c *Chain) Hop(k int) netip.Addr {
	if k < 1 || k > 3 {
		panic("netlab: chain has routers 1..3, not " + strconv.Itoa(k))
	}
	return linkAddr(k-1, 1)
}

// BypassHop returns R3's address on the bypass link: the source of its time
// exceeded after Bypass, when it is the second hop.
func (c *Chain) BypassHop() netip.Addr { return linkAddr(bypassLink, 1) }

// Bypass changes the route: R1 sends ChainTarget's /24 over the bypass link
// straight to R3, and R3 sends the client's /24 back the same way, so both
// directions skip R2. The path is then R1, R3 (BypassHop), T: the target is
// 3 hops away instead of 4.
func (c *Chain) Bypass() error {
	return c.reroute(bypassLink, bypassLink)
}

// Restore undoes Bypass: the path is R1, R2, R3, T again.
func (c *Chain) Restore() error { return c.reroute(1, 2) }

// reroute points R1's route to the target over link out and R3's route to
// the client over link back.
func (c *Chain) reroute(out, back int) error {
	if err := run("ip", "-n", c.Routers[0], "route", "replace", chainTargetNet, "via", linkAddr(out, 1).String(), "dev", dev(out)); err != nil {
		return err
	}
	return run("ip", "-n", c.Routers[2], "route", "replace", chainClientNet, "via", linkAddr(back, 0).String(), "dev", dev(back))
}

// ForwardLoss drops, at random with probability percent/100 (resolution
// 0.01%, as Lab.Loss), the packets to ChainTarget that router k forwards
// from its client side (R3's client side includes the bypass link).
// Replies travel towards the client and are never dropped. Packets that
// expire at router k (TTL 1 on arrival) are answered, not forwarded, so
// they pass: the loss shows from hop k+1 on. perTTL counts the packets
// dropped that arrived with each TTL of ttls (a probe sent with TTL h
// arrives at router k of the initial path with TTL h-k+1), other those
// with any other TTL. All rules go in in one nft transaction.
func (c *Chain) ForwardLoss(k int, percent float64, ttls []int) (perTTL map[int]Counter, other Counter, err error) {
	ns, err := c.router(k)
	if err != nil {
		return nil, Counter{}, err
	}
	if percent < 0 || percent > 100 {
		return nil, Counter{}, fmt.Errorf("loss %v%%: want 0..100", percent)
	}
	random := fmt.Sprintf("numgen random mod 10000 < %d ", int(percent*100+0.5))
	if percent == 100 {
		random = "" // as GatedLoss: 10000 is outside numgen's range
	}
	clientSide := `{ "` + dev(k-1) + `" }`
	if k == 3 {
		clientSide = `{ "` + dev(2) + `", "` + dev(bypassLink) + `" }`
	}
	// The kernel decrements the TTL before the forward hook, so the rule
	// matches one less than the TTL the packet arrived with.
	match := fmt.Sprintf("add rule inet lab forward_chain iifname %s ip daddr %s ", clientSide, ChainTarget)
	perTTL = map[int]Counter{}
	var cmds, seen []string
	for _, ttl := range ttls {
		if ttl < 1 || ttl > 255 {
			return nil, Counter{}, fmt.Errorf("ttl %d: want 1..255", ttl)
		}
		if _, dup := perTTL[ttl]; dup {
			continue
		}
		cnt := c.nameCounter(ns)
		perTTL[ttl] = cnt
		seen = append(seen, strconv.Itoa(ttl-1))
		cmds = append(cmds, "add counter inet lab "+cnt.name,
			fmt.Sprintf("%sip ttl %d %scounter name %s drop", match, ttl-1, random, cnt.name))
	}
	other = c.nameCounter(ns)
	rest := ""
	if len(seen) > 0 {
		rest = "ip ttl != { " + strings.Join(seen, ", ") + " } "
	}
	cmds = append(cmds, "add counter inet lab "+other.name,
		fmt.Sprintf("%s%s%scounter name %s drop", match, rest, random, other.name))
	return perTTL, other, nft(ns, cmds...)
}

// SilenceTimeExceeded makes router k (1..3) drop the ICMP time exceeded it
// sends, counting them: a hop that never answers while the hops after it
// still do.
func (c *Chain) SilenceTimeExceeded(k int) (Counter, error) {
	return c.countedRule(k, "output_chain", "icmp type time-exceeded", "drop")
}

// Unreachable makes router k (1..3) refuse to forward anything to
// ChainTarget, answering host unreachable, and counts the packets it
// refused: a path that ends at a router.
func (c *Chain) Unreachable(k int) (Counter, error) {
	return c.countedRule(k, "forward_chain", "ip daddr "+ChainTarget.String(), "reject with icmp type host-unreachable")
}

// countedRule adds to chain of router k's lab table a rule doing action
// to the packets that match, counted in a new counter.
func (c *Chain) countedRule(k int, chain, match, action string) (Counter, error) {
	ns, err := c.router(k)
	if err != nil {
		return Counter{}, err
	}
	cnt := c.nameCounter(ns)
	return cnt, nft(ns, "add counter inet lab "+cnt.name,
		fmt.Sprintf("add rule inet lab %s %s counter name %s %s", chain, match, cnt.name, action))
}

// ListenTCP opens port on ChainTarget (a listener in the target namespace):
// a SYN gets SYN-ACK; on any other port the target's kernel answers RST.
// Accepted connections are closed at once.
func (c *Chain) ListenTCP(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d: want 1..65535", port)
	}
	return listenTCP(c.Target, netip.AddrPortFrom(ChainTarget, uint16(port)).String(), c.onClose)
}

func (c *Chain) router(k int) (string, error) {
	if k < 1 || k > 3 {
		return "", fmt.Errorf("router %d: the chain has routers 1..3", k)
	}
	return c.Routers[k-1], nil
}
