package labtest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// Path probes through netlab's chain of three routers (client, R1, R2, R3,
// target): the hop lines against the addresses the routers answer from and
// the packets nftables dropped. Path probes need the Tcl engine, so these
// tests are TestTcl* (the CLI engine's lab run skips them).

// chain builds the router chain and checks for hping3.
func chain(t *testing.T) *netlab.Chain {
	t.Helper()
	c := netlab.NewChain(t)
	testbin.RequireTool(t, "hping3")
	return c
}

// pathGroup is one table probing the chain's target with path probes.
func pathGroup(protocol string, port, count int, interval string, maxHops int) string {
	s := fmt.Sprintf("[[inputs.hping3]]\ntargets = [%q]\nprotocol = %q\ncount = %d\ninterval = %q\ntimeout = \"500ms\"\npath = true\nmax_hops = %d\n",
		netlab.ChainTarget.String(), protocol, count, interval, maxHops)
	if port != 0 {
		s += fmt.Sprintf("port = %d\n", port)
	}
	return s
}

// wantHop is what one hping3_hop line must say.
type wantHop struct {
	hop    int
	ip     netip.Addr // invalid: no responder, no hop_ip tag
	tx, rx int        // rx -1: any
	// slack widens tx to tx +/- slack, with rx == tx: a continuous
	// window cuts a hop's packets and the target's at different points
	// of their periods.
	slack int
}

