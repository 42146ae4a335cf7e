package netlab

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// UDPEcho opens UDP port on target address addr and answers each datagram
// with a copy of it, from that address and port: a UDP service that replies.
// (Bound to 0.0.0.0, the replies would leave from the target namespace's
// interface address, not the probed one.) A UDP port without it is closed:
// the target's kernel answers ICMP port unreachable. The returned counter
// holds the number of replies sent.
func (l *Lab) UDPEcho(addr netip.Addr, port int) (*atomic.Int64, error) {
	var conn net.PacketConn
	err := Do(l.Target, func() error {
		var err error
		conn, err = net.ListenPacket("udp4", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	var sent atomic.Int64
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := conn.WriteTo(buf[:n], from); err == nil {
				sent.Add(1)
			}
		}
	}()
	l.onClose(func() { conn.Close() })
	return &sent, nil
}
