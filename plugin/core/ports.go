package core

import (
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Source ports for the Tcl engine's TCP and UDP probes come from this range,
// below Linux's ephemeral range so they never collide with the host's own
// connections; a session may hold at most config.MaxSourcePorts
// of each protocol.
const (
	firstProbePort = config.FirstProbePort
	lastProbePort  = config.LastProbePort
)

// icmpFlowID is the echo id of a target's flow n.
func icmpFlowID(dst netip.Addr, s config.Settings, n int) int {
	return int(flowHash(dst, s, n) & 0xffff)
}

// wantedPort is the TCP or UDP source port a target's flow n asks for;
// when it is taken, reserveFor takes the next free one.
func wantedPort(dst netip.Addr, s config.Settings, n int) int {
	return firstProbePort + int(flowHash(dst, s, n)%uint32(lastProbePort-firstProbePort+1))
}

// portBlock holds the source ports of one protocol a session reserved:
// each is bound by a socket of the probe's protocol, so no other process
// (another plugin process among them) can use it and take the answers
// meant for us. The sockets are never read: answers are captured, and a
// bound UDP port keeps the kernel from answering a reply with port
// unreachable. (A bound TCP socket that does not listen still has the
// kernel answer a SYN-ACK with RST, which ends the half-open connection
// at the target.)
type portBlock struct {
	ports  map[int]int // port: its socket
	lo, hi int
}

// reserve binds want, or when another process holds it the next free port
// of the range after it (wrapping), and returns the port. A port the block
// holds already is shared: flows of different targets differ by their
// destination.
func (b *portBlock) reserve(sockType, want int) (int, error) {
	size := lastProbePort - firstProbePort + 1
	for i := range size {
		port := firstProbePort + (want-firstProbePort+i)%size
		if _, ok := b.ports[port]; ok {
			return port, nil
		}
		if len(b.ports) >= config.MaxSourcePorts {
			return 0, fmt.Errorf("more than the %d source ports the plugin may use are needed", config.MaxSourcePorts)
		}
		fd, err := bindPort(sockType, port)
		if err != nil {
			continue
		}
		b.ports[port] = fd
		b.lo, b.hi = min(b.lo, port), max(b.hi, port)
		return port, nil
	}
	return 0, fmt.Errorf("no source port in %d..%d is free", firstProbePort, lastProbePort)
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
	for _, fd := range b.ports {
		syscall.Close(fd)
	}
	b.ports = nil
}

// sessionPorts are the source ports one session of the Tcl engine holds.
type sessionPorts struct{ tcp, udp *portBlock }

func (sp sessionPorts) release() {
	sp.tcp.release()
	sp.udp.release()
}

// portWarnings remembers the flows whose wanted port was taken, so that
// the plugin says it once per flow, not every round.
type portWarnings struct {
	mu   sync.Mutex
	said map[[2]int]bool // {wanted port, protocol's socket type}
}

func (w *portWarnings) once(log *logger.Logger, sockType, want, got int, name string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := [2]int{want, sockType}
	if w.said[k] {
		return
	}
	if w.said == nil {
		w.said = map[[2]int]bool{}
	}
	w.said[k] = true
	proto := "tcp"
	if sockType == syscall.SOCK_DGRAM {
		proto = "udp"
	}
	log.Warnf("target %q: the %s source port %d of its flow %d is taken by another process, so the flow uses %d (the next free one): its packets may take another branch of a balanced path than the same target's from other plugin processes (docs/paths.md)", name, proto, want, n, got)
}

// reserveFor gives every target its flows and payload: a configured
// target flows of them with path probes (which share them), else one; each
// TCP or UDP flow's source port is reserved (wantedPort, the same in every
// session; when another process holds it, the next free one), and an ICMP
// flow has its echo id.
func reserveFor(targets []*target, log *logger.Logger, warn *portWarnings) (sessionPorts, error) {
	var sp sessionPorts
	for _, t := range targets {
		t.flows, t.nextFlow = nil, 0 // the previous session's ports are released
	}
	for _, t := range targets {
		t.payload = probePayload(*t.s)
		owner := t
		if t.hopOf != nil {
			owner = t.hopOf
		}
		if owner.flows == nil {
			if err := sp.reserveFlows(owner, log, warn); err != nil {
				sp.release()
				return sessionPorts{}, fmt.Errorf("reserving source ports: %w", err)
			}
		}
		t.flows = owner.flows
	}
	return sp, nil
}

// reserveFlows gives t, a configured target, its flows.
func (sp *sessionPorts) reserveFlows(t *target, log *logger.Logger, warn *portWarnings) error {
	t.flows = make([]flow, t.s.TargetFlows())
	var sockType int
	var b **portBlock
	switch t.s.Protocol {
	case config.ICMP:
		for i := range t.flows {
			t.flows[i].icmpID = icmpFlowID(t.ip, *t.s, i)
		}
		return nil
	case config.TCP:
		sockType, b = syscall.SOCK_STREAM, &sp.tcp
	case config.UDP:
		sockType, b = syscall.SOCK_DGRAM, &sp.udp
	}
	if *b == nil {
		*b = &portBlock{ports: map[int]int{}, lo: lastProbePort + 1, hi: firstProbePort - 1}
	}
	for i := range t.flows {
		want := wantedPort(t.ip, *t.s, i)
		port, err := (*b).reserve(sockType, want)
		if err != nil {
			return err
		}
		if port != want {
			warn.once(log, sockType, want, port, t.name, i)
		}
		t.flows[i].port = port
	}
	return nil
}
