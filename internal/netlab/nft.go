package netlab

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Faults are nftables rules on the target side: a drop on the client's own
// output would make hping3's sendto fail with EPERM and abort, which is not
// what a lossy network does. Each fault counts the packets it acted on in a
// named counter, so tests compare with what the network really did.

// nftBase creates the lab's tables: an input chain in the target namespace
// and a forward chain in the router.
func (l *Lab) nftBase() error {
	if err := nft(l.Target,
		"add table inet lab",
		"add chain inet lab input_chain { type filter hook input priority 0; policy accept; }",
	); err != nil {
		return err
	}
	return nft(l.Router,
		"add table inet lab",
		"add chain inet lab forward_chain { type filter hook forward priority 0; policy accept; }",
	)
}

// Counter is an nftables named counter: how many packets one fault acted on.
type Counter struct {
	ns, name string
}

func (l *Lab) counter(ns string) (Counter, error) {
	c := l.nameCounter(ns)
	return c, nft(ns, "add counter inet lab "+c.name)
}

var packetsRE = regexp.MustCompile(`packets (\d+)`)

// Packets returns the counter's packet count.
func (c Counter) Packets() (int, error) {
	out, err := output("ip", "netns", "exec", c.ns, "nft", "list", "counter", "inet", "lab", c.name)
	if err != nil {
		return 0, err
	}
	m := packetsRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("nft counter %s: no packet count in %q", c.name, out)
	}
	return strconv.Atoi(m[1])
}

// Loss drops packets to addrs at random with probability percent/100
// (resolution 0.01%), on arrival at the target. The counter holds the
// number dropped.
func (l *Lab) Loss(percent float64, addrs ...netip.Addr) (Counter, error) {
	if percent < 0 || percent > 100 {
		return Counter{}, fmt.Errorf("loss %v%%: want 0..100", percent)
	}
	c, err := l.counter(l.Target)
	if err != nil {
		return c, err
	}
	basis := int(percent*100 + 0.5)
	return c, nft(l.Target, fmt.Sprintf("add rule inet lab input_chain ip daddr %s numgen random mod 10000 < %d counter name %s drop",
		set(addrs), basis, c.name))
}

// Silent drops everything sent to addrs: a host that never answers.
func (l *Lab) Silent(addrs ...netip.Addr) (Counter, error) {
	c, err := l.counter(l.Target)
	if err != nil {
		return c, err
	}
	return c, nft(l.Target, fmt.Sprintf("add rule inet lab input_chain ip daddr %s counter name %s drop", set(addrs), c.name))
}

// Unreachable makes the router answer every packet to addrs with ICMP host
// unreachable (sent from RouterIP) instead of forwarding it. The counter
// holds the number of errors sent: the lab turns off ICMP rate limiting, so
// each matched packet gets one.
func (l *Lab) Unreachable(addrs ...netip.Addr) (Counter, error) {
	c, err := l.counter(l.Router)
	if err != nil {
		return c, err
	}
	return c, nft(l.Router, fmt.Sprintf("add rule inet lab forward_chain ip daddr %s counter name %s reject with icmp type host-unreachable",
		set(addrs), c.name))
}

// FilterTCP drops TCP packets to port on every target address: a filtered
// port, which answers nothing. (A port without a listener is closed: the
// target's kernel answers RST; ListenTCP opens one.)
func (l *Lab) FilterTCP(port int) (Counter, error) {
	c, err := l.counter(l.Target)
	if err != nil {
		return c, err
	}
	return c, nft(l.Target, fmt.Sprintf("add rule inet lab input_chain tcp dport %d counter name %s drop", port, c.name))
}

// RefuseOutput is a firewall on the probing host itself: the client
// namespace drops its own packets to addrs on output, so the kernel refuses
// hping3's sendto with EPERM (hping3 then aborts). The counter holds the
// number of packets refused.
func (l *Lab) RefuseOutput(addrs ...netip.Addr) (Counter, error) {
	if err := nft(l.Client,
		"add table inet lab",
		"add chain inet lab output_chain { type filter hook output priority 0; policy accept; }",
	); err != nil {
		return Counter{}, err
	}
	c, err := l.counter(l.Client)
	if err != nil {
		return c, err
	}
	return c, nft(l.Client, fmt.Sprintf("add rule inet lab output_chain ip daddr %s counter name %s drop", set(addrs), c.name))
}

func set(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// nft runs nft commands in namespace ns, one process for all of them.
func nft(ns string, cmds ...string) error {
	args := []string{"netns", "exec", ns, "nft", strings.Join(cmds, "; ")}
	return run("ip", args...)
}
