package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// WireCheck is a round's RTTs against tcpdump's capture of the same packets
// on the client's veth (c0): tcpdump reads the kernel's stamps of the
// probes leaving and the answers arriving, as the plugin's own capture
// does, so each target's average should be the capture's to the rounding
// of the line protocol.
type WireCheck struct {
	Captured, KernelDrops int      // packets tcpdump wrote, and those it says the kernel dropped
	Targets               int      // targets compared: each of its echo requests answered in the capture
	Largest               float64  // µs: the largest |average_response_ms - the capture's average|
	Worst                 string   // the target of Largest
	Uncompared            int      // targets with a request unanswered in the capture, or no average
	Why                   []string // the first few uncompared, and why
}

func (w WireCheck) String() string {
	return fmt.Sprintf("%d targets' average RTT against tcpdump's capture on c0 (%d packets, %d dropped by the kernel): at most %.3f µs apart (%s); %d not compared %v",
		w.Targets, w.Captured, w.KernelDrops, w.Largest, w.Worst, w.Uncompared, w.Why)
}

// tcpdump captures the client's veth (c0, both directions) into file, with
// nanosecond stamps; stop ends it (SIGINT) and returns the packets it says
// the kernel dropped.
func (l *Lab) tcpdump(ctx context.Context, file string) (stop func() (int, error), err error) {
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("tcpdump is missing: apt-get install tcpdump")
	}
	errb := &testbin.Buffer{}
	cmd := l.Command(ctx, bin, "-i", "c0", "-Q", "inout", "-n", "-s", "128", "-B", "65536", "-U", "--immediate-mode",
		"--time-stamp-precision=nano", "-w", file, "icmp")
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// `ip netns exec` execs tcpdump: its pid is tcpdump's.
	bystanders.Store(cmd.Process.Pid, struct{}{})
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errb.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			bystanders.Delete(cmd.Process.Pid)
			return nil, fmt.Errorf("tcpdump did not start: %s", errb.String())
		}
	}
	return func() (int, error) {
		time.Sleep(time.Second) // the last answers, and its last block of them
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		bystanders.Delete(cmd.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("tcpdump: %v: %s", err, errb.String())
		}
		m := regexp.MustCompile(`(\d+) packets dropped by kernel`).FindStringSubmatch(errb.String())
		if m == nil {
			return 0, fmt.Errorf("tcpdump said no drop count: %s", errb.String())
		}
		return strconv.Atoi(m[1])
	}, nil
}

// captureRTTs reads a capture of c0: each target's echo requests from the
// client, each with the time to the echo reply of the same identifier and
// sequence number, in ms (NaN: no reply). It returns them per target and
// the packets read.
func captureRTTs(file string) (map[string][]float64, int, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, 0, err
	}
	type key struct {
		target  netip.Addr
		id, seq uint16
	}
	type probe struct {
		target string
		at     time.Time
		index  int
	}
	client := netip.MustParseAddr(clientAddr)
	sent := map[key]probe{}
	out := map[string][]float64{}
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, n, nil
		}
		if err != nil {
			return nil, n, err
		}
		n++
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip == nil || ic == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
		switch ic.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest:
			if src != client {
				continue
			}
			t := dst.String()
			sent[key{dst, ic.Id, ic.Seq}] = probe{target: t, at: ci.Timestamp, index: len(out[t])}
			out[t] = append(out[t], math.NaN())
		case layers.ICMPv4TypeEchoReply:
			k := key{src, ic.Id, ic.Seq}
			if pr, ok := sent[k]; ok && dst == client {
				out[pr.target][pr.index] = float64(ci.Timestamp.Sub(pr.at).Nanoseconds()) / 1e6
				delete(sent, k)
			}
		}
	}
}

// checkWire compares each target's average_response_ms (per, the plugin's
// line protocol) with the capture's.
func checkWire(file string, per map[string]lineCounts, drops int) (WireCheck, error) {
	rtts, n, err := captureRTTs(file)
	if err != nil {
		return WireCheck{}, err
	}
	w := WireCheck{Captured: n, KernelDrops: drops}
	for target, c := range per {
		v, avg := rtts[target], c.average
		sum := 0.0
		for _, x := range v {
			sum += x // NaN when one is unanswered
		}
		if len(v) == 0 || math.IsNaN(sum) || !c.averaged {
			w.Uncompared++
			if len(w.Why) < 3 {
				w.Why = append(w.Why, fmt.Sprintf("%s: %d requests in the capture, RTTs %v, average_response_ms %v (%v)", target, len(v), v, avg, c.averaged))
			}
			continue
		}
		w.Targets++
		if d := math.Abs(avg-sum/float64(len(v))) * 1000; d > w.Largest || w.Worst == "" {
			w.Largest, w.Worst = d, target
		}
	}
	return w, nil
}
