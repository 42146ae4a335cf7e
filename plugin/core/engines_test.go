package core

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// The fake engine: an in-process stand-in for the Tcl engine behind the
// engine interface the session depends on, so that the session, both
// schedules and every engine fault run without root or hping3. It speaks
// the engine's record protocol as tcl.Event values: a send record per
// packet as soon as it is flushed (stamped then), each answer the fake
// network gives stamped exactly its delay after the send (so RTTs are
// exact), captures opened at once, a sync answered at once. A fault makes
// one engine start misbehave after a number of packets.

// fault is how one engine start misbehaves; the zero fault is none.
type fault struct {
	startErr error  // Start fails
	listen   string // the capture fails with this reason
	after    int    // the packets it handles before the fault below
	hang     bool   // then: no record any more (a stopped process)
	flood    bool   // then: records without end
	fail     error  // then: its output ends with this error (a crash, garbage)
	badID    bool   // then: a send record for a packet it was not given
	outTurn  bool   // then: a record the protocol does not allow here
	syncNow  bool   // then: a sync record nobody asked for
	noSync   bool   // never answers a sync
	// refuse: the packets to this address are not sent, with this reason
	// (as the kernel refuses one: hping3's "Sending packet: ...").
	refuse   netip.Addr
	refusing string
}

// Errors as the real engine process (tcl.Process) reports them.
var (
	errCrash   = errors.New("the hping3 engine stopped (exit status 3)")
	errGarbage = errors.New(`the hping3 engine printed garbage (unknown record "hping3"): "hping3 segfault"`)
)

// reply is one answer of the fake network to a packet.
type reply struct {
	after time.Duration
	c     *packet.Captured
}

// fakeNet is what every fake engine of a test shares: the network's
// answers, the faults of each engine start, and what was sent.
type fakeNet struct {
	mu      sync.Mutex
	answer  func(p *packet.Probe) []reply
	faults  map[int]fault // by start, from 1
	starts  int
	closed  int
	syncs   int // syncs asked
	sent    []sentPacket
	engines []*fakeEngine
	// sending is when the packet answer is called for went (under mu):
	// the time its replies count from, for a network that keeps state.
	sending time.Time
}

type sentPacket struct {
	at    time.Time
	probe packet.Probe
}

// newFakeNet is a network where every packet is answered by its target
// after delay (an echo reply, a SYN-ACK, a UDP port unreachable).
func newFakeNet(delay time.Duration) *fakeNet {
	return &fakeNet{faults: map[int]fault{}, answer: func(p *packet.Probe) []reply {
		return []reply{{delay, targetReply(p)}}
	}}
}

func (n *fakeNet) setFault(start int, f fault) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults[start] = f
}

func (n *fakeNet) setAnswer(f func(p *packet.Probe) []reply) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answer = f
}

// counts returns how many engines were started and closed.
func (n *fakeNet) counts() (starts, closed int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts, n.closed
}

// syncsAsked returns how many syncs the engines were asked for.
func (n *fakeNet) syncsAsked() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.syncs
}

// packets returns every packet sent, in order.
func (n *fakeNet) packets() []sentPacket {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.sent)
}

// start is the session's startEngine.
func (n *fakeNet) start(string) (engineProcess, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.starts++
	f := n.faults[n.starts]
	if f.startErr != nil {
		return nil, f.startErr
	}
	e := &fakeEngine{net: n, fault: f, events: make(chan []tcl.Event, 64), wake: make(chan struct{}, 1), quit: make(chan struct{})}
	n.engines = append(n.engines, e)
	go e.deliver()
	return e, nil
}

// fakeEngine is one fake engine process.
type fakeEngine struct {
	net    *fakeNet
	fault  fault
	events chan []tcl.Event
	wake   chan struct{}
	quit   chan struct{}

	mu      sync.Mutex
	queued  []queuedSend // written, not flushed
	handled int          // packets flushed
	struck  bool         // the fault began
	outbox  []tcl.Event
	ended   error // its output ended: why
	err     error
	closed  bool
	later   []tcl.Event // answers not yet due
}

type queuedSend struct {
	id int
	p  packet.Probe
}

