package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
)

// Diamond is an isolated network that balances load over two equal-cost
// paths (ECMP), for path probes under load balancing: R1 spreads the
// packets to DiamondTarget over R2a and R2b by a hash of their five-tuple
// (addresses, protocol and ports: fib_multipath_hash_policy 1), and R3
// joins the branches again. The hash seed is fixed, so a flow takes the
// same branch in every run and on every machine with this kernel's hash.
//
// Link i is 198.18.(48+i).0/24, with the device d<i> at both ends: its left
// end (towards the client) is .1, its right end .2. The target's address
// DiamondTarget lies on its loopback, outside every link.
//
//	client C          R1                   R2a                  R3                  target T
//	d0 .48.1 ── d0 .48.2  d1 .49.1 ── d1 .49.2  d3 .51.1 ── d3 .51.2  d5 .53.1 ── d5 .53.2   lo 198.18.56.1
//	                      d2 .50.1 ── d2 .50.2  d4 .52.1 ── d4 .52.2
//	                                   R2b
//
// Every router answers an expiring probe with ICMP time exceeded from the
// address of the interface the probe came in on
// (icmp_errors_use_inbound_ifaddr), without a rate limit: R1 from .48.2,
// R2a from .49.2, R2b from .50.2, and R3 from .51.2 or .52.2, so each
// answer names the branch its probe took (Hop). R3 balances the replies
// back the same way. The client routes 198.18.48.0/20 (which holds every
// address here and no other range of netlab) via R1 and has no default
// route. Every namespace is removed in t.Cleanup, also when the test fails.
type Diamond struct {
	Client, Target string
	R1, R3         string
	R2             [2]string // the branches: R2a, R2b
	teardown
}

// DiamondTarget is the diamond's target address (the client is
// 198.18.48.1).
var DiamondTarget = netip.MustParseAddr("198.18.56.1")

const (
	diamondClientNet = "198.18.48.0/24"
	diamondTargetNet = "198.18.56.0/24"
	// diamondHashSeed is R1's and R3's fib_multipath_hash_seed: with the
	// kernel's default (0) each boot draws a random seed, and which
	// branch a flow takes would change from run to run.
	diamondHashSeed = "7"
)

// diamondLinks holds the two ends of each link as indexes into nodes():
// 0 the client, 1 R1, 2 R2a, 3 R2b, 4 R3, 5 the target.
var diamondLinks = [6][2]int{{0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 4}, {4, 5}}

// diamondAddr is the address of one end (0 left, 1 right) of link i.
func diamondAddr(i, end int) netip.Addr { return linkEnd(48, i, end) }

func ddev(i int) string { return devName("d", i) }

// NewDiamond builds a diamond for t, or skips t (fails it under CI) when
// root, ip or nft are missing. Every namespace is removed in t.Cleanup.
func NewDiamond(t testing.TB) *Diamond {
	t.Helper()
	base := newBase(t)
	d := &Diamond{Client: base + "c", Target: base + "t", R1: base + "r1", R3: base + "r3",
		R2: [2]string{base + "r2a", base + "r2b"}}
	t.Cleanup(d.close)
	if err := d.build(); err != nil {
		t.Fatalf("netlab diamond: %v", err)
	}
	return d
}

func (d *Diamond) nodes() []string {
	return []string{d.Client, d.R1, d.R2[0], d.R2[1], d.R3, d.Target}
}

