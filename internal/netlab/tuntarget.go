package netlab

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
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
	var fd int
	err := Do(l.Client, func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("client tun: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("client tun: eventfd: %w", err)
	}
	e := &Emulator{
		fd:   fd,
		wake: wake,
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2)),
	}
	l.onClose(e.Close)
	go e.loop(ClientTunRange)
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
