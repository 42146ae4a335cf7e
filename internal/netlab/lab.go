// Package netlab builds an isolated test network in Linux network namespaces
// so tests can compare what the plugin reports with a known truth: injected
// loss, silent hosts, ICMP errors from a router, open, closed and filtered TCP
// ports, and (with the Emulator) delay, jitter, duplication and reply TTL.
//
// Topology (all addresses in the benchmarking range 198.18.0.0/15):
//
//	client C  c0 198.18.0.1/24 ── r0 198.18.0.2/24  router R  r1 198.18.1.1/24 ── t0 198.18.1.2/24  target T
//	  route 198.19.0.0/16 via R      forwards; tun "emu" owns 198.19.4.0/22        answers all of 198.19.0.0/22
//
// The client has no default route, so a probe to any address outside the lab
// fails with "Network is unreachable" instead of leaving the machine. Every
// namespace is removed in t.Cleanup, also when the test fails.
package netlab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// Addresses of the lab. Replies from a target cross the router, so a reply
// sent with TTL n arrives at the client with TTL n-1.
var (
	ClientIP    = netip.MustParseAddr("198.18.0.1")
	RouterIP    = netip.MustParseAddr("198.18.0.2") // the client's next hop; sender of router ICMP errors
	TargetRange = netip.MustParsePrefix("198.19.0.0/22")
	EmuRange    = netip.MustParsePrefix("198.19.4.0/22")
)

// Hops is the number of routers between the client and any target.
const Hops = 1

// prefix starts every namespace name the lab creates; the creator's pid
// follows so a later run can tell namespaces of crashed runs from live ones.
const prefix = "hplab-"

var seq atomic.Int64

// Lab is one isolated network. Its methods may be called from one test
// goroutine at a time.
type Lab struct {
	t                      testing.TB
	Client, Router, Target string // namespace names
	teardown
}

// New builds a lab for t, or skips t (fails it under CI) when root, ip or nft
// are missing. Everything is torn down in t.Cleanup.
func New(t testing.TB) *Lab {
	t.Helper()
	testbin.RequireRoot(t)
	testbin.RequireTool(t, "ip")
	testbin.RequireTool(t, "nft")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testbin.Skip(t, "no /dev/net/tun: the path emulator needs TUN devices")
	}
	RemoveStale(prefix)
	base := fmt.Sprintf("%s%d-%d-", prefix, os.Getpid(), seq.Add(1))
	l := &Lab{t: t, Client: base + "c", Router: base + "r", Target: base + "t"}
	t.Cleanup(l.close)
	if err := l.build(); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	return l
}

func (l *Lab) build() error {
	C, R, T := l.Client, l.Router, l.Target
	for _, ns := range []string{C, R, T} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return err
		}
		l.onClose(func() { _ = run("ip", "netns", "del", ns) })
	}
	steps := [][]string{
		{"-n", C, "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", R},
		{"-n", R, "link", "add", "r1", "type", "veth", "peer", "name", "t0", "netns", T},
		{"-n", C, "addr", "add", "198.18.0.1/24", "dev", "c0"},
		{"-n", R, "addr", "add", "198.18.0.2/24", "dev", "r0"},
		{"-n", R, "addr", "add", "198.18.1.1/24", "dev", "r1"},
		{"-n", T, "addr", "add", "198.18.1.2/24", "dev", "t0"},
		{"-n", C, "link", "set", "lo", "up"},
		{"-n", R, "link", "set", "lo", "up"},
		{"-n", T, "link", "set", "lo", "up"},
		{"-n", C, "link", "set", "c0", "up"},
		{"-n", R, "link", "set", "r0", "up"},
		{"-n", R, "link", "set", "r1", "up"},
		{"-n", T, "link", "set", "t0", "up"},
		// Only the lab's range is routed: no default route anywhere.
		{"-n", C, "route", "add", "198.19.0.0/16", "via", "198.18.0.2"},
		{"-n", R, "route", "add", TargetRange.String(), "via", "198.18.1.2"},
		{"-n", T, "route", "add", "198.18.0.0/24", "via", "198.18.1.1"},
		{"-n", T, "route", "add", "local", TargetRange.String(), "dev", "lo"},
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return err
		}
	}
	// ICMP rate limits off, so every fault that should answer does answer
	// (the kernel's default allows one host-unreachable per second per peer).
	for _, ns := range []string{C, R, T} {
		if err := Sysctl(ns, "net/ipv4/icmp_ratemask", "0"); err != nil {
			return err
		}
	}
	if err := Sysctl(R, "net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	// Static neighbour entries: no ARP round trip inside a measured RTT.
	if err := l.staticNeigh(); err != nil {
		return err
	}
	return l.nftBase()
}