func (e *fakeEngine) Listen(iface, _ string) error {
	if e.fault.listen != "" {
		e.emit(tcl.Event{Kind: tcl.ListenFailed, Iface: iface, Err: e.fault.listen})
	} else {
		e.emit(tcl.Event{Kind: tcl.Listening, Iface: iface})
	}
	return nil
}

func (e *fakeEngine) Send(id int, p *packet.Probe) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queued = append(e.queued, queuedSend{id, *p})
	return nil
}

// Flush "sends" the queued packets: a send record each, then their
// answers after their delays; or, past fault.after, the fault.
func (e *fakeEngine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for _, q := range e.queued {
		if e.fault.active() && e.handled >= e.fault.after && !e.struck {
			e.struck = true
			e.misbehave()
		}
		if e.struck && e.fault.hang {
			break
		}
		e.handled++
		if q.p.Dst == e.fault.refuse {
			e.outbox = append(e.outbox, tcl.Event{Kind: tcl.SendFailed, ID: q.id, At: now, Err: e.fault.refusing})
			continue
		}
		e.net.mu.Lock()
		e.net.sent = append(e.net.sent, sentPacket{now, q.p})
		e.net.sending = now
		replies := e.net.answer(&q.p)
		e.net.mu.Unlock()
		e.outbox = append(e.outbox, tcl.Event{Kind: tcl.Sent, ID: q.id, At: now})
		for _, r := range replies {
			e.later = append(e.later, tcl.Event{Kind: tcl.Captured, Iface: "lo", At: now.Add(r.after), Packet: r.c})
		}
	}
	e.queued = nil
	e.signal()
	return nil
}

// misbehave starts the fault (under e.mu).
func (e *fakeEngine) misbehave() {
	f := e.fault
	switch {
	case f.hang:
		// Nothing any more.
	case f.flood:
		go func() {
			flood := make([]tcl.Event, 256)
			for i := range flood {
				flood[i] = tcl.Event{Kind: tcl.Captured, Iface: "lo", At: time.Now(), Packet: strayReply()}
			}
			for {
				select {
				case e.events <- flood:
				case <-e.quit:
					return
				}
			}
		}()
	case f.fail != nil:
		e.ended = f.fail
	case f.badID:
		e.outbox = append(e.outbox, tcl.Event{Kind: tcl.Sent, ID: 1 << 30, At: time.Now()})
	case f.outTurn:
		e.outbox = append(e.outbox, tcl.Event{Kind: tcl.Listening, Iface: "lo"})
	case f.syncNow:
		e.outbox = append(e.outbox, tcl.Event{Kind: tcl.Synced, ID: 1, At: time.Now()})
	}
}

func (f fault) active() bool {
	return f.hang || f.flood || f.fail != nil || f.badID || f.outTurn || f.syncNow
}

// Sync answers after every record due before it, as the real engine
// answers once it has read every command written before.
func (e *fakeEngine) Sync(n int) error {
	e.net.mu.Lock()
	e.net.syncs++
	e.net.mu.Unlock()
	if e.fault.noSync {
		return nil
	}
	e.mu.Lock()
	now := time.Now()
	e.takeDue(now)
	e.outbox = append(e.outbox, tcl.Event{Kind: tcl.Synced, ID: n, At: now})
	e.mu.Unlock()
	e.signal()
	return nil
}

func (e *fakeEngine) Events() <-chan []tcl.Event { return e.events }

func (e *fakeEngine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *fakeEngine) Unparsed() int { return 0 }
func (e *fakeEngine) Pid() int      { return 0 }

func (e *fakeEngine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	if e.err == nil {
		e.err = errors.New("engine closed")
	}
	e.mu.Unlock()
	close(e.quit)
	e.net.mu.Lock()
	e.net.closed++
	e.net.mu.Unlock()
}

func (e *fakeEngine) emit(ev tcl.Event) {
	e.mu.Lock()
	e.outbox = append(e.outbox, ev)
	e.mu.Unlock()
	e.signal()
}

func (e *fakeEngine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// deliver hands the outbox over in order, in batches, as the real
// engine's reader does, and each answer once its time has come, in the
// order of their times; when the output ends it closes the channel.
func (e *fakeEngine) deliver() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-e.wake:
		case <-timer.C:
		case <-e.quit:
			return
		}
		e.mu.Lock()
		e.takeDue(time.Now())
		next := time.Hour
		if len(e.later) > 0 {
			next = time.Until(e.later[0].At)
		}
		timer.Reset(next)
		batch, ended := e.outbox, e.ended
		e.outbox = nil
		e.mu.Unlock()
		if len(batch) > 0 {
			select {
			case e.events <- batch:
			case <-e.quit:
				return
			}
		}
		if ended != nil {
			e.mu.Lock()
			e.err = ended
			e.mu.Unlock()
			close(e.events)
			return
		}
	}
}

