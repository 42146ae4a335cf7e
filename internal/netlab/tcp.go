package netlab

import (
	"net"
	"strconv"
)

// ListenTCP opens port on every target address (a listener in the target
// namespace bound to 0.0.0.0, which the local route makes cover the whole
// range): a SYN gets SYN-ACK from the target's kernel. Accepted connections
// are closed at once; a SYN probe never completes the handshake anyway
// (the client's kernel answers the SYN-ACK with RST).
func (l *Lab) ListenTCP(port int) error {
	return listenTCP(l.Target, "0.0.0.0:"+strconv.Itoa(port), l.onClose)
}

// listenTCP listens on addr in namespace ns, closing every connection it
// accepts, until the lab's teardown (registered with onClose).
func listenTCP(ns, addr string, onClose func(func())) error {
	var ln net.Listener
	err := Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	onClose(func() { ln.Close() })
	return nil
}
