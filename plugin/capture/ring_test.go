package capture

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// openLo opens a ring on lo with f and reads it from now on.
func openLo(t *testing.T, f Filter) (*Ring, chan []Frame) {
	t.Helper()
	r := openRing(t, f)
	return r, readRing(t, r)
}

// openRing opens a ring on lo with f, released when the test ends.
func openRing(t *testing.T, f Filter) *Ring {
	t.Helper()
	r, err := Open("lo", f, 10*time.Millisecond)
	if errors.Is(err, ErrPermission) {
		t.Skip("needs CAP_NET_RAW (run as root)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		r.Release()
	})
	return r
}

// readRing reads r from now on into the channel it returns; when the test
// ends (before openRing's release), Read must return without an error.
func readRing(t *testing.T, r *Ring) chan []Frame {
	ch := make(chan []Frame, 1024)
	done := make(chan error, 1)
	go func() { done <- r.Read(func(fs []Frame) { ch <- fs }) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ch
}

// collect reads frames until want of them came or a second passed.
func collect(ch chan []Frame, want int) []Frame {
	var out []Frame
	timer := time.After(time.Second)
	for len(out) < want {
		select {
		case fs := <-ch:
			out = append(out, fs...)
		case <-timer:
			return out
		}
	}
	return out
}

// TestRingUDPAndItsPortUnreachable: a datagram from a reserved port to a
// closed port on loopback is seen leaving (and, on lo, arriving: it is not
// an answer) and the kernel's port unreachable arrives quoting it, stamped
// after it. A datagram from a port outside the range is not kept, nor the
// port unreachable that quotes it. Both source ports are the kernel's
// choice (as in TestRingTCPReset), the range only ours.
func TestRingUDPAndItsPortUnreachable(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	bound := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ours, outside := bound(), bound()
	port := ours.LocalAddr().(*net.UDPAddr).Port
	r, ch := openLo(t, Filter{Srcs: []netip.Addr{lo}, UDP: &Ports{Lo: port, Hi: port}})
	for _, c := range []*net.UDPConn{ours, outside} {
		if _, err := c.WriteToUDP([]byte("XXXX"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
			t.Fatal(err)
		}
	}
	var probe, answer *Frame
	var in, other, unreach int
	for _, f := range collect(ch, 4) {
		c := f.Packet
		switch {
		case c.UDP != nil && c.UDP.SrcPort == port && f.Outgoing:
			probe = &f
		case c.UDP != nil && c.UDP.SrcPort == port:
			in++
		case c.UDP != nil:
			other++
		case c.ICMP != nil && c.ICMP.Type == packet.ICMPUnreachable && c.ICMP.Code == packet.CodePortUnreach && c.Quoted != nil && c.Quoted.UDP != nil:
			unreach++
			if !f.Outgoing && c.Quoted.UDP.SrcPort == port && c.Quoted.UDP.DstPort == 9 {
				answer = &f
			}
		}
	}
	if probe == nil || answer == nil || in != 1 || other != 0 || unreach != 2 {
		t.Fatalf("probe %+v, answer %+v, %d copies arriving (want 1), %d other datagrams (want 0), %d port unreachables (want 2: the one quoting ours, leaving and arriving on lo)",
			probe, answer, in, other, unreach)
	}
	if d := answer.At.Sub(probe.At); d <= 0 || d > 10*time.Millisecond {
		t.Errorf("answer stamped %v after the probe, want 0..10ms", d)
	}
	if d := time.Since(probe.At); d < 0 || d > 5*time.Second {
		t.Errorf("probe stamped %v ago: not the wall clock", d)
	}
	if st := r.Stats(); st.Drops != 0 || st.Seen != 4 || st.Unreadable != 0 {
		t.Errorf("stats %+v, want no drops, 4 seen, nothing unreadable", st)
	}
}

// TestRingTCPReset: a SYN from a reserved port to a closed port leaves and
// its RST-ACK arrives; the connection's own ports are the filter's. The
// source port is the kernel's choice, bound before the ring opens: a fixed
// one can be taken by another package's connection when the tests run in
// parallel, and then no SYN leaves.
func TestRingTCPReset(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: lo.As4()}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	_, ch := openLo(t, Filter{Srcs: []netip.Addr{lo}, TCP: &Ports{Lo: port, Hi: port}})
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 1, Addr: lo.As4()}); err == nil {
		t.Skip("something listens on 127.0.0.1:1")
	} else if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("connecting from port %d to 127.0.0.1:1: %v, want refused", port, err)
	}
	var syn, rst *Frame
	for _, f := range collect(ch, 4) {
		tcp := f.Packet.TCP
		switch {
		case f.Outgoing && tcp.SrcPort == port && tcp.Flags == packet.FlagSYN:
			syn = &f
		case !f.Outgoing && tcp.DstPort == port && tcp.Flags&packet.FlagRST != 0:
			rst = &f
		}
	}
	if syn == nil || rst == nil {
		t.Fatalf("syn %+v, rst %+v: want both", syn, rst)
	}
	if rst.Packet.TCP.Ack != syn.Packet.TCP.Seq+1 {
		t.Errorf("RST acknowledges %d, want the SYN's %d + 1", rst.Packet.TCP.Ack, syn.Packet.TCP.Seq)
	}
	if d := rst.At.Sub(syn.At); d <= 0 || d > 10*time.Millisecond {
		t.Errorf("RST stamped %v after the SYN, want 0..10ms", d)
	}
}

