package core

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

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
