package core

import (
	"fmt"
	"math/rand/v2"
	"syscall"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// Source ports for the Tcl engine's TCP and UDP probes come from this range,
// below Linux's ephemeral range so they never collide with the host's own
// connections; a session may hold at most config.MaxSourcePorts
// of each protocol.
const (
	firstProbePort = config.FirstProbePort
	lastProbePort  = config.LastProbePort
)

// portBlock holds source ports reserved for one session: each is bound by a
// socket of the probe's protocol, so no other process (another plugin
// process among them) can use it and take the answers meant for us. The
// sockets are never read: answers are captured by hping3, and a bound UDP
// port keeps the kernel from answering a reply with port unreachable.
type portBlock struct {
	ports  []int
	fds    []int
	lo, hi int
}

// reservePorts binds n ports of proto (syscall.SOCK_STREAM or SOCK_DGRAM)
// from a random place in the range, skipping ports in use.
func reservePorts(sockType, n int) (*portBlock, error) {
	b := &portBlock{lo: lastProbePort + 1, hi: firstProbePort - 1}
	size := lastProbePort - firstProbePort + 1
	if n > config.MaxSourcePorts {
		return nil, fmt.Errorf("%d source ports needed, more than the %d the plugin may use", n, config.MaxSourcePorts)
	}
	start := rand.IntN(size)
	for i := 0; i < size && len(b.ports) < n; i++ {
		port := firstProbePort + (start+i)%size
		fd, err := bindPort(sockType, port)
		if err != nil {
			continue
		}
		b.ports = append(b.ports, port)
		b.fds = append(b.fds, fd)
		b.lo, b.hi = min(b.lo, port), max(b.hi, port)
	}
	if len(b.ports) < n {
		b.release()
		return nil, fmt.Errorf("only %d of %d source ports in %d..%d are free", len(b.ports), n, firstProbePort, lastProbePort)
	}
	return b, nil
}

func bindPort(sockType, port int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, sockType|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (b *portBlock) release() {
	if b == nil {
		return
	}
	for _, fd := range b.fds {
		syscall.Close(fd)
	}
	b.fds = nil
}

// sessionPorts are the source ports one session of the Tcl engine holds.
type sessionPorts struct{ tcp, udp *portBlock }

func (sp sessionPorts) release() {
	sp.tcp.release()
	sp.udp.release()
}

// reserveFor reserves the source ports a session's targets need and hands
// them out: one TCP port per target and per path TTL (a target holds a
// half-open connection for a port it answered SYN-ACK on until our RST
// reaches it, and answers another SYN on that port meanwhile with a bare
// ACK, not a SYN-ACK), and udpPorts(t) UDP ports per UDP target (its schedule's). It also
// makes each target's payload.
func reserveFor(targets []*target, udpPorts func(*target) int) (sessionPorts, error) {
	tcpN, udpN := 0, 0
	for _, t := range targets {
		switch t.s.Protocol {
		case config.TCP:
			tcpN++
		case config.UDP:
			udpN += udpPorts(t)
		}
	}
	var sp sessionPorts
	var err error
	if tcpN > 0 {
		sp.tcp, err = reservePorts(syscall.SOCK_STREAM, tcpN)
	}
	if err == nil && udpN > 0 {
		sp.udp, err = reservePorts(syscall.SOCK_DGRAM, udpN)
	}
	if err != nil {
		sp.release()
		return sessionPorts{}, fmt.Errorf("reserving source ports: %w", err)
	}
	tcpNext, udpNext := 0, 0
	for _, t := range targets {
		t.payload = probePayload(t.s)
		switch t.s.Protocol {
		case config.TCP:
			t.tcpPort = sp.tcp.ports[tcpNext]
			tcpNext++
		case config.UDP:
			n := udpPorts(t)
			t.udpPorts, t.udpNext = sp.udp.ports[udpNext:udpNext+n], 0
			udpNext += n
		}
	}
	return sp, nil
}
