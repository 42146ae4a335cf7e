package labtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// The plugin's --debug line for each packet answered in time.
var packetLine = regexp.MustCompile(`D! packet (\S+) (icmp|tcp|udp) (\d+)/(\d+) ipid (\d+): rtt ([\d.]+) ms \((\S+) clock\)`)

// logged is one packet as the plugin's --debug line tells it: its target,
// protocol, identifiers (echo id and sequence; source and destination
// port), IP id, RTT in ms and clock.
type logged struct {
	line, dst, proto, clock string
	a, b, ipid              int
	rtt                     float64
}

// target is the target the packet belongs to, with its protocol: the
// line protocol's key (point.key) and the protocol.
func (p logged) target() string {
	if p.proto == "icmp" {
		return p.dst + " icmp"
	}
	return fmt.Sprintf("%s:%d %s", p.dst, p.b, p.proto)
}

// loggedPackets returns the plugin's packet lines in stderr, in order.
func loggedPackets(t *testing.T, stderr string) []logged {
	t.Helper()
	var out []logged
	for _, m := range packetLine.FindAllStringSubmatch(stderr, -1) {
		p := logged{line: m[0], dst: m[1], proto: m[2], clock: m[7]}
		var err error
		for i, v := range []*int{&p.a, &p.b, &p.ipid} {
			if *v, err = strconv.Atoi(m[3+i]); err != nil {
				t.Fatalf("%s: %v", m[0], err)
			}
		}
		if p.rtt, err = strconv.ParseFloat(m[6], 64); err != nil {
			t.Fatalf("%s: %v", m[0], err)
		}
		out = append(out, p)
	}
	return out
}

// captured is one packet of an independent capture: its kernel stamp and
// what it is.
type captured struct {
	lo  bool // read on loopback, where every packet passes twice
	at  time.Time
	ip  *layers.IPv4
	pkt gopacket.Packet
}

// tcpdumpIn starts tcpdump on iface in the lab's (or chain's) client
// namespace, writing nanosecond stamps; stop ends it and returns the IPv4
// packets it saw.
func tcpdumpIn(t *testing.T, l network, iface, direction string) (stop func() []captured) {
	t.Helper()
	bin := testbin.RequireTool(t, "tcpdump")
	file := filepath.Join(t.TempDir(), iface+".pcap")
	errb := &testbin.Buffer{} // written by exec's goroutine while read here
	cmd := l.Command(context.Background(), bin, "-i", iface, "-Q", direction, "-n", "-U", "--immediate-mode", "-s", "256", "--time-stamp-precision=nano", "-w", file, "ip")
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errb.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("tcpdump did not start: %s", errb.String())
		}
	}
	return func() []captured {
		time.Sleep(100 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var out []captured
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
			if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				out = append(out, captured{lo: iface == "lo", at: ci.Timestamp, ip: ip, pkt: p})
			}
		}
	}
}

// answers reports whether c answers the probe p, by the identifiers the
// protocols give (not the plugin's matching): an echo reply with its id
// and sequence number, a TCP segment acknowledging its sequence number
// between its ports, an ICMP error quoting its IP id.
func answers(p, c captured) bool {
	if c.ip.DstIP.String() != p.ip.SrcIP.String() || c.ip.SrcIP.String() != p.ip.DstIP.String() && c.ip.Protocol != layers.IPProtocolICMPv4 {
		return false
	}
	if ic, ok := c.pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		switch ic.TypeCode.Type() {
		case layers.ICMPv4TypeEchoReply:
			pi, ok := p.pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			return ok && pi.Id == ic.Id && pi.Seq == ic.Seq && c.ip.SrcIP.Equal(p.ip.DstIP)
		case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeTimeExceeded:
			q := ic.Payload
			return len(q) >= 20 && int(q[4])<<8|int(q[5]) == int(p.ip.Id)
		}
		return false
	}
	cu, ok1 := c.pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	pu, ok2 := p.pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ok1 && ok2 {
		return cu.SrcPort == pu.DstPort && cu.DstPort == pu.SrcPort
	}
	ct, ok1 := c.pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	pt, ok2 := p.pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ok1 && ok2 {
		return ct.SrcPort == pt.DstPort && ct.DstPort == pt.SrcPort && ct.ACK && ct.Ack == pt.Seq+1
	}
	return false
}

