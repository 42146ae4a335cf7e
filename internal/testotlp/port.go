package testotlp

import (
	"net"
	"testing"
)

// FreePort returns a loopback address nobody listens on right now, for a
// program the test starts to listen on (it may be taken meanwhile, but the
// kernel hands out ports in turn, so that is rare).
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
