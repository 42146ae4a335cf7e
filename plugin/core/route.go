package core

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// route is where probes to one target leave: the interface whose capture
// sees the answers, its MTU, and the source address the answers come back
// to.
type route struct {
	iface string
	src   netip.Addr
	mtu   int
}

// router finds routes from one snapshot of the host's interfaces. When the
// snapshot failed, every route fails with that reason. Its UDP socket asks
// the kernel for source addresses (sourceFor); close frees it.
type router struct {
	ifaces []net.Interface
	addrs  [][]netip.Addr
	err    error
	udp    int // the socket sourceFor connects, -1 until the first
}

func newRouter() *router {
	ifaces, err := net.Interfaces()
	if err != nil {
		return &router{err: fmt.Errorf("reading the host's interfaces: %w", err), udp: -1}
	}
	r := &router{ifaces: ifaces, udp: -1}
	for _, ifi := range ifaces {
		r.addrs = append(r.addrs, addrsOf(ifi))
	}
	return r
}

// route finds the route to dst for a group's settings s the way the kernel
// does. A configured source_address is the source, and the interface the
// kernel routes dst from it by (egress). Else a connected UDP socket
// (which sends nothing) gives the source address; the interface is the
// one holding it, or loopback when dst is one of this host's own addresses
// (the kernel then delivers through lo whatever address is used). A
// configured interface is used as it is, with source_address or else its
// first IPv4 address.
func (r *router) route(dst netip.Addr, s config.Settings) (route, error) {
	if r.err != nil {
		return route{}, r.err
	}
	var src netip.Addr
	if s.Source != "" {
		var err error
		if src, err = r.own(s.Source); err != nil {
			return route{}, err
		}
	}
	if s.Interface != "" {
		for i, ifi := range r.ifaces {
			if ifi.Name != s.Interface {
				continue
			}
			if src.IsValid() {
				return route{iface: ifi.Name, src: src, mtu: ifi.MTU}, nil
			}
			if len(r.addrs[i]) == 0 {
				return route{}, fmt.Errorf("interface %q has no IPv4 address to send from", s.Interface)
			}
			return route{iface: ifi.Name, src: r.addrs[i][0], mtu: ifi.MTU}, nil
		}
		return route{}, fmt.Errorf("interface %q does not exist", s.Interface)
	}
	if src.IsValid() {
		index, err := egress(dst, src)
		if err != nil {
			return route{}, err
		}
		for _, ifi := range r.ifaces {
			if ifi.Index == index {
				return route{iface: ifi.Name, src: src, mtu: ifi.MTU}, nil
			}
		}
		return route{}, fmt.Errorf("the route from %s to %s leaves by interface %d, which this host no longer has", src, dst, index)
	}
	src, err := r.sourceFor(dst)
	if err != nil {
		return route{}, err
	}
	local, srcIface := dst.IsLoopback(), -1
	for i := range r.ifaces {
		for _, a := range r.addrs[i] {
			local = local || a == dst
			if a == src && srcIface < 0 {
				srcIface = i
			}
		}
	}
	if local {
		for _, ifi := range r.ifaces {
			if ifi.Flags&net.FlagLoopback != 0 {
				return route{iface: ifi.Name, src: src, mtu: ifi.MTU}, nil
			}
		}
	}
	if srcIface < 0 {
		return route{}, fmt.Errorf("no interface holds %s, the source address for %s", src, dst)
	}
	ifi := r.ifaces[srcIface]
	return route{iface: ifi.Name, src: src, mtu: ifi.MTU}, nil
}

// own returns source_address a as an address, or why this host does not
// hold it (any more: validation checked it when the configuration was
// read).
func (r *router) own(a string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return ip, fmt.Errorf("source_address %q: %w", a, err)
	}
	for i := range r.ifaces {
		if slices.Contains(r.addrs[i], ip) {
			return ip, nil
		}
	}
	return ip, fmt.Errorf("source_address %s is not an address of this host (any more): the plugin sends only from its own", ip)
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

// sourceFor is the source address the kernel gives a packet to dst: that
// of a UDP socket connected to it (which sends nothing). One socket serves
// every target: connecting it to AF_UNSPEC first drops the previous
// target's source address, which a connected socket otherwise keeps. Three
// system calls a target, where a socket of its own took four (10,000
// targets: 50 ms) and net.DialUDP, which also registers the socket with the
// poller and reads both its addresses, took 118 ms.
func (r *router) sourceFor(dst netip.Addr) (netip.Addr, error) {
	if r.udp < 0 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("finding the route to %s: %w", dst, err)
		}
		r.udp = fd
	} else if err := disconnect(r.udp); err != nil {
		return netip.Addr{}, fmt.Errorf("finding the route to %s: %w", dst, err)
	}
	if err := unix.Connect(r.udp, &unix.SockaddrInet4{Port: 9, Addr: dst.As4()}); err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %v", dst, err)
	}
	sa, err := unix.Getsockname(r.udp)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the route to %s: %w", dst, err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return netip.Addr{}, fmt.Errorf("finding the route to %s: no IPv4 source", dst)
	}
	return netip.AddrFrom4(in4.Addr), nil
}

// disconnect connects a UDP socket to AF_UNSPEC, which x/sys/unix's
// Connect cannot express.
func disconnect(fd int) error {
	sa := unix.RawSockaddrInet4{Family: unix.AF_UNSPEC}
	_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	if errno != 0 {
		return errno
	}
	return nil
}

// close frees the router's socket.
func (r *router) close() {
	if r.udp >= 0 {
		unix.Close(r.udp)
		r.udp = -1
	}
}

// egress asks the kernel (netlink RTM_GETROUTE, as `ip route get DST from
// SRC` does) which interface a packet from src to dst leaves by. With a
// source address of the host's own, that is not where the address lives: a
// source held on loopback leaves by the route's interface, and its answers
// come back there, so that is where they are read.
func egress(dst, src netip.Addr) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("asking the kernel for the route: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 2}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	attr := func(b []byte, typ uint16, a netip.Addr) []byte {
		v := a.As4()
		b = binary.NativeEndian.AppendUint16(b, unix.SizeofRtAttr+4)
		b = binary.NativeEndian.AppendUint16(b, typ)
		return append(b, v[:]...)
	}
	req := make([]byte, unix.SizeofNlMsghdr, 64)
	req = append(req, unix.AF_INET, 32, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0) // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
	req = attr(req, unix.RTA_DST, dst)
	req = attr(req, unix.RTA_SRC, src)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETROUTE)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], 1) // sequence number
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("asking the kernel for the route: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("reading the kernel's route: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, fmt.Errorf("reading the kernel's route: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return 0, fmt.Errorf("no route from %s to %s: %w", src, dst, syscall.Errno(-e))
				}
			}
		case unix.RTM_NEWROUTE:
			attrs, err := syscall.ParseNetlinkRouteAttr(&m)
			if err != nil {
				return 0, fmt.Errorf("reading the kernel's route: %w", err)
			}
			for _, a := range attrs {
				if a.Attr.Type == unix.RTA_OIF && len(a.Value) >= 4 {
					return int(binary.NativeEndian.Uint32(a.Value)), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("the kernel's route from %s to %s names no interface", src, dst)
}
