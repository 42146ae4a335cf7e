package netlab

import (
	"fmt"
	"net/netip"
)

// Addresses of the client-side TUN target (see ClientTun): the client's own
// address on the device, and the range routed through it. Both lie outside
// every other range of the lab.
var (
	ClientTunIP    = netip.MustParseAddr("198.18.12.1")
	ClientTunRange = netip.MustParsePrefix("198.19.12.0/24")
)

// ClientTunTarget returns the i-th address of ClientTunRange (1..254).
func ClientTunTarget(i int) netip.Addr { return nth(ClientTunRange, i) }

// ClientTun creates the TUN device name in the CLIENT namespace, gives it
// ClientTunIP/32, routes ClientTunRange through it (with that source
// address) and answers every request to the range from the device itself,
// exactly as the router's Emulator does (ICMP echo, TCP SYN-ACK or RST, UDP
// port unreachable, after each profile's delay; Events records the truth).
// The probing host's own interface is then a TUN device: its captures have
// no link-layer header (DLT_RAW). The device goes in t.Cleanup.
func (l *Lab) ClientTun(name string) (*Emulator, error) {
	e, err := l.startEmulator(l.Client, name, ClientTunRange, 2)
	if err != nil {
		return nil, fmt.Errorf("client tun: %w", err)
	}
	for _, s := range [][]string{
		{"-n", l.Client, "addr", "add", netip.PrefixFrom(ClientTunIP, 32).String(), "dev", name},
		{"-n", l.Client, "link", "set", name, "up"},
		{"-n", l.Client, "route", "add", ClientTunRange.String(), "dev", name, "src", ClientTunIP.String()},
	} {
		if err := run("ip", s...); err != nil {
			return nil, err // l.close closes e, and the device with it
		}
	}
	return e, nil
}

// RejectAtTarget makes the target namespace itself answer every packet to
// addrs with ICMP host unreachable (sent from the probed address: the
// kernel's source for an error about a packet addressed to it) instead of
// delivering it. The counter holds the number of errors sent.
func (l *Lab) RejectAtTarget(addrs ...netip.Addr) (Counter, error) {
	c, err := l.counter(l.Target)
	if err != nil {
		return c, err
	}
	return c, nft(l.Target, fmt.Sprintf("add rule inet lab input_chain ip daddr %s counter name %s reject with icmp type host-unreachable",
		set(addrs), c.name))
}
