package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Fixed ports keep the captures reproducible; they only exist inside the
// client namespace, so nothing else on the machine can collide with them.
const (
	portOpen   = "8080" // a listener in the client namespace on 127.0.0.1
	portClosed = "81"
	portUDP    = "1770"
	basePort   = "3000" // -s: hping3's base source port, as the plugin passes it
)

// A capCase is one hping3 run. argv is hping3's arguments exactly as passed.
type capCase struct {
	name   string
	about  string   // what the case shows
	where  string   // "client" (the client namespace's loopback or the lab) or "host"
	user   string   // run as this user (no capabilities) when set
	argv   []string // hping3's arguments
	before func() error
}

type result struct {
	stdout, stderr []byte
	rc             int
}

func cases(l *lab) []capCase {
	icmp := func(extra ...string) []string {
		return append(append([]string{"-n", "-c", "3", "-i", "u200000", "-1"}, extra...), "--")
	}
	tcp := func(port string, extra ...string) []string {
		return append(append([]string{"-n", "-c", "3", "-i", "u200000", "-S", "-p", port, "-s", basePort}, extra...), "--")
	}
	udp := func(extra ...string) []string {
		return append(append([]string{"-n", "-c", "3", "-i", "u200000", "-2", "-p", portUDP, "-s", basePort}, extra...), "--")
	}
	listen := func() error { return l.listen(l.client, "127.0.0.1:"+portOpen) }
	return []capCase{
		{name: "icmp-echo", about: "ICMP echo replies on loopback", argv: append(icmp(), "127.0.0.1")},
		{name: "icmp-echo-lab", about: "ICMP echo through the router namespace (ttl 63)", argv: append(icmp(), addrEcho)},
		{name: "icmp-relid", about: "-r: relative IP id (id=+N)", argv: append(icmp("-r"), "127.0.0.1")},
		{name: "icmp-verbose", about: "-V: the reply tail moves to a second line", argv: append(icmp("-V"), "127.0.0.1")},
		{name: "tcp-open", about: "TCP SYN to a listening port: flags=SA", argv: append(tcp(portOpen), "127.0.0.1"), before: listen},
		{name: "tcp-closed", about: "TCP SYN to a closed port: flags=RA", argv: append(tcp(portClosed), "127.0.0.1")},
		{name: "tcp-verbose", about: "-V with TCP: tail on line 2, then seq/ack/sum/urp and an empty line", argv: append(tcp(portOpen, "-V"), "127.0.0.1"), before: listen},
		{name: "udp-closed", about: "UDP to a closed port: ICMP Port Unreachable plus Debian's status line", argv: append(udp(), "127.0.0.1")},
		{name: "udp-closed-lab", about: "UDP to a closed port through the router namespace", argv: append(udp(), addrEcho)},
		{name: "icmp-dup", about: "every ICMP reply duplicated (nftables dup on the target's egress): DUP!", argv: append(icmp(), addrDup)},
		{name: "tcp-dup", about: "every TCP RST duplicated: DUP! with a TCP tail", argv: append(tcp(portClosed), addrDup)},
		{name: "udp-dup", about: "every ICMP port unreachable duplicated: status=1 on the UDP status line", argv: append(udp(), addrDup)},
		{name: "icmp-dup-verbose", about: "-V with duplicated replies", argv: append(icmp("-V"), addrDup)},
		{name: "host-unreachable", about: "the router rejects with ICMP host-unreachable", argv: append(icmp(), addrHostUn)},
		{name: "net-unreachable", about: "the router rejects with ICMP net-unreachable", argv: append(tcp(portClosed), addrNetUn)},
		{name: "prot-unreachable", about: "the router rejects with ICMP protocol-unreachable", argv: append(udp(), addrProtUn)},
		{name: "packet-filtered", about: "the router rejects with admin-prohibited (code 13)", argv: append(icmp(), addrAdmin)},
		{name: "unreachable-type", about: "the router rejects with host-prohibited (code 10): ICMP Unreachable type=10", argv: append(icmp(), addrHostPro)},
		{name: "frag-needed", about: "DF packet larger than the router's next-hop MTU", argv: append(icmp("-y", "-d", "1000"), addrEcho)},
		{name: "ttl-transit", about: "--ttl 1: the router answers TTL 0 during transit", argv: append(icmp("--ttl", "1"), addrEcho)},
		{name: "ttl-reassembly", about: "a lone first fragment (-x): the target answers TTL 0 during reassembly after ipfrag_time=1s", argv: []string{"-n", "-c", "2", "-i", "u500000", "-1", "-x", "--", addrEcho}},
		{name: "traceroute", about: "-T: hop= lines, then the target's replies", argv: append(icmp("-T"), addrEcho)},
		{name: "no-reply", about: "the target drops everything: 100% loss, 0.0/0.0/0.0, rc 1", argv: append(icmp(), addrSilent)},
		{name: "unresolvable", about: "a name that does not resolve", argv: []string{"-n", "-c", "3", "-i", "u200000", "-1", "--", "nonexistent.invalid"}},
		{name: "no-permission", about: "run as nobody without CAP_NET_RAW", user: "nobody", argv: append(icmp(), "127.0.0.1")},
		{name: "bad-option", about: "an unknown option", argv: []string{"-n", "--no-such-option", "-c", "3", "--", "127.0.0.1"}},
		{name: "bad-value", about: "a value hping3 rejects itself: count 0", argv: []string{"-n", "-c", "0", "-1", "--", "127.0.0.1"}},
		{name: "sendto-unreachable", about: "no route to the target: sendto fails, no statistics", argv: append(icmp(), addrNoRoute)},
	}
}