func (d *Diamond) build() error {
	nodes := d.nodes()
	extra := func(i int) [][2]string {
		if i < 1 || i > 4 {
			return nil
		}
		kv := [][2]string{{"net/ipv4/ip_forward", "1"},
			{"net/ipv4/icmp_errors_use_inbound_ifaddr", "1"},
			// A branch taken down (BranchDown) leaves the balancing at
			// once.
			{"net/ipv4/conf/all/ignore_routes_with_linkdown", "1"}}
		if ns := nodes[i]; ns == d.R1 || ns == d.R3 {
			kv = append(kv, [2]string{"net/ipv4/fib_multipath_hash_policy", "1"},
				[2]string{"net/ipv4/fib_multipath_hash_seed", diamondHashSeed})
		}
		return kv
	}
	if err := addNodes(&d.teardown, nodes, extra); err != nil {
		return err
	}
	if err := addLinks(nodes, diamondLinks[:], ddev, diamondAddr); err != nil {
		return err
	}
	via := func(link, end int) []string {
		return []string{"via", diamondAddr(link, end).String(), "dev", ddev(link)}
	}
	nexthops := func(links [2]int, end int) []string {
		var out []string
		for _, l := range links {
			out = append(append(out, "nexthop"), via(l, end)...)
		}
		return out
	}
	routes := [][]string{
		{"-n", d.Client, "route", "add", "198.18.48.0/20", "via", diamondAddr(0, 1).String()},
		{"-n", d.Target, "addr", "add", DiamondTarget.String() + "/32", "dev", "lo"},
		{"-n", d.Target, "route", "add", diamondClientNet, "via", diamondAddr(5, 0).String()},
		append([]string{"-n", d.R1, "route", "add", diamondTargetNet}, nexthops([2]int{1, 2}, 1)...),
		append([]string{"-n", d.R3, "route", "add", diamondTargetNet}, via(5, 1)...),
		append([]string{"-n", d.R3, "route", "add", diamondClientNet}, nexthops([2]int{3, 4}, 0)...),
	}
	for b, r2 := range d.R2 {
		routes = append(routes,
			append([]string{"-n", r2, "route", "add", diamondTargetNet}, via(3+b, 1)...),
			append([]string{"-n", r2, "route", "add", diamondClientNet}, via(1+b, 0)...))
	}
	if err := runIP(routes); err != nil {
		return err
	}
	for _, r2 := range d.R2 {
		if err := nft(r2,
			"add table inet lab",
			"add chain inet lab forward_chain { type filter hook forward priority 0; policy accept; }",
		); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs name inside the client namespace
// (through `ip netns exec`, as Lab.Command). No shell is involved.
func (d *Diamond) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", d.Client, name}, args...)...)
}

// Hop returns the address hop k (1..3) answers an expiring probe from when
// the probe took branch b (0 R2a, 1 R2b): hop 1 is R1 whatever the branch,
// hop 2 the branch's R2, hop 3 R3 on the link from that R2.
func (d *Diamond) Hop(k, b int) netip.Addr {
	if b < 0 || b > 1 {
		panic("netlab: the diamond has branches 0 and 1, not " + strconv.Itoa(b))
	}
	switch k {
	case 1:
		return diamondAddr(0, 1)
	case 2:
		return diamondAddr(1+b, 1)
	case 3:
		return diamondAddr(3+b, 1)
	}
	panic("netlab: the diamond has hops 1..3 before its target, not " + strconv.Itoa(k))
}

// CountBranches counts, on each branch, the packets to DiamondTarget that
// its R2 forwards and that match the nftables expression match too ("" for
// all of them; "tcp sport 40000", say): which branch a flow's packets take.
func (d *Diamond) CountBranches(match string) ([2]Counter, error) {
	var cs [2]Counter
	for b, r2 := range d.R2 {
		cs[b] = d.nameCounter(r2)
		if err := nft(r2, "add counter inet lab "+cs[b].name,
			fmt.Sprintf("add rule inet lab forward_chain ip daddr %s %s counter name %s", DiamondTarget, match, cs[b].name)); err != nil {
			return cs, err
		}
	}
	return cs, nil
}

// BranchDown takes branch b (0 R2a, 1 R2b) out of both balancings: R1's
// link to its R2 and R3's link from it go down, and every flow takes the
// other branch. BranchUp undoes it.
func (d *Diamond) BranchDown(b int) error { return d.setBranch(b, "down") }

// BranchUp brings branch b back into both balancings.
func (d *Diamond) BranchUp(b int) error { return d.setBranch(b, "up") }

func (d *Diamond) setBranch(b int, state string) error {
	if b < 0 || b > 1 {
		return fmt.Errorf("branch %d: the diamond has branches 0 and 1", b)
	}
	if err := run("ip", "-n", d.R1, "link", "set", ddev(1+b), state); err != nil {
		return err
	}
	return run("ip", "-n", d.R3, "link", "set", ddev(3+b), state)
}

// BranchLoss makes branch b's R2 drop percent of the path probes sent with
// TTL 3 (they would expire at R3) and 4 (they would reach the target) and
// of the target's own packets (sent with a TTL above 32) that it forwards
// towards DiamondTarget, at random, and counts those it dropped: perTTL by
// the TTL a probe was sent with, own the target's own. Probes that expire
// at R2 are answered, not forwarded: hops 1 and 2 lose nothing; path
// probes past the target (TTL 5 and more) are not dropped. All rules go in
// in one nft transaction.
func (d *Diamond) BranchLoss(b int, percent float64) (perTTL map[int]Counter, own Counter, err error) {
	if b < 0 || b > 1 {
		return nil, Counter{}, fmt.Errorf("branch %d: the diamond has branches 0 and 1", b)
	}
	if percent <= 0 || percent >= 100 {
		return nil, Counter{}, fmt.Errorf("loss %v%%: want more than 0 and less than 100", percent)
	}
	ns := d.R2[b]
	random := fmt.Sprintf("numgen random mod 10000 < %d", int(percent*100+0.5))
	// A probe sent with TTL h reaches R2 with h-1; the kernel decrements
	// it before the forward hook, where the rule sees h-2.
	match := fmt.Sprintf("add rule inet lab forward_chain ip daddr %s ", DiamondTarget)
	perTTL = map[int]Counter{}
	var cmds []string
	for _, ttl := range []int{3, 4} {
		cnt := d.nameCounter(ns)
		perTTL[ttl] = cnt
		cmds = append(cmds, "add counter inet lab "+cnt.name,
			fmt.Sprintf("%sip ttl %d %s counter name %s drop", match, ttl-2, random, cnt.name))
	}
	own = d.nameCounter(ns)
	cmds = append(cmds, "add counter inet lab "+own.name,
		fmt.Sprintf("%sip ttl > 30 %s counter name %s drop", match, random, own.name))
	return perTTL, own, nft(ns, cmds...)
}

// HashICMP makes R1 balance ICMP echo requests to DiamondTarget as some
// routers do, by a hash of the addresses and the first four bytes of the
// ICMP header (type, code and checksum), instead of the kernel's L4 hash,
// which leaves ICMP echo on one branch whatever its id (diamond_test.go).
// An echo whose checksum changes from packet to packet, as it does with
// its sequence number, is then spread over both branches; one whose
// checksum is held constant keeps its branch. The hash is nftables' jhash
// with a fixed seed, marking each echo for one of two routing tables, one
// per branch.
func (d *Diamond) HashICMP() error {
	for b := range 2 {
		table := strconv.Itoa(101 + b)
		if err := runIP([][]string{
			append([]string{"-n", d.R1, "route", "add", diamondTargetNet, "table", table}, "via", diamondAddr(1+b, 1).String(), "dev", ddev(1+b)),
			{"-n", d.R1, "rule", "add", "fwmark", strconv.Itoa(1 + b), "table", table},
		}); err != nil {
			return err
		}
	}
	return nft(d.R1,
		"add table ip ecmp",
		"add chain ip ecmp pre { type filter hook prerouting priority mangle; policy accept; }",
		fmt.Sprintf("add rule ip ecmp pre ip daddr %s icmp type echo-request meta mark set jhash ip saddr . ip daddr . icmp type . icmp code . icmp checksum mod 2 seed 0x%s offset 1",
			diamondTargetNet, diamondHashSeed),
	)
}

// ListenTCP opens port on DiamondTarget (a listener in the target
// namespace): a SYN gets SYN-ACK; on any other port the target's kernel
// answers RST. Accepted connections are closed at once.
func (d *Diamond) ListenTCP(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d: want 1..65535", port)
	}
	return listenTCP(d.Target, netip.AddrPortFrom(DiamondTarget, uint16(port)).String(), d.onClose)
}
