package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
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
	// Dst is the target's address: DiamondTarget, or with diamonds in
	// series DiamondsTarget.
	Dst netip.Addr
	// Joins are the routers that split and join the diamonds in series:
	// R1, R3, and with two R5 (R3 splits the second diamond); Branches
	// each diamond's two branches (R2a, R2b; R4a, R4b).
	Joins    []string
	Branches [][2]string
	teardown
}

// DiamondTarget is the diamond's target address (the client is
// 198.18.48.1).
var DiamondTarget = netip.MustParseAddr("198.18.56.1")

// DiamondsTarget is the target's address behind two diamonds in series,
// past their links 198.18.48.0/24 to 198.18.57.0/24.
var DiamondsTarget = netip.MustParseAddr("198.18.60.1")

const (
	diamondClientNet = "198.18.48.0/24"
	// diamondHashSeed is R1's fib_multipath_hash_seed, and 4 more each
	// joiner after it: with the kernel's default (0) each boot draws a
	// random seed, and which branch a flow takes would change from run to
	// run; with one seed for all, two diamonds in series would send each
	// flow down the same-numbered branch of both.
	diamondHashSeed = 7
)

// diamondAddr is the address of one end (0 left, 1 right) of link i.
func diamondAddr(i, end int) netip.Addr { return linkEnd(48, i, end) }

func ddev(i int) string { return devName("d", i) }

// NewDiamond builds a diamond for t, or skips t (fails it under CI) when
// root, ip or nft are missing. Every namespace is removed in t.Cleanup.
func NewDiamond(t testing.TB) *Diamond { return NewDiamonds(t, 1) }

// NewDiamonds builds n diamonds (1 or 2) in series for t: with two, R3
// joins the first diamond's branches and splits the second's, R4a and R4b,
// which R5 joins before the target DiamondsTarget. Link 0 joins the client
// and R1; diamond k's links are 1+4k (its splitter to branch a), 2+4k (to
// branch b), 3+4k and 4+4k (branch a and b to its joiner); the last link
// joins the last router and the target. Every router answers from the
// interface a probe came in on, so hop 2k (k = 1..n) names the branch of
// diamond k, and hop 2k+1 its joiner on that branch (Hop).
func NewDiamonds(t testing.TB, n int) *Diamond {
	t.Helper()
	if n < 1 || n > 2 {
		t.Fatalf("netlab: %d diamonds in series: want 1 or 2", n)
	}
	base := newBase(t)
	d := &Diamond{Client: base + "c", Target: base + "t", Dst: DiamondTarget}
	if n == 2 {
		d.Dst = DiamondsTarget
	}
	for k := 0; k <= n; k++ {
		d.Joins = append(d.Joins, base+"r"+strconv.Itoa(2*k+1))
		if k < n {
			b := base + "r" + strconv.Itoa(2*k+2)
			d.Branches = append(d.Branches, [2]string{b + "a", b + "b"})
		}
	}
	d.R1, d.R3, d.R2 = d.Joins[0], d.Joins[1], d.Branches[0]
	t.Cleanup(d.close)
	if err := d.build(); err != nil {
		t.Fatalf("netlab diamond: %v", err)
	}
	return d
}

// nodes are the namespaces in link order: the client, then each diamond's
// splitter and branches, the last joiner, the target.
func (d *Diamond) nodes() []string {
	out := []string{d.Client}
	for k, br := range d.Branches {
		out = append(out, d.Joins[k], br[0], br[1])
	}
	return append(out, d.Joins[len(d.Joins)-1], d.Target)
}

// links are the node indexes at each link's two ends.
func (d *Diamond) links() [][2]int {
	out := [][2]int{{0, 1}}
	for k := range d.Branches {
		split, a, b, join := 1+3*k, 2+3*k, 3+3*k, 4+3*k
		out = append(out, [2]int{split, a}, [2]int{split, b}, [2]int{a, join}, [2]int{b, join})
	}
	last := 1 + 3*len(d.Branches)
	return append(out, [2]int{last, last + 1})
}

func (d *Diamond) targetNet() string { return netip.PrefixFrom(d.Dst, 24).Masked().String() }

