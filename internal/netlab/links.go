package netlab

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The chain and the diamond are namespaces joined by veth links, each link
// a /24 whose left end (towards the client) is .1 and right end .2, with
// the same device name at both ends.

// addNodes creates the namespaces nodes, each removed at td's teardown,
// with what every node of these labs has (no rate limit on ICMP errors,
// rp_filter off, lo up) and the sysctls extra(i) gives node i.
func addNodes(td *teardown, nodes []string, extra func(i int) [][2]string) error {
	for i, ns := range nodes {
		if err := run("ip", "netns", "add", ns); err != nil {
			return err
		}
		td.onClose(func() { _ = run("ip", "netns", "del", ns) })
		// No rate limit on ICMP errors: every expiring probe gets its
		// time exceeded, every closed UDP port its port unreachable.
		// rp_filter off before any device exists (a device copies
		// "default" when it is created; a new namespace copies both from
		// the host's): after a half-done route change a router may see
		// a packet on a link it would not route the reply back over.
		kv := append([][2]string{
			{"net/ipv4/icmp_ratemask", "0"},
			{"net/ipv4/conf/all/rp_filter", "0"},
			{"net/ipv4/conf/default/rp_filter", "0"},
		}, extra(i)...)
		for _, s := range kv {
			if err := Sysctl(ns, s[0], s[1]); err != nil {
				return err
			}
		}
		if err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	return nil
}

// addLinks creates link i between nodes[links[i][0]] (its left end) and
// nodes[links[i][1]], named dev(i) at both ends, with the addresses
// addr(i, 0) and addr(i, 1) in one /24, up, each end knowing the other's
// MAC permanently: no ARP round trip inside an RTT.
func addLinks(nodes []string, links [][2]int, dev func(int) string, addr func(i, end int) netip.Addr) error {
	for i, l := range links {
		left, right := nodes[l[0]], nodes[l[1]]
		steps := [][]string{
			{"-n", left, "link", "add", dev(i), "type", "veth", "peer", "name", dev(i), "netns", right},
			{"-n", left, "addr", "add", netip.PrefixFrom(addr(i, 0), 24).String(), "dev", dev(i)},
			{"-n", right, "addr", "add", netip.PrefixFrom(addr(i, 1), 24).String(), "dev", dev(i)},
			{"-n", left, "link", "set", dev(i), "up"},
			{"-n", right, "link", "set", dev(i), "up"},
		}
		if err := runIP(steps); err != nil {
			return err
		}
		if err := pinNeigh(left, right, dev(i), addr(i, 0), addr(i, 1)); err != nil {
			return err
		}
	}
	return nil
}

// runIP runs ip with each argument list in turn, stopping at the first
// that fails.
func runIP(steps [][]string) error {
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// newBase checks what every lab needs (root, ip and nft: t skips, or fails
// under CI, without them), removes the namespaces a crashed run left, and
// returns the name prefix of a new lab's namespaces: New's prefix and
// sequence, so that labs of every kind can exist at once and RemoveStale
// cleans up after all of them.
func newBase(t testing.TB) string {
	t.Helper()
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "ip")
	testbin.RequireTool(t, "nft")
	RemoveStale(prefix)
	return fmt.Sprintf("%s%d-%d-", prefix, os.Getpid(), seq.Add(1))
}

// linkEnd is the address of one end (0 left, 1 right) of the i-th link of
// a lab whose links start at 198.18.first.0/24.
func linkEnd(first, i, end int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(first + i), byte(1 + end)})
}

// devName is the name of the i-th link's device in a lab whose devices are
// named letter<i>.
func devName(letter string, i int) string { return letter + strconv.Itoa(i) }
