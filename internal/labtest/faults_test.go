package labtest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
)

// TestHostUnreachable puts a router answering "host unreachable" in front
// of a target: hping3's own summary calls that 0% loss; the plugin must
// report nothing received, 100% loss and every error the router sent.
func TestHostUnreachable(t *testing.T) {
	l := lab(t)
	icmp, tcp := netlab.Target(50), netlab.Target(51)
	c, err := l.Unreachable(icmp, tcp)
	if err != nil {
		t.Fatal(err)
	}
	const count = 10
	r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = [%q]
count = %d
interval = "20ms"
timeout = "200ms"

[[inputs.hping3]]
targets = [%q]
protocol = "tcp"
port = 80
count = %d
interval = "20ms"
timeout = "200ms"
`, icmp, count, tcp, count))
	sent, err := c.Packets()
	if err != nil {
		t.Fatal(err)
	}
	errs := 0
	for _, key := range []string{icmp.String(), tcp.String() + ":80"} {
		p := r.get(t, key)
		tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received")
		if tx != count || rx != 0 || p.float(t, "percent_packet_loss") != 100 {
			t.Errorf("%s: %d/%d received, loss %v%%; want 0/%d, 100%%", key, rx, tx, p.fields["percent_packet_loss"], count)
		}
		if _, ok := p.fields["average_response_ms"]; ok {
			t.Errorf("%s: RTT fields present with nothing received: %v", key, p.fields)
		}
		errs += p.int(t, "icmp_errors")
	}
	if p := r.get(t, tcp.String()+":80"); p.str("port_state") != "none" {
		t.Errorf("tcp behind unreachable: port_state %q, want none", p.str("port_state"))
	}
	if sent != 2*count || errs != sent {
		t.Errorf("icmp_errors %d in total, router sent %d (want %d)", errs, sent, 2*count)
	}
}

// TestTCPPortStates probes an open port (a listener on the target), a closed
// one (the target's kernel answers RST), a filtered one (nftables drops),
// and an emulated host whose replies leave with TTL 100.
func TestTCPPortStates(t *testing.T) {
	l := lab(t)
	e := emulator(t, l)
	if err := l.ListenTCP(8080); err != nil {
		t.Fatal(err)
	}
	if _, err := l.FilterTCP(8443); err != nil {
		t.Fatal(err)
	}
	target, emu := netlab.Target(60), netlab.Emu(20)
	e.Set(netip.PrefixFrom(emu, 32), netlab.Profile{TTL: 100, OpenPorts: []uint16{443}})
	group := func(addr netip.Addr, port int) string {
		return fmt.Sprintf(`[[inputs.hping3]]
targets = [%q]
protocol = "tcp"
port = %d
count = 10
interval = "20ms"
timeout = "200ms"
`, addr, port)
	}
	r := round(t, l, group(target, 8080)+group(target, 8081)+group(target, 8443)+group(emu, 443)+group(emu, 444))
	cases := []struct {
		addr      netip.Addr
		port      int
		state     string
		rx        int
		ttl       int // -1: no ttl field
		truthLoss float64
	}{
		{target, 8080, "open", 10, 64 - netlab.Hops, 0},
		{target, 8081, "closed", 10, 64 - netlab.Hops, 0},
		{target, 8443, "none", 0, -1, 100},
		{emu, 443, "open", 10, 100 - netlab.Hops, 0},
		{emu, 444, "closed", 10, 100 - netlab.Hops, 0},
	}
	for _, c := range cases {
		key := c.addr.String() + ":" + strconv.Itoa(c.port)
		p := r.get(t, key)
		if p.str("port_state") != c.state || p.int(t, "packets_received") != c.rx || p.float(t, "percent_packet_loss") != c.truthLoss {
			t.Errorf("%s: port_state %q, received %d, loss %v%%; want %q, %d, %v%%",
				key, p.str("port_state"), p.int(t, "packets_received"), p.fields["percent_packet_loss"], c.state, c.rx, c.truthLoss)
		}
		ttl, has := p.fields["ttl"].(int64)
		if c.ttl < 0 && has || c.ttl >= 0 && int(ttl) != c.ttl {
			t.Errorf("%s: ttl %v, want %d (the replies' TTL less %d router hop)", key, p.fields["ttl"], c.ttl, netlab.Hops)
		}
	}
}

// TestSilentTarget: a target that never answers ends its round after count
// packets, interval apart, plus the timeout, and reports no RTT.
func TestSilentTarget(t *testing.T) {
	l := lab(t)
	target := netlab.Target(70)
	c, err := l.Silent(target)
	if err != nil {
		t.Fatal(err)
	}
	const count, interval, timeout = 10, 50 * time.Millisecond, 300 * time.Millisecond
	r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = [%q]
count = %d
interval = "%v"
timeout = "%v"
`, target, count, interval, timeout))
	p := r.get(t, target.String())
	dropped, _ := c.Packets()
	if tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received"); tx != count || rx != 0 || dropped != count || p.float(t, "percent_packet_loss") != 100 {
		t.Errorf("silent: %d/%d received, loss %v%%, nftables dropped %d; want 0/%d, 100%%, %d", rx, tx, p.fields["percent_packet_loss"], dropped, count, count)
	}
	for _, k := range []string{"minimum_response_ms", "average_response_ms", "maximum_response_ms", "standard_deviation_ms", "jitter_ms", "ttl"} {
		if v, ok := p.fields[k]; ok {
			t.Errorf("silent: field %s = %v present, want absent (nothing was received)", k, v)
		}
	}
	// The whole process (start-up included) cannot end before the last
	// packet's timeout, and must end soon after count x interval + timeout:
	// the margin covers process start, hping3's own start-up and the
	// plugin's 200 ms allowance for it.
	least := (count-1)*interval + timeout
	most := count*interval + timeout + 400*time.Millisecond
	t.Logf("silent target: process took %v (window %v..%v)", r.wall, least, most)
	if r.wall < least || r.wall > most {
		t.Errorf("round took %v, want %v..%v", r.wall, least, most)
	}
}