func (d *Diamond) build() error {
	nodes := d.nodes()
	links := d.links()
	extra := func(i int) [][2]string {
		if i < 1 || i > len(nodes)-2 {
			return nil
		}
		kv := [][2]string{{"net/ipv4/ip_forward", "1"},
			{"net/ipv4/icmp_errors_use_inbound_ifaddr", "1"},
			// A branch taken down (BranchDown) leaves the balancing at
			// once.
			{"net/ipv4/conf/all/ignore_routes_with_linkdown", "1"}}
		if k := slices.Index(d.Joins, nodes[i]); k >= 0 {
			kv = append(kv, [2]string{"net/ipv4/fib_multipath_hash_policy", "1"},
				[2]string{"net/ipv4/fib_multipath_hash_seed", strconv.Itoa(diamondHashSeed + 4*k)})
		}
		return kv
	}
	if err := addNodes(&d.teardown, nodes, extra); err != nil {
		return err
	}
	if err := addLinks(nodes, links, ddev, diamondAddr); err != nil {
		return err
	}
	via := func(link, end int) []string {
		return []string{"via", diamondAddr(link, end).String(), "dev", ddev(link)}
	}
	nexthops := func(l1, l2, end int) []string {
		var out []string
		for _, l := range []int{l1, l2} {
			out = append(append(out, "nexthop"), via(l, end)...)
		}
		return out
	}
	last := len(links) - 1
	routes := [][]string{
		{"-n", d.Client, "route", "add", "198.18.48.0/20", "via", diamondAddr(0, 1).String()},
		{"-n", d.Target, "addr", "add", d.Dst.String() + "/32", "dev", "lo"},
		{"-n", d.Target, "route", "add", diamondClientNet, "via", diamondAddr(last, 0).String()},
		append([]string{"-n", d.Joins[len(d.Joins)-1], "route", "add", d.targetNet()}, via(last, 1)...),
	}
	for k, br := range d.Branches {
		l := 1 + 4*k
		// Diamond k's splitter balances towards the target, its joiner
		// back towards the client.
		routes = append(routes,
			append([]string{"-n", d.Joins[k], "route", "add", d.targetNet()}, nexthops(l, l+1, 1)...),
			append([]string{"-n", d.Joins[k+1], "route", "add", diamondClientNet}, nexthops(l+2, l+3, 0)...))
		for b, ns := range br {
			routes = append(routes,
				append([]string{"-n", ns, "route", "add", d.targetNet()}, via(l+2+b, 1)...),
				append([]string{"-n", ns, "route", "add", diamondClientNet}, via(l+b, 0)...))
		}
	}
	if err := runIP(routes); err != nil {
		return err
	}
	for _, br := range d.Branches {
		for _, ns := range br {
			if err := nft(ns,
				"add table inet lab",
				"add chain inet lab forward_chain { type filter hook forward priority 0; policy accept; }",
			); err != nil {
				return err
			}
		}
	}
	return nil
}

// Command returns a command that runs name inside the client namespace
// (through `ip netns exec`, as Lab.Command). No shell is involved.
func (d *Diamond) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", d.Client, name}, args...)...)
}

// Hop returns the address hop k (1 to 2n+1 with n diamonds) answers an
// expiring probe from when the probe took branch b (0 a, 1 b) of the
// diamond that hop belongs to: hop 1 is R1 whatever the branch, hop 2j
// diamond j's branch router, hop 2j+1 its joiner on the link from that
// branch.
func (d *Diamond) Hop(k, b int) netip.Addr {
	if b < 0 || b > 1 {
		panic("netlab: the diamond has branches 0 and 1, not " + strconv.Itoa(b))
	}
	if k < 1 || k > 2*len(d.Branches)+1 {
		panic("netlab: the diamonds have hops 1.." + strconv.Itoa(2*len(d.Branches)+1) + " before their target, not " + strconv.Itoa(k))
	}
	if k == 1 {
		return diamondAddr(0, 1)
	}
	j := k/2 - 1 // the diamond
	if k%2 == 0 {
		return diamondAddr(1+4*j+b, 1)
	}
	return diamondAddr(3+4*j+b, 1)
}

// BranchOf is the branch (0 a, 1 b) whose router answers an expiring probe
// at hop k (2 to 2n+1) from addr (Hop's inverse), or -1 when neither does.
func (d *Diamond) BranchOf(k int, addr string) int {
	for b := range 2 {
		if addr == d.Hop(k, b).String() {
			return b
		}
	}
	return -1
}

// CountBranches counts, on each branch, the packets to the target (Dst) that
// its R2 forwards and that match the nftables expression match too ("" for
// all of them; "tcp sport 40000", say): which branch a flow's packets take.
func (d *Diamond) CountBranches(match string) ([2]Counter, error) {
	var cs [2]Counter
	for b, r2 := range d.R2 {
		cs[b] = d.nameCounter(r2)
		if err := nft(r2, "add counter inet lab "+cs[b].name,
			fmt.Sprintf("add rule inet lab forward_chain ip daddr %s %s counter name %s", d.Dst, match, cs[b].name)); err != nil {
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
// towards the target (Dst), at random, and counts those it dropped: perTTL by
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
	match := fmt.Sprintf("add rule inet lab forward_chain ip daddr %s ", d.Dst)
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

// HashICMP makes R1 balance ICMP echo requests to the target (Dst) as some
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
			append([]string{"-n", d.R1, "route", "add", d.targetNet(), "table", table}, "via", diamondAddr(1+b, 1).String(), "dev", ddev(1+b)),
			{"-n", d.R1, "rule", "add", "fwmark", strconv.Itoa(1 + b), "table", table},
		}); err != nil {
			return err
		}
	}
	return nft(d.R1,
		"add table ip ecmp",
		"add chain ip ecmp pre { type filter hook prerouting priority mangle; policy accept; }",
		fmt.Sprintf("add rule ip ecmp pre ip daddr %s icmp type echo-request meta mark set jhash ip saddr . ip daddr . icmp type . icmp code . icmp checksum mod 2 seed 0x%d offset 1",
			d.targetNet(), diamondHashSeed),
	)
}

// ListenTCP opens port on the target (Dst; a listener in the target
// namespace): a SYN gets SYN-ACK; on any other port the target's kernel
// answers RST. Accepted connections are closed at once.
func (d *Diamond) ListenTCP(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d: want 1..65535", port)
	}
	return listenTCP(d.Target, netip.AddrPortFrom(d.Dst, uint16(port)).String(), d.onClose)
}
