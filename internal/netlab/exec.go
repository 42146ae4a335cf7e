package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread moved into the named network namespace.
// Sockets and TUN devices fn creates belong to that namespace for their whole
// life, whichever thread uses them later. The thread is never returned to
// the Go scheduler (the goroutine exits still locked, so the runtime ends
// the thread): no other goroutine can run in the wrong namespace.
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dialer returns a dial function (for an http.Transport) whose
// connections are made inside namespace ns: each socket is created on a
// thread that entered ns (Do).
func Dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := Do(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Command returns a command that runs name inside the client namespace
// (through `ip netns exec`, which gives the child its own view of /sys as
// well). No shell is involved: args reach the program as they are.
func (l *Lab) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Client, name}, args...)...)
}
