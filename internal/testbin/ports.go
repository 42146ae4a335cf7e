package testbin

import (
	"syscall"
	"testing"
)

// ClosedPort returns a loopback port nothing listens on. A TCP port stays
// bound (not listening) by the test for its duration, so nothing else can
// listen there and a SYN to it always draws a RST. A UDP port is bound
// only to be chosen and then freed, since a bound UDP socket would receive
// the datagrams: a datagram to it draws port unreachable unless something
// binds it meanwhile.
func ClosedPort(t testing.TB, udp bool) int {
	t.Helper()
	typ := syscall.SOCK_STREAM
	if udp {
		typ = syscall.SOCK_DGRAM
	}
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil || udp {
		syscall.Close(fd)
	} else {
		t.Cleanup(func() { syscall.Close(fd) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}