// staticNeigh pins each veth peer's MAC so the first probe's RTT does not
// include ARP resolution.
func (l *Lab) staticNeigh() error {
	pairs := []struct{ ns, dev, ip, peerNS, peerDev string }{
		{l.Client, "c0", "198.18.0.2", l.Router, "r0"},
		{l.Router, "r0", "198.18.0.1", l.Client, "c0"},
		{l.Router, "r1", "198.18.1.2", l.Target, "t0"},
		{l.Target, "t0", "198.18.1.1", l.Router, "r1"},
	}
	for _, p := range pairs {
		mac, err := MacOf(p.peerNS, p.peerDev)
		if err != nil {
			return err
		}
		if err := run("ip", "-n", p.ns, "neigh", "replace", p.ip, "lladdr", mac, "dev", p.dev, "nud", "permanent"); err != nil {
			return err
		}
	}
	return nil
}

// MacOf returns the MAC address of dev in namespace ns.
func MacOf(ns, dev string) (string, error) {
	out, err := output("ip", "-n", ns, "-br", "link", "show", "dev", dev)
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) < 3 {
		return "", fmt.Errorf("ip -br link show %s in %s: unexpected %q", dev, ns, out)
	}
	return f[2], nil
}

// Sysctl sets /proc/sys/KEY (e.g. "net/ipv4/icmp_ratemask") to value in
// namespace ns.
func Sysctl(ns, key, value string) error {
	return Do(ns, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
}

// teardown is what a lab (Lab, Chain) undoes at cleanup, and the count
// that names its nftables counters.
type teardown struct {
	closers  []func()
	counters int
}

// onClose registers f to run at teardown, before the namespaces go.
func (td *teardown) onClose(f func()) { td.closers = append(td.closers, f) }

// close undoes everything in reverse order; errors are ignored because
// the namespaces' removal takes every device, rule and route with it.
func (td *teardown) close() {
	for i := len(td.closers) - 1; i >= 0; i-- {
		td.closers[i]()
	}
	td.closers = nil
}

// nameCounter names the lab's next counter, in ns; the caller adds it.
func (td *teardown) nameCounter(ns string) Counter {
	td.counters++
	return Counter{ns: ns, name: "f" + strconv.Itoa(td.counters)}
}

// Target returns the i-th address of the nftables target range (1..1022).
func Target(i int) netip.Addr { return nth(TargetRange, i) }

// Emu returns the i-th address of the emulator's range (1..1022).
func Emu(i int) netip.Addr { return nth(EmuRange, i) }

func nth(p netip.Prefix, i int) netip.Addr {
	if i < 1 || i > 1<<(32-p.Bits())-2 {
		panic("netlab: address index out of range: " + strconv.Itoa(i))
	}
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// RemoveStale deletes namespaces named prefix+PID-... whose creating
// process no longer exists: what a run that crashed before its cleanup
// left behind. The benchmark lab shares it.
func RemoveStale(prefix string) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = run("ip", "netns", "del", name)
		}
	}
}

// Run runs a program (never through a shell); its error carries stderr.
func Run(name string, args ...string) error { return run(name, args...) }

// Output runs a program and returns its stdout; its error carries stderr.
func Output(name string, args ...string) (string, error) { return output(name, args...) }

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