// takeDue moves the answers due by now to the outbox, in the order of
// their times (under e.mu).
func (e *fakeEngine) takeDue(now time.Time) {
	slices.SortStableFunc(e.later, func(a, b tcl.Event) int { return a.At.Compare(b.At) })
	n := 0
	for n < len(e.later) && !e.later[n].At.After(now) {
		n++
	}
	e.outbox = append(e.outbox, e.later[:n]...)
	e.later = e.later[n:]
}

// targetReply is the target's answer to p: an echo reply, a SYN-ACK, or
// for UDP its port unreachable.
func targetReply(p *packet.Probe) *packet.Captured {
	c := &packet.Captured{IP: packet.IP{Src: p.Dst, Dst: p.Src, TTL: 64, Proto: p.Proto}}
	switch p.Proto {
	case packet.ProtoICMP:
		c.ICMP = &packet.ICMP{Type: packet.ICMPEchoReply, ID: p.ICMPID, Seq: p.ICMPSeq}
		c.Data = p.Payload
	case packet.ProtoTCP:
		c.TCP = &packet.TCP{SrcPort: p.DstPort, DstPort: p.SrcPort, Ack: p.TCPSeq + 1, Flags: packet.FlagSYN | packet.FlagACK}
	case packet.ProtoUDP:
		return icmpError(p, p.Dst, packet.ICMPUnreachable, packet.CodePortUnreach)
	}
	return c
}

// icmpError is an ICMP error from router about p, quoting it.
func icmpError(p *packet.Probe, from netip.Addr, typ, code int) *packet.Captured {
	q := &packet.Captured{IP: packet.IP{ID: p.IPID, Src: p.Src, Dst: p.Dst, TTL: 1, Proto: p.Proto}}
	switch p.Proto {
	case packet.ProtoICMP:
		q.ICMP = &packet.ICMP{Type: packet.ICMPEcho, ID: p.ICMPID, Seq: p.ICMPSeq}
	case packet.ProtoTCP:
		q.TCP = &packet.TCP{SrcPort: p.SrcPort, DstPort: p.DstPort, Seq: p.TCPSeq, Flags: p.TCPFlags}
	case packet.ProtoUDP:
		q.UDP = &packet.UDP{SrcPort: p.SrcPort, DstPort: p.DstPort}
	}
	return &packet.Captured{IP: packet.IP{Src: from, Dst: p.Src, TTL: 64, Proto: packet.ProtoICMP},
		ICMP: &packet.ICMP{Type: typ, Code: code}, Quoted: q}
}

// strayReply is an echo reply no probe asked for.
func strayReply() *packet.Captured {
	return &packet.Captured{IP: packet.IP{Src: netip.MustParseAddr("127.0.0.99"), Dst: netip.MustParseAddr("127.0.0.1"), TTL: 64, Proto: packet.ProtoICMP},
		ICMP: &packet.ICMP{Type: packet.ICMPEchoReply, ID: 1, Seq: 1}}
}

// fakeConfig is a validated configuration of targets (127.0.0.x, so that
// routes and captures are loopback's) in one table of s, on the Tcl engine
// of an hping3 that is an empty executable file: only the fake runs.
func fakeConfig(t *testing.T, mode config.Mode, targets []string, s config.Settings) *config.Config {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hping3")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	s.HPing3 = bin
	cfg := &config.Config{MaxPacketRate: 1000, Engine: config.EngineTcl, Mode: mode,
		Groups: []config.Group{{Targets: targets, Settings: s}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeSetup is cfg made ready to probe with net's fake Tcl engine, logging
// into log.
func fakeSetup(cfg *config.Config, net *fakeNet, log *lockedLog) *setup {
	st := newSetup(cfg, logger.New(log, true))
	st.start = net.start
	st.tap = nil // the stand-in's answers come from it, not the wire
	return st
}

// lockedLog is a log writer the tests read while the core writes it.
type lockedLog struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
