package core

import (
	"fmt"
	"net"
	"net/netip"
)

// route is where probes to one target leave: the interface whose capture
// sees the answers, and the source address the answers come back to.
type route struct {
	iface string
	src   netip.Addr
}

// router finds routes from one snapshot of the host's interfaces. When the
// snapshot failed, every route fails with that reason.
type router struct {
	ifaces []net.Interface
	addrs  [][]netip.Addr
	err    error
}

func newRouter() *router {
	ifaces, err := net.Interfaces()
	if err != nil {
		return &router{err: fmt.Errorf("reading the host's interfaces: %w", err)}
	}
	r := &router{ifaces: ifaces}
	for _, ifi := range ifaces {
		r.addrs = append(r.addrs, addrsOf(ifi))
	}
	return r
}

// route finds the route to dst the way the kernel does: a connected UDP
// socket (which sends nothing) gives the source address; the interface is
// the one holding it, or loopback when dst is one of this host's own
// addresses (the kernel then delivers through lo whatever address is
// used). A configured interface is used as it is, with its first IPv4
// address.
func (r *router) route(dst netip.Addr, iface string) (route, error) {
	if r.err != nil {
		return route{}, r.err
	}
	if iface != "" {
		for i, ifi := range r.ifaces {
			if ifi.Name != iface {
				continue
			}
			if len(r.addrs[i]) == 0 {
				return route{}, fmt.Errorf("interface %q has no IPv4 address to send from", iface)
			}
			return route{iface: iface, src: r.addrs[i][0]}, nil
		}
		return route{}, fmt.Errorf("interface %q does not exist", iface)
	}
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return route{}, fmt.Errorf("no route to %s: %v", dst, unwrapSyscall(err))
	}
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	conn.Close()
	local, srcIface := dst.IsLoopback(), ""
	for i, ifi := range r.ifaces {
		for _, a := range r.addrs[i] {
			local = local || a == dst
			if a == src && srcIface == "" {
				srcIface = ifi.Name
			}
		}
	}
	if local {
		for _, ifi := range r.ifaces {
			if ifi.Flags&net.FlagLoopback != 0 {
				return route{iface: ifi.Name, src: src}, nil
			}
		}
	}
	if srcIface == "" {
		return route{}, fmt.Errorf("no interface holds %s, the source address for %s", src, dst)
	}
	return route{iface: srcIface, src: src}, nil
}

func addrsOf(ifi net.Interface) []netip.Addr {
	addrs, _ := ifi.Addrs()
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// unwrapSyscall shortens "dial udp4 ...: connect: network is unreachable"
// to its cause.
func unwrapSyscall(err error) error {
	if op, ok := err.(*net.OpError); ok && op.Err != nil {
		return op.Err
	}
	return err
}
