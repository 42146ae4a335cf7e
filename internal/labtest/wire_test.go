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
var packetLine = regexp.MustCompile(`D! packet (\S+) (icmp|tcp|udp) \d+/\d+ ipid (\d+): rtt ([\d.]+) ms \((\S+) clock\)`)

// captured is one packet of an independent capture: its kernel stamp and
// what it is.
type captured struct {
	lo  bool // read on loopback, where every packet passes twice
	at  time.Time
	ip  *layers.IPv4
	pkt gopacket.Packet
}

// tcpdumpIn starts tcpdump on iface in the lab's client namespace, writing
// nanosecond stamps; stop ends it and returns the IPv4 packets it saw.
func tcpdumpIn(t *testing.T, l *netlab.Lab, iface, direction string) (stop func() []captured) {
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

// TestRTTAgainstTcpdump: every RTT the plugin reports equals the one an
// independent capture at the client's own interface shows for the same
// packet (tcpdump, kernel stamps, its probe leaving to its answer
// arriving), within 20 µs, and each target's average and standard
// deviation within 5 µs of the capture's: ICMP, TCP SYN to an open and a
// closed port, UDP to a closed port, on the lab's veth path and on
// loopback. The plugin and tcpdump read the kernel's stamps of the same
// packets, so they agree to the nanosecond.
func TestRTTAgainstTcpdump(t *testing.T) {
	if cliEngine() {
		t.Skip("the kernel's clock is the Tcl engine's; the CLI engine has hping3's (TestDelayAndJitter)")
	}
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
	points, _ := decodePoints(t, out.Bytes())
	t.Logf("tcpdump: %d IPv4 packets", len(frames))

	// The capture's RTT of each probe, by its IP id: the first answer
	// after it.
	type truth struct {
		rtt float64
		dst string
	}
	wire := map[int]truth{}
	for _, side := range []struct{ probes, answers []captured }{{c0, c0}, {lo, lo}} {
		for _, p := range side.probes {
			if !p.ip.SrcIP.Equal(netlab.ClientIP.AsSlice()) && !p.ip.SrcIP.IsLoopback() {
				continue
			}
			for _, c := range side.answers {
				if c.at.Before(p.at) || !answers(p, c) {
					continue
				}
				wire[int(p.ip.Id)] = truth{float64(c.at.Sub(p.at)) / float64(time.Millisecond), p.ip.DstIP.String()}
				break
			}
		}
	}
	perTarget := map[string][2][]float64{} // key -> plugin, capture
	var pluginErr []float64                // |plugin - capture|, ICMP on veth, ms
	n := 0
	for _, m := range packetLine.FindAllStringSubmatch(errb.String(), -1) {
		n++
		id, _ := strconv.Atoi(m[3])
		rtt, _ := strconv.ParseFloat(m[4], 64)
		if m[5] != "kernel" {
			t.Errorf("packet %s: %s clock, want kernel", m[0], m[5])
		}
		w, ok := wire[id]
		if !ok || w.dst != m[1] {
			t.Errorf("%s: tcpdump saw no answer to this probe (ip id %d)", m[0], id)
			continue
		}
		if m[2] == "icmp" && m[1] != "127.0.0.1" {
			pluginErr = append(pluginErr, math.Abs(rtt-w.rtt))
		}
		if d := math.Abs(rtt - w.rtt); d > 0.020 {
			t.Errorf("%s: the capture says %.6f ms: %.1f µs apart, want within 20", m[0], w.rtt, d*1000)
		}
		k := m[1] + " " + m[2]
		v := perTarget[k]
		v[0], v[1] = append(v[0], rtt), append(v[1], w.rtt)
		perTarget[k] = v
	}
	// 13 probes of 20 packets: 3 icmp, 3 tcp 8080, 2 tcp 8081, 3 udp 9,
	// 2 udp 7.
	if n != 13*20 {
		t.Errorf("%d packets logged, want %d (every one answered)", n, 13*20)
	}
	for k, v := range perTarget {
		dm := math.Abs(netlab.Mean(v[0]) - netlab.Mean(v[1]))
		ds := math.Abs(netlab.StdDev(v[0]) - netlab.StdDev(v[1]))
		t.Logf("%s: plugin mean %.6f sd %.6f ms, capture mean %.6f sd %.6f ms", k, netlab.Mean(v[0]), netlab.StdDev(v[0]), netlab.Mean(v[1]), netlab.StdDev(v[1]))
		if dm > 0.005 || ds > 0.005 {
			t.Errorf("%s: mean %.1f µs and sd %.1f µs from the capture's, want within 5", k, dm*1000, ds*1000)
		}
	}
	// And the reported averages are the packets' (line protocol).
	for _, key := range []string{veth[0].String(), "127.0.0.1"} {
		p, ok := points[key]
		if !ok {
			t.Fatalf("no line for %s: %v", key, points)
		}
		v := perTarget[key+" icmp"]
		if avg := p.float(t, "average_response_ms"); math.Abs(avg-netlab.Mean(v[1])) > 0.005 {
			t.Errorf("%s icmp: average_response_ms %.6f, the capture's mean %.6f", key, avg, netlab.Mean(v[1]))
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
