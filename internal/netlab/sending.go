package netlab

import (
	"fmt"
	"net/netip"
	"strconv"
)

// LoopbackSource is an address the client holds on its loopback device
// only: probes from it leave by c0 (the route to the targets), and the
// router and targets route it back to the client.
var LoopbackSource = netip.MustParseAddr("198.18.2.1")

// AddLoopbackSource gives the client LoopbackSource on lo and routes it
// back from the router and the target.
func (l *Lab) AddLoopbackSource() error {
	return runIP([][]string{
		{"-n", l.Client, "addr", "add", LoopbackSource.String() + "/32", "dev", "lo"},
		{"-n", l.Router, "route", "add", LoopbackSource.String() + "/32", "via", ClientIP.String()},
		{"-n", l.Target, "route", "add", LoopbackSource.String() + "/32", "via", "198.18.1.1"},
	})
}

// CountFrom counts the packets from src to dst that reach the target,
// with DSCP dscp (an nft name such as "ef" or "af41"; "" any). It drops
// nothing.
func (l *Lab) CountFrom(src, dst netip.Addr, dscp string) (Counter, error) {
	c, err := l.counter(l.Target)
	if err != nil {
		return c, err
	}
	match := fmt.Sprintf("ip saddr %s ip daddr %s", src, dst)
	if dscp != "" {
		match += " ip dscp " + dscp
	}
	return c, nft(l.Target, fmt.Sprintf("add rule inet lab input_chain %s counter name %s", match, c.name))
}

// TargetLinkMTU sets the MTU of the link between the router and the
// targets (r1, t0): a packet larger than it with don't-fragment set is
// dropped by the router, which answers "fragmentation needed" (ICMP 3/4,
// not rate limited in the lab); the client's own link keeps 1500.
func (l *Lab) TargetLinkMTU(mtu int) error {
	m := strconv.Itoa(mtu)
	return runIP([][]string{
		{"-n", l.Router, "link", "set", "dev", "r1", "mtu", m},
		{"-n", l.Target, "link", "set", "dev", "t0", "mtu", m},
	})
}
