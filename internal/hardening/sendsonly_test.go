package hardening

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// outgoing is one frame seen leaving an interface of the client namespace.
type outgoing struct {
	ifindex int
	ip      []byte // from the IPv4 header on
}

// watchOutgoing records every frame that leaves any interface of ns until
// stop is called: the truth of what the namespace sent.
func watchOutgoing(t *testing.T, ns string) (stop func() []outgoing) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []outgoing
		quit = make(chan struct{})
		done = make(chan error, 1)
	)
	ready := make(chan error, 1)
	go func() {
		done <- netlab.Do(ns, func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				ready <- err
				return err
			}
			defer unix.Close(fd)
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
			ready <- nil
			buf := make([]byte, 65536)
			for {
				select {
				case <-quit:
					return nil
				default:
				}
				n, from, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					continue
				}
				if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
					mu.Lock()
					seen = append(seen, outgoing{ifindex: ll.Ifindex, ip: append([]byte(nil), buf[:n]...)})
					mu.Unlock()
				}
			}
		})
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	return func() []outgoing {
		close(quit)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

var debugPacket = regexp.MustCompile(`D! packet (\S+) (icmp|tcp|udp) \d+/\d+ ipid (\d+): rtt`)

// TestPluginSendsOnlyItsProbes: the plugin holds CAP_NET_RAW for its own
// capture, and still nothing leaves the host but the probes the core built
// (sent by hping3): every frame that left the client's lab interface
// during a round is one of the round's probes, by its IP id as the plugin
// logged it, to the target, as many as the round sent; on loopback, the
// probes and the kernel's own replies to them.
func TestPluginSendsOnlyItsProbes(t *testing.T) {
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "hping3")
	l := netlab.New(t)
	target := netlab.Target(7)
	conf := filepath.Join(t.TempDir(), "p.toml")
	if err := os.WriteFile(conf, []byte(`
[[inputs.hping3]]
  targets = ["`+target.String()+`", "127.0.0.1"]
  count = 5
  interval = "50ms"
[[inputs.hping3]]
  targets = ["`+target.String()+`"]
  protocol = "tcp"
  port = 81
  count = 5
  interval = "50ms"
[[inputs.hping3]]
  targets = ["`+target.String()+`"]
  protocol = "udp"
  port = 1770
  count = 5
  interval = "50ms"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := watchOutgoing(t, l.Client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.Command(ctx, testbin.Plugin(t), "--once", "--engine", "tcl", "--debug", "--config", conf).CombinedOutput()
	time.Sleep(100 * time.Millisecond) // the last frames reach the watch
	frames := stop()
	if err != nil {
		t.Fatalf("plugin: %v\n%s", err, out)
	}
	probes := map[int]string{} // ipid -> target, as the plugin logged them
	for _, m := range debugPacket.FindAllStringSubmatch(string(out), -1) {
		id, _ := strconv.Atoi(m[3])
		probes[id] = m[1]
	}
	if len(probes) != 20 {
		t.Fatalf("%d probes logged, want 20 (every one answered):\n%s", len(probes), out)
	}
	lab, lo := 0, 0
	for _, f := range frames {
		// A new interface's own IPv6 chatter (router and neighbour
		// solicitations, MLD reports to ff02::) is the kernel's.
		if len(f.ip) >= 40 && f.ip[0]>>4 == 6 && f.ip[24] == 0xff && f.ip[25] == 0x02 {
			continue
		}
		if len(f.ip) < 20 || f.ip[0]>>4 != 4 {
			t.Errorf("a non-IPv4 frame left interface %d: % x", f.ifindex, f.ip[:min(len(f.ip), 32)])
			continue
		}
		src, dst := netip.AddrFrom4([4]byte(f.ip[12:16])), netip.AddrFrom4([4]byte(f.ip[16:20]))
		id := int(binary.BigEndian.Uint16(f.ip[4:]))
		if f.ifindex == 1 { // loopback: our probes, and the kernel's replies to them
			lo++
			if _, ok := probes[id]; !ok && !(f.ip[9] == 1 && len(f.ip) > 20 && f.ip[20] == 0) {
				t.Errorf("on loopback a packet that is neither a probe nor an echo reply left: %v > %v proto %d id %d", src, dst, f.ip[9], id)
			}
			continue
		}
		lab++
		if probes[id] != dst.String() || src != netlab.ClientIP {
			t.Errorf("a packet that is no probe of the round left interface %d: %v > %v proto %d id %d", f.ifindex, src, dst, f.ip[9], id)
		}
	}
	if lab != 15 || lo != 10 {
		t.Errorf("%d packets left the lab interface (want the 15 probes) and %d loopback (want 5 probes and 5 replies)", lab, lo)
	}
}