// checkHops holds lines to want, in order, exactly.
func checkHops(t *testing.T, lines []point, want []wantHop) {
	t.Helper()
	if len(lines) != len(want) {
		for _, l := range lines {
			t.Logf("hop line: %v %v", l.tags, l.fields)
		}
		t.Fatalf("%d hping3_hop lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		l := lines[i]
		ip, has := l.tags["hop_ip"]
		switch {
		case l.tags["hop"] != strconv.Itoa(w.hop) || l.tags["target"] != netlab.ChainTarget.String():
			t.Errorf("line %d: tags %v, want hop %d of target %s", i, l.tags, w.hop, netlab.ChainTarget)
		case w.ip.IsValid() && ip != w.ip.String():
			t.Errorf("hop %d: hop_ip %q, want %s", w.hop, ip, w.ip)
		case !w.ip.IsValid() && has:
			t.Errorf("hop %d: hop_ip %q, want none (no router answered)", w.hop, ip)
		}
		tx, rx := l.int(t, "packets_transmitted"), l.int(t, "packets_received")
		if w.slack > 0 {
			if tx < w.tx-w.slack || tx > w.tx+w.slack || rx != tx || tx == 0 {
				t.Errorf("hop %d (%s): %d sent, %d answered; want %d +/- %d, all answered", w.hop, ip, tx, rx, w.tx, w.slack)
			}
			continue
		}
		if tx != w.tx || (w.rx >= 0 && rx != w.rx) {
			t.Errorf("hop %d (%s): %d sent, %d answered; want %d, %d", w.hop, ip, tx, rx, w.tx, w.rx)
		}
	}
}

// TestTclPathLossAtSecondRouter: R2 drops 30% of the probes it forwards
// towards the target. Probes that expire at R1 and R2 are never forwarded
// by R2, so hops 1 and 2 lose nothing; from hop 3 on every hop loses
// exactly what R2 dropped of its TTL (nftables counts by the TTL a packet
// arrives with: a probe sent with TTL h reaches R2 with h-1), and the
// target's own probes (TTL 64) lose what R2 dropped of them. The hop
// addresses are exactly the routers' and the target's.
func TestTclPathLossAtSecondRouter(t *testing.T) {
	c := chain(t)
	const count, maxHops = 60, 6
	perTTL, other, err := c.ForwardLoss(2, 30, []int{2, 3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	r := round(t, c, pathGroup("icmp", 0, count, "20ms", maxHops))
	p := r.get(t, netlab.ChainTarget.String())
	if hc := p.int(t, "hop_count"); hc != 4 {
		t.Errorf("hop_count %d, want 4 (three routers, then the target)", hc)
	}
	if id := p.str("path_id"); len(id) != 16 {
		t.Errorf("path_id %q, want 16 hex digits", id)
	}
	d3, d4, dTarget := counted(t, perTTL[2]), counted(t, perTTL[3]), counted(t, other)
	checkHops(t, r.hops, []wantHop{
		{hop: 1, ip: c.Hop(1), tx: count, rx: count},
		{hop: 2, ip: c.Hop(2), tx: count, rx: count},
		{hop: 3, ip: c.Hop(3), tx: count, rx: count - d3},
		{hop: 4, ip: netlab.ChainTarget, tx: count, rx: count - d4},
	})
	if tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received"); tx != count || rx != count-dTarget {
		t.Errorf("target: %d sent, %d received; want %d, %d (R2 dropped %d)", tx, rx, count, count-dTarget, dTarget)
	}
	// And the loss was really injected where the test says.
	lo, hi := netlab.Binomial999(count, 0.3)
	for hop, d := range map[int]int{3: d3, 4: d4, 0: dTarget} {
		if d < lo || d > hi {
			t.Errorf("R2 dropped %d of %d probes (hop %d; 0: the target's own), want %d..%d at 30%%", d, count, hop, lo, hi)
		}
	}
	t.Logf("R2 dropped %d at hop 3, %d at hop 4, %d of the target's probes", d3, d4, dTarget)
}

// TestTclPathSilentRouter: R2 drops every time exceeded it would send: its
// hop has no hop_ip and answers nothing, while the hops after it answer
// every probe.
func TestTclPathSilentRouter(t *testing.T) {
	c := chain(t)
	const count = 10
	silenced, err := c.SilenceTimeExceeded(2)
	if err != nil {
		t.Fatal(err)
	}
	r := round(t, c, pathGroup("icmp", 0, count, "50ms", 8))
	p := r.get(t, netlab.ChainTarget.String())
	if hc := p.int(t, "hop_count"); hc != 4 {
		t.Errorf("hop_count %d, want 4", hc)
	}
	checkHops(t, r.hops, []wantHop{
		{hop: 1, ip: c.Hop(1), tx: count, rx: count},
		{hop: 2, tx: count, rx: 0},
		{hop: 3, ip: c.Hop(3), tx: count, rx: count},
		{hop: 4, ip: netlab.ChainTarget, tx: count, rx: count},
	})
	if n, err := silenced.Packets(); err != nil || n != count {
		t.Errorf("R2 silenced %d time exceeded messages (%v), want one per hop-2 probe, %d", n, err, count)
	}
	if l := r.hops[1]; l.float(t, "percent_packet_loss") != 100 {
		t.Errorf("silent hop: loss %v, want 100", l.fields["percent_packet_loss"])
	}
}

// TestTclPathTCPOpenPort: TCP SYN path probes to a port the target listens
// on: the routers answer with time exceeded, and the path ends at the
// target with the port open, as the target's own line says.
func TestTclPathTCPOpenPort(t *testing.T) {
	c := chain(t)
	const port, count = 8443, 5
	if err := c.ListenTCP(port); err != nil {
		t.Fatal(err)
	}
	r := round(t, c, pathGroup("tcp", port, count, "50ms", 8))
	key := netlab.ChainTarget.String() + ":" + strconv.Itoa(port)
	p := r.get(t, key)
	if ps := p.str("port_state"); ps != "open" {
		t.Errorf("target: port_state %q, want open", ps)
	}
	if hc := p.int(t, "hop_count"); hc != 4 {
		t.Errorf("hop_count %d, want 4", hc)
	}
	checkHops(t, r.hops, []wantHop{
		{hop: 1, ip: c.Hop(1), tx: count, rx: count},
		{hop: 2, ip: c.Hop(2), tx: count, rx: count},
		{hop: 3, ip: c.Hop(3), tx: count, rx: count},
		{hop: 4, ip: netlab.ChainTarget, tx: count, rx: count},
	})
	for _, l := range r.hops {
		if l.tags["protocol"] != "tcp" || l.tags["port"] != strconv.Itoa(port) {
			t.Errorf("hop %s: tags %v, want protocol tcp, port %d", l.tags["hop"], l.tags, port)
		}
	}
	if last := r.hops[len(r.hops)-1]; last.str("port_state") != "open" {
		t.Errorf("the target's hop: port_state %q, want open", last.str("port_state"))
	}
}

// TestTclPathRouteChange: in continuous mode, R1 and R3 reroute over their
// direct link in the middle of the run (and back): the windows after the
// change show three hops, R3 answering from its bypass address, and a new
// path_id; back on the old route the old path_id returns, as it is the same
// path.
func TestTclPathRouteChange(t *testing.T) {
	c := chain(t)
	d := startDaemon(t, c, "mode = \"continuous\"\n"+pathGroup("icmp", 0, 1, "100ms", 8))
	key := netlab.ChainTarget.String()
	// settle returns the window that follows a full window on the current
	// route: the window that covers a change may hold both paths.
	settle := func() report {
		time.Sleep(1500 * time.Millisecond)
		d.ask()
		time.Sleep(1500 * time.Millisecond)
		return d.ask()
	}
	check := func(name string, rep report, hops int, want []wantHop) string {
		t.Helper()
		p := rep.line(t, 0, key)
		if hc := p.int(t, "hop_count"); hc != hops {
			t.Errorf("%s: hop_count %d, want %d", name, hc, hops)
		}
		// Every hop answered every probe of the window, one per
		// period as the target's own: the window cuts each of them at
		// its own phase of the period (one packet), and a send up to
		// 20 ms late may fall on the other side (one more).
		tx := p.int(t, "packets_transmitted")
		for i := range want {
			want[i].tx, want[i].slack = tx, 2
		}
		checkHops(t, rep.hops, want)
		return p.str("path_id")
	}
	d.ask() // the first window: the first sweep tried TTLs past the target
	before := check("before", settle(), 4, []wantHop{{hop: 1, ip: c.Hop(1)}, {hop: 2, ip: c.Hop(2)}, {hop: 3, ip: c.Hop(3)}, {hop: 4, ip: netlab.ChainTarget}})
	if err := c.Bypass(); err != nil {
		t.Fatal(err)
	}
	bypassed := check("bypassed", settle(), 3, []wantHop{{hop: 1, ip: c.Hop(1)}, {hop: 2, ip: c.BypassHop()}, {hop: 3, ip: netlab.ChainTarget}})
	if err := c.Restore(); err != nil {
		t.Fatal(err)
	}
	restored := check("restored", settle(), 4, []wantHop{{hop: 1, ip: c.Hop(1)}, {hop: 2, ip: c.Hop(2)}, {hop: 3, ip: c.Hop(3)}, {hop: 4, ip: netlab.ChainTarget}})
	if before == bypassed || restored != before {
		t.Errorf("path_id %s, then %s over the bypass, then %s back: want a new id for the new path and the old one back", before, bypassed, restored)
	}
}

// TestTclPathRateLimitingRouter: R2 limits its ICMP errors as Linux does by
// default (icmp_ratemask with time exceeded in it), here one per 200 ms
// after a burst: its hop shows loss, and the hops after it, whose packets R2
// forwards without limit, show none. The loss at hop 2 is R2's, not the
// path's: docs/paths.md tells how to read it.
func TestTclPathRateLimitingRouter(t *testing.T) {
	c := chain(t)
	const count = 20
	for _, kv := range [][2]string{{"net/ipv4/icmp_ratemask", "6168"}, {"net/ipv4/icmp_ratelimit", "200"}} {
		if err := netlab.Sysctl(c.Routers[1], kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	// 20 probes 50 ms apart take 1 s: the burst (6) and about 5 more.
	r := round(t, c, pathGroup("icmp", 0, count, "50ms", 8))
	checkHops(t, r.hops, []wantHop{
		{hop: 1, ip: c.Hop(1), tx: count, rx: count},
		{hop: 2, ip: c.Hop(2), tx: count, rx: -1},
		{hop: 3, ip: c.Hop(3), tx: count, rx: count},
		{hop: 4, ip: netlab.ChainTarget, tx: count, rx: count},
	})
	if rx := r.hops[1].int(t, "packets_received"); rx < 1 || rx > 15 {
		t.Errorf("hop 2: %d of %d answered, want 1..15 from R2's limit", rx, count)
	}
}

// TestTclPathEndsAtUnreachable: R3 refuses to forward to the target with
// host unreachable. Probes that expire at R3 still get its time exceeded;
// the next TTL gets its unreachable, and that ends the path: four hops, the
// fourth R3 again, not one line per TTL up to max_hops, and the target (its
// own line all lost) not reached.
func TestTclPathEndsAtUnreachable(t *testing.T) {
	c := chain(t)
	const count = 5
	if _, err := c.Unreachable(3); err != nil {
		t.Fatal(err)
	}
	r := round(t, c, pathGroup("icmp", 0, count, "50ms", 8))
	p := r.points[netlab.ChainTarget.String()]
	if hc, rx := p.int(t, "hop_count"), p.int(t, "packets_received"); hc != 4 || rx != 0 {
		t.Errorf("hop_count %d, %d received; want 4, 0", hc, rx)
	}
	checkHops(t, r.hops, []wantHop{
		{hop: 1, ip: c.Hop(1), tx: count, rx: count},
		{hop: 2, ip: c.Hop(2), tx: count, rx: count},
		{hop: 3, ip: c.Hop(3), tx: count, rx: count},
		{hop: 4, ip: c.Hop(3), tx: count, rx: count},
	})
}

// TestTclPathOnHping3Capture: path probes where the plugin cannot capture
// (no CAP_NET_RAW of its own; hping3 holds it and captures): ICMP, TCP to
// a closed port and UDP to a closed port through the router chain. Every
// router's time exceeded and the target's answer (echo reply, RST, port
// unreachable) pass hping3's capture filter: each hop answers every probe
// from its own address, and the plugin says once that it has no
// capability.
func TestTclPathOnHping3Capture(t *testing.T) {
	c := chain(t)
	const count = 3
	argv, dir := fallback(t)
	r := roundAs(t, c, argv, dir, pathGroup("icmp", 0, count, "50ms", 6)+pathGroup("tcp", 8081, count, "50ms", 6)+pathGroup("udp", 9, count, "50ms", 6))
	if n := strings.Count(r.stderr, noCapWarning); n != 1 {
		t.Errorf("%d lines %q, want 1; stderr:\n%s", n, noCapWarning, r.stderr)
	}
	byProto := map[string][]point{}
	for _, h := range r.hops {
		byProto[h.tags["protocol"]] = append(byProto[h.tags["protocol"]], h)
	}
	for _, proto := range []string{"icmp", "tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			checkHops(t, byProto[proto], []wantHop{
				{hop: 1, ip: c.Hop(1), tx: count, rx: count},
				{hop: 2, ip: c.Hop(2), tx: count, rx: count},
				{hop: 3, ip: c.Hop(3), tx: count, rx: count},
				{hop: 4, ip: netlab.ChainTarget, tx: count, rx: count},
			})
		})
	}
	for k, p := range r.points {
		if rx := p.int(t, "packets_received"); rx != count || p.int(t, "hop_count") != 4 {
			t.Errorf("%s: %d received, hop_count %d; want %d, 4", k, rx, p.int(t, "hop_count"), count)
		}
	}
	if len(r.points) != 3 {
		t.Errorf("%d target lines, want 3", len(r.points))
	}
}
