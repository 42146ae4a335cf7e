package labtest

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// The Tcl engine's own ground truth: one `hping3 exec` process probes every
// target of a round. These tests name the engine themselves (make test runs
// them in the Tcl pass only), both as the top-level TOML key and on the
// command line.

// tclRounds runs one plugin process per TOML on the Tcl engine, all at once.
func tclRounds(t *testing.T, l *netlab.Lab, tomls ...string) []run {
	t.Helper()
	withKey := make([]string, len(tomls))
	for i, s := range tomls {
		withKey[i] = "engine = \"tcl\"\n" + s
	}
	runs := roundsAtOnce(t, l, "tcl", withKey...)
	for i, r := range runs {
		if !strings.Contains(r.stderr, "engine tcl:") {
			t.Fatalf("process %d did not say it runs the Tcl engine; stderr:\n%s", i, r.stderr)
		}
	}
	return runs
}

func tclRound(t *testing.T, l *netlab.Lab, toml string) run {
	t.Helper()
	return tclRounds(t, l, toml)[0]
}

// tclGroup is one [[inputs.hping3]] table; protocol "icmp" leaves out the
// protocol and port. Empty timing strings keep the defaults.
func tclGroup(targets []netip.Addr, protocol string, port, count int, interval, timeout string) string {
	s := make([]string, len(targets))
	for i, a := range targets {
		s[i] = a.String()
	}
	g := "[[inputs.hping3]]\ntargets = " + quoted(s) + "\n"
	if protocol != "icmp" {
		g += fmt.Sprintf("protocol = %q\nport = %d\n", protocol, port)
	}
	if count > 0 {
		g += fmt.Sprintf("count = %d\n", count)
	}
	if interval != "" {
		g += fmt.Sprintf("interval = %q\n", interval)
	}
	if timeout != "" {
		g += fmt.Sprintf("timeout = %q\n", timeout)
	}
	return g + "\n"
}

func key(a netip.Addr, protocol string, port int) string {
	if protocol == "icmp" {
		return a.String()
	}
	return a.String() + ":" + strconv.Itoa(port)
}

// exact checks a lossless result: every packet sent and answered once, no
// duplicate, no ICMP error, and the expected port state ("" for ICMP).
// It reports whether all held.
func exact(t *testing.T, r run, k string, count int, state string) bool {
	t.Helper()
	p := r.get(t, k)
	tx, rx, dup, errs := p.int(t, "packets_transmitted"), p.int(t, "packets_received"), p.int(t, "duplicates"), p.int(t, "icmp_errors")
	loss := p.float(t, "percent_packet_loss")
	if tx != count || rx != count || dup != 0 || errs != 0 || loss != 0 || p.str("port_state") != state {
		t.Errorf("%s: transmitted %d, received %d, duplicates %d, icmp_errors %d, loss %v%%, port_state %q; want %d, %d, 0, 0, 0%%, %q\nall fields: %v",
			k, tx, rx, dup, errs, loss, p.str("port_state"), count, count, state, p.fields)
		return false
	}
	return true
}

// TestTcl1000Lossless probes 1000 targets on a lossless path in one round
// at the default settings (5 packets 1 s apart, timeout 1 s, 1000 packets/s
// at most, which these 5000 packets over 5 s just fit): one engine process
// must send and match all of them, so any loss is the plugin's own.
func TestTcl1000Lossless(t *testing.T) {
	l := lab(t)
	const n, count, interval = 1000, 5, time.Second // the defaults
	var targets []netip.Addr
	for i := 1; i <= n; i++ {
		targets = append(targets, netlab.Target(i))
	}
	r := tclRound(t, l, tclGroup(targets, "icmp", 0, 0, "", ""))
	if len(r.points) != n {
		t.Errorf("%d lines, want one per target: %d", len(r.points), n)
	}
	bad := 0
	for _, a := range targets {
		if !exact(t, r, a.String(), count, "") {
			bad++
		}
	}
	// The rate cap spaces the round's 5000 packets at least 1 ms apart, so
	// the last one leaves no sooner than 4.999 s after the first (less the
	// sender's 200 us look-ahead): no round can end sooner. A lossless
	// round then ends with that packet's reply (well under a millisecond
	// on veth) and 20 ms of grace. On top come process and engine start-up
	// (0.15-0.25 s for 1000 targets here) and the sender's lateness, which
	// a late sender never makes up (it resumes from now): 0.2-0.45 s over
	// 5000 packets at this saturated cap on two busy cores, 7.3 s for the
	// whole round at load average 4.8. Twice the schedule is far beyond
	// that, and far below an engine that waits out timeouts or runs
	// targets a few at a time (the CLI engine takes about 130 s).
	least := time.Duration(n*count-1)*time.Second/time.Duration(config.DefaultMaxPacketRate) - time.Millisecond
	most := 2 * least
	t.Logf("%d targets x %d packets at %v (defaults): round took %v (bound %v..%v), %d targets not exact", n, count, interval, r.wall, least, most, bad)
	if r.wall < least || r.wall > most {
		t.Errorf("round took %v, want %v..%v", r.wall, least, most)
	}
}

