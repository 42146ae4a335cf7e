package netlab

import (
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNoRouteOut(t *testing.T) {
	l := New(t)
	// A connected UDP socket needs a route; none exists for an address
	// outside the lab, so nothing can leave (no packet is sent by connect).
	err := Do(l.Client, func() error {
		c, err := net.Dial("udp4", "192.0.2.1:9")
		if err == nil {
			c.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("dial outside the lab from the client: got %v, want network is unreachable", err)
	}
}

func TestLosslessPath(t *testing.T) {
	l := New(t)
	r, out := fping(t, l, 50, 5*time.Millisecond, Target(7).String())
	if r.sent != 50 || r.recv != 50 {
		t.Fatalf("lossless target: fping %d/%d, want 50/50\n%s", r.sent, r.recv, out)
	}
}

func TestLoss(t *testing.T) {
	l := New(t)
	// 4 targets x 250 probes: 1000 packets in about 2.5 s.
	const n = 1000
	targets := []netip.Addr{Target(10), Target(11), Target(12), Target(13)}
	c, err := l.Loss(30, targets...)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, a := range targets {
		addrs = append(addrs, a.String())
	}
	r, out := fping(t, l, n/len(targets), 10*time.Millisecond, addrs...)
	dropped, err := c.Packets()
	if err != nil {
		t.Fatal(err)
	}
	// The drop counter is the exact truth: every request not dropped is
	// answered on this lossless veth path.
	if r.sent != n || r.recv != n-dropped {
		t.Errorf("fping %d sent, %d received; nft dropped %d: want received %d", r.sent, r.recv, dropped, n-dropped)
	}
	// The injected rate itself: dropped ~ Binomial(1000, 0.3); a rule that
	// drops at a wrong rate falls outside the 99.9% interval.
	if lo, hi := Binomial999(n, 0.3); dropped < lo || dropped > hi {
		t.Errorf("dropped %d of %d, outside the 99.9%% interval [%d, %d] of 30%% loss\n%s", dropped, n, lo, hi, out)
	}
}

func TestSilent(t *testing.T) {
	l := New(t)
	target := Target(20)
	c, err := l.Silent(target)
	if err != nil {
		t.Fatal(err)
	}
	r, out := fping(t, l, 5, 10*time.Millisecond, target.String())
	dropped, _ := c.Packets()
	if r.sent != 5 || r.recv != 0 || dropped != 5 {
		t.Fatalf("silent target: fping %d/%d, nft dropped %d; want 5/0 and 5 dropped\n%s", r.sent, r.recv, dropped, out)
	}
	// A neighbour in the range is unaffected.
	if r, out := fping(t, l, 5, 10*time.Millisecond, Target(21).String()); r.recv != 5 {
		t.Fatalf("neighbour of a silent target: fping %d/%d, want 5/5\n%s", r.sent, r.recv, out)
	}
}

var unreachRE = regexp.MustCompile(`ICMP Host Unreachable from 198\.18\.0\.2 for ICMP Echo sent to 198\.19\.0\.30`)

func TestUnreachable(t *testing.T) {
	l := New(t)
	target := Target(30)
	c, err := l.Unreachable(target)
	if err != nil {
		t.Fatal(err)
	}
	r, out := fping(t, l, 20, 5*time.Millisecond, target.String())
	sent, _ := c.Packets()
	got := len(unreachRE.FindAllString(out, -1))
	// With rate limiting off every probe gets its error; the kernel's
	// default (one per second) would give 1 here.
	if r.sent != 20 || r.recv != 0 || sent != 20 || got != 20 {
		t.Fatalf("unreachable: fping %d/%d, %d errors seen, router counted %d; want 20/0, 20, 20\n%s",
			r.sent, r.recv, got, sent, out)
	}
}

func TestTCPPorts(t *testing.T) {
	l := New(t)
	if err := l.ListenTCP(8080); err != nil {
		t.Fatal(err)
	}
	filtered, err := l.FilterTCP(8443)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(port string) error {
		return Do(l.Client, func() error {
			c, err := net.DialTimeout("tcp4", net.JoinHostPort(Target(40).String(), port), 300*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	if err := dial("8080"); err != nil {
		t.Errorf("open port 8080: %v, want a connection", err)
	}
	if err := dial("8081"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port 8081: %v, want connection refused (RST)", err)
	}
	err = dial("8443")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("filtered port 8443: %v, want a timeout", err)
	}
	if n, _ := filtered.Packets(); n < 1 || !strings.Contains(l.Target, "-t") {
		t.Errorf("filter counter %d, want at least the one SYN", n)
	}
}