// TestUDPPortStates probes a UDP port where a service answers (an echo
// listener on the target), and a closed one (the target's kernel answers
// ICMP port unreachable): open with the replies' own rtt, closed with
// hping3's summary times; both lossless.
func TestUDPPortStates(t *testing.T) {
	l := lab(t)
	target := netlab.Target(80)
	echoed, err := l.UDPEcho(target, 7)
	if err != nil {
		t.Fatal(err)
	}
	// The CLI engine has no per-reply rtt for a port unreachable (hping3
	// prints only its summary's min/avg/max); the Tcl engine times each.
	const count = 10
	group := func(port int) string {
		return fmt.Sprintf(`[[inputs.hping3]]
targets = [%q]
protocol = "udp"
port = %d
count = %d
interval = "20ms"
timeout = "200ms"
`, target, port, count)
	}
	r := round(t, l, group(7)+group(9))
	for _, c := range []struct {
		port   int
		state  string
		detail bool // per-reply rtt: standard deviation present
	}{{7, "open", true}, {9, "closed", !cliEngine()}} {
		key := target.String() + ":" + strconv.Itoa(c.port)
		p := r.get(t, key)
		if p.str("port_state") != c.state || p.int(t, "packets_received") != count || p.float(t, "percent_packet_loss") != 0 || p.int(t, "icmp_errors") != 0 {
			t.Errorf("%s: port_state %q, %d received, loss %v%%, %v icmp errors; want %q, %d, 0%%, 0",
				key, p.str("port_state"), p.int(t, "packets_received"), p.fields["percent_packet_loss"], p.fields["icmp_errors"], c.state, count)
		}
		if avg, ok := p.fields["average_response_ms"].(float64); !ok || avg < 0 || avg > 20 {
			t.Errorf("%s: average_response_ms %v, want 0..20 ms on the lab's veth path", key, p.fields["average_response_ms"])
		}
		if _, ok := p.fields["standard_deviation_ms"]; ok != c.detail {
			t.Errorf("%s: standard_deviation_ms present %v, want %v", key, ok, c.detail)
		}
	}
	if n := echoed.Load(); n != count {
		t.Errorf("the echo service answered %d datagrams, want %d", n, count)
	}
}

// TestLocalFirewallRefusal: the probing host's own firewall drops the probe
// on output, so the kernel refuses hping3's sendto. That target reports
// result_code 2 naming the firewall (not a missing capability: the raw
// socket opened); the target beside it is probed as usual.
func TestLocalFirewallRefusal(t *testing.T) {
	l := lab(t)
	refused, open := netlab.Target(90), netlab.Target(91)
	c, err := l.RefuseOutput(refused)
	if err != nil {
		t.Fatal(err)
	}
	r := round(t, l, fmt.Sprintf(`[[inputs.hping3]]
targets = [%q, %q]
count = 5
interval = "20ms"
timeout = "200ms"
`, refused, open))
	p, ok := r.points[refused.String()]
	if !ok {
		t.Fatalf("no line for the refused target; stderr:\n%s", r.stderr)
	}
	if code := p.int(t, "result_code"); code != 2 {
		t.Errorf("refused target: result_code %d, want 2", code)
	}
	if want := fmt.Sprintf(`E! target %q: this host refused to send hping3's packet (sendto: Operation not permitted): a local firewall rule`, refused.String()); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "setcap") {
		t.Errorf("a firewall refusal reported as a missing capability:\n%s", r.stderr)
	}
	if n, err := c.Packets(); err != nil || n < 1 {
		t.Errorf("the output rule refused %d packets (%v), want at least 1", n, err)
	}
	if p := r.get(t, open.String()); p.int(t, "packets_received") != 5 {
		t.Errorf("target beside the refused one: %d of 5 received", p.int(t, "packets_received"))
	}
}