// TestTclTwoProcesses starts two plugin processes at the same moment in the
// client namespace, probing the same 50 targets over ICMP, TCP to an open
// and a closed port, and UDP to an echo service and a closed port. Each
// engine matches answers by its own identity (a random ICMP id, source
// ports it holds bound), so neither may count the other's replies: every
// result exact, in both.
func TestTclTwoProcesses(t *testing.T) {
	l := lab(t)
	const n, count = 50, 5
	const tcpOpen, tcpClosed, udpOpen, udpClosed = 8080, 8081, 7, 9
	if err := l.ListenTCP(tcpOpen); err != nil {
		t.Fatal(err)
	}
	var targets []netip.Addr
	var echoes []*atomic.Int64
	for i := 1; i <= n; i++ {
		a := netlab.Target(200 + i)
		targets = append(targets, a)
		c, err := l.UDPEcho(a, udpOpen)
		if err != nil {
			t.Fatal(err)
		}
		echoes = append(echoes, c)
	}
	cases := []struct {
		protocol string
		port     int
		state    string
	}{
		{"icmp", 0, ""},
		{"tcp", tcpOpen, "open"},
		{"tcp", tcpClosed, "closed"},
		{"udp", udpOpen, "open"},
		{"udp", udpClosed, "closed"},
	}
	// 250 probes x 2 packets/s: 500 packets/s per process on average
	// (the first 250 go 1 ms apart at the default cap), over 2.5 s: the
	// two processes' rounds overlap whole.
	var toml string
	for _, c := range cases {
		toml += tclGroup(targets, c.protocol, c.port, count, "500ms", "1s")
	}
	runs := tclRounds(t, l, toml, toml)
	for i, r := range runs {
		bad := 0
		for _, c := range cases {
			for _, a := range targets {
				if !exact(t, r, key(a, c.protocol, c.port), count, c.state) {
					bad++
				}
			}
		}
		t.Logf("process %d: round took %v, %d of %d results not exact", i, r.wall, bad, n*len(cases))
	}
	echoed := int64(0)
	for _, c := range echoes {
		echoed += c.Load()
	}
	if want := int64(len(runs) * n * count); echoed != want {
		t.Errorf("the echo services answered %d datagrams, want %d (2 processes x %d targets x %d)", echoed, want, n, count)
	}
}

// TestTclICMPErrorOnItsTargetOnly has host unreachable answer every probe of
// one target (from the router, and in a second lab from the target's own
// kernel), while the target beside it answers, probed in the same round
// with the same protocols and ports. Each error quotes its probe: it counts
// on that target only, as an error and never as a reply.
func TestTclICMPErrorOnItsTargetOnly(t *testing.T) {
	for _, where := range []string{"router", "target"} {
		t.Run(where, func(t *testing.T) {
			l := lab(t)
			bad, good := netlab.Target(300), netlab.Target(301)
			var c netlab.Counter
			var err error
			if where == "router" {
				c, err = l.Unreachable(bad)
			} else {
				c, err = l.RejectAtTarget(bad)
			}
			if err != nil {
				t.Fatal(err)
			}
			const count = 10
			cases := []struct {
				protocol string
				port     int
				state    string // of the good target
			}{
				{"tcp", 80, "closed"},
				{"udp", 9, "closed"},
				{"icmp", 0, ""},
			}
			var toml string
			for _, cs := range cases {
				toml += tclGroup([]netip.Addr{bad, good}, cs.protocol, cs.port, count, "20ms", "200ms")
			}
			r := tclRound(t, l, toml)
			sent, err := c.Packets()
			if err != nil {
				t.Fatal(err)
			}
			errs := 0
			for _, cs := range cases {
				k := key(bad, cs.protocol, cs.port)
				p := r.get(t, k)
				tx, rx, e, dup := p.int(t, "packets_transmitted"), p.int(t, "packets_received"), p.int(t, "icmp_errors"), p.int(t, "duplicates")
				state := "none"
				if cs.protocol == "icmp" {
					state = ""
				}
				if tx != count || rx != 0 || e != count || dup != 0 || p.float(t, "percent_packet_loss") != 100 || p.str("port_state") != state {
					t.Errorf("%s (unreachable): transmitted %d, received %d, icmp_errors %d, duplicates %d, loss %v%%, port_state %q; want %d, 0, %d, 0, 100%%, %q",
						k, tx, rx, e, dup, p.fields["percent_packet_loss"], p.str("port_state"), count, count, state)
				}
				if _, ok := p.fields["average_response_ms"]; ok {
					t.Errorf("%s: RTT fields present with nothing received: %v", k, p.fields)
				}
				errs += e
				exact(t, r, key(good, cs.protocol, cs.port), count, cs.state)
			}
			if sent != len(cases)*count || errs != sent {
				t.Errorf("icmp_errors %d in total, the %s sent %d errors (want %d)", errs, where, sent, len(cases)*count)
			}
		})
	}
}