// capture runs hping3 in the client namespace. A run that outlives its
// deadline gets SIGINT (hping3 then prints its statistics) and later SIGKILL.
func (c capCase) capture(ctx context.Context, l *lab, hping string) (result, error) {
	if c.before != nil {
		if err := c.before(); err != nil {
			return result{}, fmt.Errorf("setup: %w", err)
		}
	}
	args := []string{"netns", "exec", l.client}
	if c.user != "" {
		args = append(args, "setpriv", "--reuid="+c.user, "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--")
	}
	args = append(append(args, hping), c.argv...)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 3 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
	default:
		return result{}, err
	}
	if ctx.Err() != nil {
		return result{}, fmt.Errorf("hping3 did not finish in time")
	}
	return result{stdout: stdout.Bytes(), stderr: stderr.Bytes(), rc: cmd.ProcessState.ExitCode()}, nil
}

func readme(cs []capCase) []byte {
	var b strings.Builder
	b.WriteString(readmeHead)
	for _, c := range cs {
		cmd := "hping3 " + strings.Join(c.argv, " ")
		if c.user != "" {
			cmd = "setpriv --reuid=" + c.user + " --regid=nogroup --clear-groups --inh-caps=-all -- " + cmd
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", c.name, c.about, cmd)
	}
	b.WriteString(readmeTail)
	return []byte(b.String())
}

const readmeHead = "# hping3 captures\n\n" +
	"Real output of Debian 12's hping3 (`3.a2.ds2-10`), one run per case: `NAME.stdout` and `NAME.stderr`\n" +
	"as the two pipes delivered them, `NAME.rc` the exit status. The parser tests read these files.\n\n" +
	"Re-create them (root; needs iproute2, nftables, setpriv, hping3):\n\n" +
	"    go run ./internal/capture -out plugin/hping3/testdata\n\n" +
	"Every run happens in a client network namespace created for the capture, with no default route.\n" +
	"`127.0.0.1` is that namespace's own loopback (with a TCP listener on 127.0.0.1:8080 where a case\n" +
	"needs an open port); `198.19.x.y` are hosts in a target namespace behind a router namespace\n" +
	"(`internal/capture/lab.go`): 198.19.0.x answer, 198.19.1.x drop, 198.19.2.x answer twice (nftables\n" +
	"`dup` on the target's egress), 198.19.3.x are rejected by the router with one ICMP code each; the\n" +
	"router's link to the target has MTU 576. 198.18.200.1 has no route. Namespaces are deleted afterwards.\n\n" +
	"RTTs, IP ids and TCP window sizes change from run to run; the tests assert the fields of these files.\n\n" +
	"| case | shows | command (run inside the client namespace) |\n|---|---|---|\n"

const readmeTail = "\n## Synthetic cases (written by hand, not captured)\n\n" +
	"- `synthetic-glitch.stdout`: ICMP replies where one rtt is about +1000 ms, the occasional race\n" +
	"  between time() and gettimeofday() in hping3; it cannot be forced on purpose, so the lines are\n" +
	"  copied from `icmp-echo` with the rtt of icmp_seq=1 edited to 1001.0 ms.\n" +
	"- `synthetic-tramitted.stderr`: the statistics block as upstream hping3 master spells it\n" +
	"  (\"packets tramitted\"); Debian's patched binary prints \"transmitted\".\n" +
	"- `synthetic-out-of-sequence.stderr`: statistics with the `N out of sequence packets received`\n" +
	"  line between the counts and the round-trip line, and negative loss from duplicates.\n"