func TestOpenMissingInterface(t *testing.T) {
	_, err := Open("no-such-if0", Filter{Srcs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, ICMP: true, ICMPTag: 1}, 10*time.Millisecond)
	if err == nil || errors.Is(err, ErrPermission) {
		t.Fatalf("err %v, want one naming the interface", err)
	}
}

// TestRingOverflowIsCounted: while nothing reads the ring, more packets
// than it holds pass the filter; the kernel drops the rest, and Stats
// counts them from its own counter: every frame is either handed over or
// counted as dropped. The ring goes on: a datagram sent after the
// overflow still arrives.
func TestRingOverflowIsCounted(t *testing.T) {
	// An address of its own on loopback, and a port that is listened on
	// but never read: no port unreachable comes back to 127.0.0.1, so a
	// plugin another test runs meanwhile on lo (its filter keeps ICMP
	// errors to its own addresses) sees none of this flood.
	src := netip.MustParseAddr("127.0.0.9")
	r := openRing(t, Filter{Srcs: []netip.Addr{src}, UDP: &Ports{Lo: 47200, Hi: 47201}})
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	dst := sink.LocalAddr().(*net.UDPAddr)
	sender := func(sport int) *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src.AsSlice(), Port: sport})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Each datagram passes lo twice (leaving, arriving), Snap bytes of it
	// kept: about 200 frames a 64 KiB block, 6,400 in the ring.
	const n = 8000
	c, payload := sender(47200), make([]byte, 1000)
	for i := 0; i < n; i++ {
		if _, err := c.WriteToUDP(payload, dst); err != nil {
			t.Fatal(err)
		}
	}
	st := r.Stats()
	if st.Drops == 0 {
		t.Fatalf("stats %+v after %d datagrams (%d frames) with no reader: want drops", st, n, 2*n)
	}
	ch := readRing(t, r)
	var read int
	for quiet := time.After(300 * time.Millisecond); ; {
		select {
		case fs := <-ch:
			read += len(fs)
			continue
		case <-quiet:
		}
		break
	}
	after := sender(47201)
	if _, err := after.WriteToUDP([]byte("after"), dst); err != nil {
		t.Fatal(err)
	}
	seenAfter := 0 // its copies leaving and arriving
	for _, f := range collect(ch, 2) {
		if f.Packet.UDP != nil && f.Packet.UDP.SrcPort == 47201 {
			seenAfter++
		}
	}
	st = r.Stats()
	t.Logf("%d datagrams: %d frames read, stats %+v", n, read, st)
	if seenAfter != 2 {
		t.Errorf("a datagram sent after the overflow was handed over %d times, want 2 (leaving and arriving)", seenAfter)
	}
	// Every frame the filter kept was handed over or counted as dropped.
	if read < 1000 || uint64(read) > st.Seen || st.Seen+st.Drops != 2*n+2 || st.Unreadable != 0 {
		t.Errorf("%d frames read of %d sent, stats %+v: want over 1,000 read, each counted as seen, and seen + drops %d", read, 2*n, st, 2*n+2)
	}
}