// onWire is one probe in an independent capture: its target, protocol
// and identifiers as its own headers give them, and the time from its
// stamp to its first answer's (ms).
type onWire struct {
	dst, proto string
	a, b       int
	rtt        float64
	answered   bool
}

// asProbe reports whether c is a probe as the plugin sends them (an echo
// request, a bare SYN, a UDP datagram) and its protocol and identifiers:
// echo id and sequence, or source and destination port.
func asProbe(c captured) (w onWire, ok bool) {
	w.dst = c.ip.DstIP.String()
	switch l := c.pkt.TransportLayer().(type) {
	case *layers.TCP:
		w.proto, w.a, w.b = "tcp", int(l.SrcPort), int(l.DstPort)
		return w, l.SYN && !l.ACK && !l.RST
	case *layers.UDP:
		w.proto, w.a, w.b = "udp", int(l.SrcPort), int(l.DstPort)
		return w, true
	}
	if ic, ok := c.pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && ic.TypeCode.Type() == layers.ICMPv4TypeEchoRequest {
		w.proto, w.a, w.b = "icmp", int(ic.Id), int(ic.Seq)
		return w, true
	}
	return w, false
}

// wireRTTs adds to into, by IP id, every probe the client sent in one
// interface's capture (frames, in the capture's order), with the time to
// its first answer there (answers). A frame that answers an earlier probe
// is never taken for a probe itself. An IP id seen on two probes is an
// error: the plugin's are unique per packet.
func wireRTTs(t *testing.T, frames []captured, into map[int]onWire) {
	t.Helper()
	type open struct {
		c  captured
		id int
	}
	var waiting []open
	for _, c := range frames {
		answered := false
		for i := 0; i < len(waiting); i++ {
			p := waiting[i]
			if c.at.Before(p.c.at) || !answers(p.c, c) {
				continue
			}
			w := into[p.id]
			w.rtt, w.answered = float64(c.at.Sub(p.c.at))/float64(time.Millisecond), true
			into[p.id] = w
			waiting = append(waiting[:i], waiting[i+1:]...)
			answered = true
			break
		}
		if answered || !c.lo && !c.ip.SrcIP.Equal(netlab.ClientIP.AsSlice()) {
			continue
		}
		w, ok := asProbe(c)
		if !ok {
			continue
		}
		id := int(c.ip.Id)
		if old, dup := into[id]; dup {
			t.Errorf("the capture shows two probes with IP id %d: %+v and %+v", id, old, w)
		}
		into[id] = w
		waiting = append(waiting, open{c, id})
	}
}

// againstCapture compares the plugin's packet lines with the capture's
// probes of the same IP id: the same target, protocol and identifiers, an
// answer in the capture, and an RTT within perPacket ms of the capture's,
// which late reports to timing (t, or a timed attempt's checks, where the
// RTT is read by a clock a busy machine delays).
// It returns, per target (logged.target), the plugin's and the capture's
// RTTs of the packets both have.
func againstCapture(t *testing.T, pkts []logged, wire map[int]onWire, perPacket float64, timing interface{ Errorf(string, ...any) }) map[string][2][]float64 {
	t.Helper()
	per := map[string][2][]float64{}
	for _, p := range pkts {
		w, ok := wire[p.ipid]
		switch {
		case !ok:
			t.Errorf("%s: the capture shows no probe with IP id %d", p.line, p.ipid)
			continue
		case w.dst != p.dst || w.proto != p.proto || w.a != p.a || w.b != p.b:
			t.Errorf("%s: the capture's probe with that IP id is %s %s %d/%d", p.line, w.dst, w.proto, w.a, w.b)
			continue
		case !w.answered:
			t.Errorf("%s: the capture shows no answer to this probe", p.line)
			continue
		}
		if d := math.Abs(p.rtt - w.rtt); d > perPacket {
			timing.Errorf("%s: the capture says %.6f ms: %.1f µs apart, want within %.0f", p.line, w.rtt, d*1000, perPacket*1000)
		}
		v := per[p.target()]
		v[0], v[1] = append(v[0], p.rtt), append(v[1], w.rtt)
		per[p.target()] = v
	}
	return per
}

