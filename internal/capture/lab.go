package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// Addresses of the lab, all in the benchmarking range 198.18.0.0/15.
//
//	client ns  c0 198.18.0.1/30 --- r0 198.18.0.2/30  router ns
//	router ns  r1 198.18.1.1/30 --- t0 198.18.1.2/30  target ns
//
// The client routes only 198.19.0.0/16 (via the router); it has no default
// route. The target answers for 198.19.0.0/22 on its loopback, and its
// nftables rules give each /24 a behaviour:
//
//	198.19.0.x  answers normally
//	198.19.1.x  drops everything (no reply)
//	198.19.2.x  answers twice (replies duplicated on t0's egress)
//	198.19.3.x  the router rejects with ICMP errors, one code per address
const (
	addrEcho    = "198.19.0.1"
	addrSilent  = "198.19.1.1"
	addrDup     = "198.19.2.1"
	addrHostUn  = "198.19.3.1" // host-unreachable (code 1)
	addrNetUn   = "198.19.3.2" // net-unreachable (code 0)
	addrProtUn  = "198.19.3.3" // prot-unreachable (code 2)
	addrAdmin   = "198.19.3.4" // admin-prohibited (code 13, "Packet filtered")
	addrHostPro = "198.19.3.5" // host-prohibited (code 10, "Unreachable type=10")
	addrNoRoute = "198.18.200.1"
	routerAddr  = "198.18.0.2"
	routerMTU   = "576" // r1's MTU: larger DF packets get "Fragmentation Needed"
)

type lab struct {
	client, router, target string                  // namespace names, unique per run
	listeners              map[string]net.Listener // by "ns addr"
}

func newLab() (*lab, error) {
	p := fmt.Sprintf("h3cap%d", os.Getpid())
	l := &lab{client: p + "c", router: p + "r", target: p + "t"}
	steps := [][]string{
		{"ip", "netns", "add", l.client},
		{"ip", "netns", "add", l.router},
		{"ip", "netns", "add", l.target},
		{"ip", "-n", l.client, "link", "set", "lo", "up"},
		{"ip", "-n", l.router, "link", "set", "lo", "up"},
		{"ip", "-n", l.target, "link", "set", "lo", "up"},
		{"ip", "-n", l.client, "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", l.router},
		{"ip", "-n", l.router, "link", "add", "r1", "type", "veth", "peer", "name", "t0", "netns", l.target},
		{"ip", "-n", l.client, "addr", "add", "198.18.0.1/30", "dev", "c0"},
		{"ip", "-n", l.router, "addr", "add", "198.18.0.2/30", "dev", "r0"},
		{"ip", "-n", l.router, "addr", "add", "198.18.1.1/30", "dev", "r1"},
		{"ip", "-n", l.target, "addr", "add", "198.18.1.2/30", "dev", "t0"},
		{"ip", "-n", l.router, "link", "set", "r1", "mtu", routerMTU},
		{"ip", "-n", l.target, "link", "set", "t0", "mtu", routerMTU},
		{"ip", "-n", l.client, "link", "set", "c0", "up"},
		{"ip", "-n", l.router, "link", "set", "r0", "up"},
		{"ip", "-n", l.router, "link", "set", "r1", "up"},
		{"ip", "-n", l.target, "link", "set", "t0", "up"},
		{"ip", "-n", l.client, "route", "add", "198.19.0.0/16", "via", "198.18.0.2"},
		{"ip", "-n", l.router, "route", "add", "198.19.0.0/22", "via", "198.18.1.2"},
		{"ip", "-n", l.target, "route", "add", "local", "198.19.0.0/22", "dev", "lo"},
		{"ip", "-n", l.target, "route", "add", "198.18.0.0/30", "via", "198.18.1.1"},
		{"ip", "netns", "exec", l.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		// A short reassembly timeout makes "TTL 0 during reassembly" arrive
		// while hping3 still listens.
		{"ip", "netns", "exec", l.target, "sysctl", "-qw", "net.ipv4.ipfrag_time=1"},
		{"ip", "netns", "exec", l.router, "nft", "-f", "-"},
		{"ip", "netns", "exec", l.target, "nft", "-f", "-"},
	}
	stdin := map[string]string{l.router: routerRules, l.target: targetRules}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		if s[len(s)-1] == "-" {
			cmd.Stdin = strings.NewReader(stdin[s[3]])
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return l, nil
}

const routerRules = `
table inet capture {
	chain routed {
		type filter hook forward priority 0; policy accept;
		ip daddr 198.19.3.1 reject with icmp type host-unreachable
		ip daddr 198.19.3.2 reject with icmp type net-unreachable
		ip daddr 198.19.3.3 reject with icmp type prot-unreachable
		ip daddr 198.19.3.4 reject with icmp type admin-prohibited
		ip daddr 198.19.3.5 reject with icmp type host-prohibited
	}
}
`

const targetRules = `
table inet capture {
	chain incoming {
		type filter hook input priority 0; policy accept;
		ip daddr 198.19.1.0/24 drop
	}
}
table netdev capture {
	chain outgoing {
		type filter hook egress device "t0" priority 0;
		ip saddr 198.19.2.0/24 meta mark != 1 meta mark set 1 dup to "t0"
	}
}
`

// Close removes the namespaces (and with them veths and rules).
func (l *lab) Close() {
	for _, ln := range l.listeners {
		ln.Close()
	}
	for _, ns := range []string{l.client, l.router, l.target} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// listen opens a TCP listener inside namespace ns. The kernel answers SYNs
// from the backlog, so nothing needs to accept.
func (l *lab) listen(ns, addr string) error {
	if _, ok := l.listeners[ns+" "+addr]; ok {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		return err
	}
	ln, lerr := net.Listen("tcp4", addr)
	if err := setns(self); err != nil {
		// The thread is in the wrong namespace: never let it run other code.
		panic(err)
	}
	if lerr != nil {
		return lerr
	}
	if l.listeners == nil {
		l.listeners = map[string]net.Listener{}
	}
	l.listeners[ns+" "+addr] = ln
	return nil
}

func setns(f *os.File) error {
	_, _, e := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if e != 0 {
		return e
	}
	return nil
}

// sysSetns is setns(2) on linux/amd64; the syscall package has no name for it.
const sysSetns = 308