// TestTclTunTarget puts the probing host's own way to a target on a TUN
// device in the client namespace (captured without a link-layer header),
// answered from the device with a 10 ms delay and TTL 77, next to a lab
// target on the veth in the same round: every packet received on both, TTL
// as sent (no router on the TUN path), the RTTs as the device recorded them.
func TestTclTunTarget(t *testing.T) {
	l := lab(t)
	e, err := l.ClientTun("tunt0")
	if err != nil {
		t.Fatal(err)
	}
	const delay, ttl = 10 * time.Millisecond, 77
	e.Set(netlab.ClientTunRange, netlab.Profile{Delay: delay, TTL: ttl, OpenPorts: []uint16{443}})
	if err := l.ListenTCP(443); err != nil { // the veth target's open port
		t.Fatal(err)
	}
	tun, veth := netlab.ClientTunTarget(5), netlab.Target(400)
	const count = 20
	cases := []struct {
		protocol string
		proto    uint8
		port     int
		state    string
	}{
		{"icmp", netlab.ProtoICMP, 0, ""},
		{"tcp", netlab.ProtoTCP, 443, "open"},
		{"tcp", netlab.ProtoTCP, 444, "closed"},
		{"udp", netlab.ProtoUDP, 9, "closed"},
	}
	var toml string
	for _, c := range cases {
		toml += tclGroup([]netip.Addr{tun, veth}, c.protocol, c.port, count, "20ms", "200ms")
	}
	r := tclRound(t, l, toml)
	e.Wait()
	if err := e.Err(); err != nil {
		t.Fatalf("tun target stopped: %v", err)
	}
	evs := e.Events(tun)
	for _, c := range cases {
		exact(t, r, key(veth, c.protocol, c.port), count, c.state)
		k := key(tun, c.protocol, c.port)
		if !exact(t, r, k, count, c.state) {
			continue
		}
		p := r.get(t, k)
		var mine []netlab.Event
		for _, ev := range evs {
			if ev.Proto == c.proto && int(ev.DstPort) == c.port {
				mine = append(mine, ev)
			}
		}
		truth := netlab.TruthRTTs(mine)
		if len(mine) != count || len(truth) != count {
			t.Errorf("%s: the tun saw %d requests and answered %d, want %d", k, len(mine), len(truth), count)
			continue
		}
		if got := p.int(t, "ttl"); got != ttl {
			t.Errorf("%s: ttl %d, want %d (as the tun sent it: no router between)", k, got, ttl)
		}
		// Every reply left at least delay after its request arrived, and
		// reached hping3's capture at most its pcap window (1 ms) and its
		// wait to be scheduled later than it left. But the engine stamps a
		// send once sendto has returned, so a sample also reads short by
		// however long hping3 waits to run again then (the tun's real-time
		// thread, woken by that very packet, preempts it, and other load
		// may run before it resumes): here 1.7 ms on two loaded cores. Each
		// sample must lie within 5 ms of [delay, truth's max], the margin
		// TestLateReplies gives user-space stamps under load: a reply filed
		// under a neighbouring packet (20 ms away) could not. The mean is
		// held to the recorded truth plus the clock's bias, as the
		// emulator's delay tests hold it (clockBias).
		mn, avg, mx := p.float(t, "minimum_response_ms"), p.float(t, "average_response_ms"), p.float(t, "maximum_response_ms")
		bias, tol := clockBias()
		want := netlab.Mean(truth) + bias
		floor, ceil := float64(delay)/float64(time.Millisecond)-5, maxOf(truth)+5
		t.Logf("%s: rtt min/avg/max %.3f/%.3f/%.3f ms; tun truth min/mean/max %.3f/%.3f/%.3f ms",
			k, mn, avg, mx, minOf(truth), netlab.Mean(truth), maxOf(truth))
		if mn < floor || math.Abs(avg-want) > tol || mx > ceil {
			t.Errorf("%s: rtt min %.3f avg %.3f max %.3f ms; want min >= %.1f, avg %.3f +/- %.2f (truth %.3f + the clock's bias), max <= %.3f",
				k, mn, avg, mx, floor, want, tol, netlab.Mean(truth), ceil)
		}
	}
}
