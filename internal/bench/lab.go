// Package bench measures how many targets one round can probe truthfully: it
// builds an isolated, lossless namespace lab, runs a round of the plugin's
// core in it, and runs fping and Telegraf's inputs.ping on the same targets
// for comparison. It is run by `make bench` (needs root), never by `make test`
// except for its small self-tests.
package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
)

// The lab, in the benchmarking range 198.18.0.0/15:
//
//	client C  c0 198.18.0.1/24 ── t0 198.18.0.2/24  target T
//	  route 198.19.0.0/18 via T                        answers all of 198.19.0.0/18 on lo
//
// The client has no default route: a packet to any address outside the lab
// fails with "Network is unreachable" instead of leaving the machine. There is
// no router and no nftables rule on the path, so any loss a tool reports is
// false loss: the cost of the tool, not of the network.
const (
	clientAddr = "198.18.0.1"
	targetAddr = "198.18.0.2"
	nsPrefix   = "hpbench-"
)

// TargetRange holds the addresses the target namespace answers for:
// 16382 targets, so that runs of 10,000 fit.
var TargetRange = netip.MustParsePrefix("198.19.0.0/18")

// MaxTargets is the number of usable addresses in TargetRange.
const MaxTargets = 1<<(32-18) - 2

// Lab is a client and a target namespace joined by a veth pair.
type Lab struct {
	Client, Target string
	made           []string
}

// NewLab builds the lab. Close removes it; a lab left by a crashed run is
// removed by the next NewLab.
func NewLab() (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the lab needs root (network namespaces, raw sockets)")
	}
	netlab.RemoveStale(nsPrefix)
	base := fmt.Sprintf("%s%d-", nsPrefix, os.Getpid())
	l := &Lab{Client: base + "c", Target: base + "t"}
	if err := l.build(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) build() error {
	C, T := l.Client, l.Target
	for _, ns := range []string{C, T} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return err
		}
		l.made = append(l.made, ns)
	}
	steps := [][]string{
		{"-n", C, "link", "add", "c0", "type", "veth", "peer", "name", "t0", "netns", T},
		{"-n", C, "addr", "add", clientAddr + "/24", "dev", "c0"},
		{"-n", T, "addr", "add", targetAddr + "/24", "dev", "t0"},
		{"-n", C, "link", "set", "lo", "up"},
		{"-n", T, "link", "set", "lo", "up"},
		{"-n", C, "link", "set", "c0", "up"},
		{"-n", T, "link", "set", "t0", "up"},
		{"-n", C, "route", "add", TargetRange.String(), "via", targetAddr},
		{"-n", T, "route", "add", "local", TargetRange.String(), "dev", "lo"},
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return err
		}
	}
	// Static neighbours: no ARP exchange inside a measured round trip.
	for _, p := range []struct{ ns, dev, ip, peerNS, peerDev string }{
		{C, "c0", targetAddr, T, "t0"},
		{T, "t0", clientAddr, C, "c0"},
	} {
		mac, err := netlab.MacOf(p.peerNS, p.peerDev)
		if err != nil {
			return err
		}
		if err := run("ip", "-n", p.ns, "neigh", "replace", p.ip, "lladdr", mac, "dev", p.dev, "nud", "permanent"); err != nil {
			return err
		}
	}
	// No ICMP rate limit in the target: a limited answer would be loss the
	// tools did not cause.
	return run("ip", "netns", "exec", T, "sysctl", "-q", "-w", "net.ipv4.icmp_ratemask=0")
}

// OpenLab builds the lab and a temporary directory (named after prefix)
// for a bench command's files. done removes both; an interrupt (SIGINT,
// SIGTERM) removes the lab too, then exits with 130: the tools it ran get
// the same signal from the terminal.
func OpenLab(prefix string) (lab *Lab, dir string, done func(), err error) {
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return nil, "", nil, err
	}
	if lab, err = NewLab(); err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		lab.Close()
		os.Exit(130)
	}()
	return lab, dir, func() {
		signal.Stop(sigs)
		lab.Close()
		os.RemoveAll(dir)
	}, nil
}

// Close removes both namespaces and with them every device and route.
func (l *Lab) Close() {
	for _, ns := range l.made {
		_ = run("ip", "netns", "del", ns)
	}
	l.made = nil
}

// Command runs name inside the client namespace, without a shell.
func (l *Lab) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Client, name}, args...)...)
}

// Targets returns the first n addresses of TargetRange.
func Targets(n int) []string {
	if n < 1 || n > MaxTargets {
		panic("bench: target count out of range: " + strconv.Itoa(n))
	}
	out := make([]string, n)
	a := TargetRange.Addr()
	for i := range out {
		a = a.Next()
		out[i] = a.String()
	}
	return out
}

// run and output are the lab's command helpers: no shell, stderr in errors.
var (
	run    = netlab.Run
	output = netlab.Output
)