// TestTclRTTAgainstTcpdump (the Tcl engine's clock; make test runs no TestTcl* under the CLI engine): every RTT the plugin reports equals the one an
// independent capture at the client's own interface shows for the same
// packet (tcpdump, kernel stamps, its probe leaving to its answer
// arriving), within 20 µs, with the capture's probe of the same IP id
// showing the same target, protocol and identifiers; and each target's
// reported average_response_ms and standard_deviation_ms within 5 µs of
// the capture's: ICMP, TCP SYN to an open and a closed port, UDP to a
// closed port and to an echo service, on the lab's veth path and on
// loopback. The plugin and tcpdump read the kernel's stamps of the same
// packets, so they agree to the nanosecond.
func TestTclRTTAgainstTcpdump(t *testing.T) {
	l := lab(t)
	if err := l.ListenTCP(8080); err != nil {
		t.Fatal(err)
	}
	veth := []netip.Addr{netlab.Target(31), netlab.Target(32)}
	for _, a := range veth {
		if _, err := l.UDPEcho(a, 7); err != nil {
			t.Fatal(err)
		}
	}
	conf := ""
	table := func(targets []string, proto string, port int) {
		conf += fmt.Sprintf("[[inputs.hping3]]\ntargets = %s\nprotocol = %q\ncount = 20\ninterval = \"20ms\"\n", quoted(targets), proto)
		if port > 0 {
			conf += fmt.Sprintf("port = %d\n", port)
		}
	}
	names := []string{veth[0].String(), veth[1].String()}
	table(append(names, "127.0.0.1"), "icmp", 0)
	table(append(names, "127.0.0.1"), "tcp", 8080) // open on the lab's target; closed on loopback
	table(names, "tcp", 8081)                      // closed
	table(append(names, "127.0.0.1"), "udp", 9)    // closed: ICMP port unreachable
	table(names, "udp", 7)                         // an echo service: UDP replies
	file := filepath.Join(t.TempDir(), "wire.toml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// On loopback every packet passes twice, leaving and arriving, and is
	// stamped again as it arrives; libpcap shows only the arriving copy,
	// and the plugin reads probes and answers arriving there too.
	stopC0, stopLo := tcpdumpIn(t, l, "c0", "inout"), tcpdumpIn(t, l, "lo", "in")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := l.Command(ctx, testbin.Plugin(t), "--once", "--engine", "tcl", "--debug", "--config", file)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("plugin: %v\n%s", err, errb.String())
	}
	c0, lo := stopC0(), stopLo()
	frames := append(c0, lo...)
	points, _, _ := decodePoints(t, out.Bytes())
	t.Logf("tcpdump: %d IPv4 packets", len(frames))

	// The capture's probes by IP id, each with the time to its first
	// answer on the same interface.
	wire := map[int]onWire{}
	wireRTTs(t, c0, wire)
	wireRTTs(t, lo, wire)
	pkts := loggedPackets(t, errb.String())
	var pluginErr []float64 // |plugin - capture|, ICMP on veth, ms
	for _, p := range pkts {
		if p.clock != "kernel" {
			t.Errorf("%s: %s clock, want kernel", p.line, p.clock)
		}
		if w, ok := wire[p.ipid]; ok && w.answered && p.proto == "icmp" && p.dst != "127.0.0.1" {
			pluginErr = append(pluginErr, math.Abs(p.rtt-w.rtt))
		}
	}
	perTarget := againstCapture(t, pkts, wire, 0.020, t)
	// 13 targets of 20 packets: 3 icmp, 3 tcp 8080, 2 tcp 8081, 3 udp 9,
	// 2 udp 7.
	if len(pkts) != 13*20 || len(perTarget) != 13 {
		t.Errorf("%d packets logged for %d targets, want %d for 13 (every one answered)", len(pkts), len(perTarget), 13*20)
	}
	// Each target as the plugin reports it (line protocol): every packet
	// received, and its average and standard deviation within 5 µs of the
	// capture's.
	for k, v := range perTarget {
		key, proto, _ := strings.Cut(k, " ")
		want, wantSD := netlab.Mean(v[1]), netlab.StdDev(v[1])
		p, ok := points[key]
		if !ok || p.tags["protocol"] != proto {
			t.Errorf("%s: no line for this target (%v)", k, points[key].tags)
			continue
		}
		avg, sd := p.float(t, "average_response_ms"), p.float(t, "standard_deviation_ms")
		worst := 0.0
		for i := range v[0] {
			worst = math.Max(worst, math.Abs(v[0][i]-v[1][i]))
		}
		t.Logf("%s: average %.6f sd %.6f ms, the capture's %.6f and %.6f ms; packets at most %.3f µs apart", k, avg, sd, want, wantSD, worst*1000)
		if rx := p.int(t, "packets_received"); rx != 20 || len(v[1]) != 20 {
			t.Errorf("%s: %d received, %d against the capture, want 20", k, rx, len(v[1]))
		}
		if d, dsd := math.Abs(avg-want), math.Abs(sd-wantSD); d > 0.005 || dsd > 0.005 {
			t.Errorf("%s: average_response_ms %.6f and standard_deviation_ms %.6f, the capture's %.6f and %.6f: %.1f and %.1f µs apart, want within 5",
				k, avg, sd, want, wantSD, d*1000, dsd*1000)
		}
	}

	// fping on the same veth targets, each against its own capture: the
	// error the plugin's clock must not exceed (fping stamps its sends in
	// user space before sendto, its replies with the kernel's stamp).
	stop := tcpdumpIn(t, l, "c0", "inout")
	fargs := []string{"-C", "20", "-p", "20", "-q", "-i", "1"}
	for _, a := range veth {
		fargs = append(fargs, a.String())
	}
	fout, _ := l.Command(ctx, testbin.RequireTool(t, "fping"), fargs...).CombinedOutput()
	fcap := stop()
	var fpingErr []float64
	for _, line := range strings.Split(string(fout), "\n") {
		host, vals, ok := strings.Cut(line, " : ")
		if !ok {
			continue
		}
		host = strings.TrimSpace(host)
		var truths []float64 // the capture's, in send order
		for _, p := range fcap {
			if p.ip.DstIP.String() != host {
				continue
			}
			if ic, ok := p.pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); !ok || ic.TypeCode.Type() != layers.ICMPv4TypeEchoRequest {
				continue
			}
			for _, c := range fcap {
				if !c.at.Before(p.at) && answers(p, c) {
					truths = append(truths, float64(c.at.Sub(p.at))/float64(time.Millisecond))
					break
				}
			}
		}
		fs := strings.Fields(vals)
		if len(fs) != len(truths) {
			t.Errorf("fping %s: %d times, the capture %d answered probes", host, len(fs), len(truths))
			continue
		}
		for i, f := range fs {
			if v, err := strconv.ParseFloat(f, 64); err == nil {
				fpingErr = append(fpingErr, math.Abs(v-truths[i]))
			}
		}
	}
	if len(fpingErr) != 40 || len(pluginErr) != 40 {
		t.Fatalf("%d fping and %d plugin ICMP times on veth against their captures, want 40 and 40:\n%s", len(fpingErr), len(pluginErr), fout)
	}
	t.Logf("ICMP on veth, mean |error| against the capture: plugin %.2f µs, fping %.2f µs (fping prints 0.01 ms)",
		netlab.Mean(pluginErr)*1000, netlab.Mean(fpingErr)*1000)
	if netlab.Mean(pluginErr) > netlab.Mean(fpingErr) {
		t.Errorf("the plugin's error %.2f µs exceeds fping's %.2f µs", netlab.Mean(pluginErr)*1000, netlab.Mean(fpingErr)*1000)
	}
}
