package netlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Profile is how the emulated path behaves for the addresses it covers.
type Profile struct {
	Delay     time.Duration // one-way-and-back delay added before the reply leaves
	Jitter    time.Duration // the delay is uniform in [Delay-Jitter, Delay+Jitter]
	Loss      float64       // probability 0..1 that a request gets no reply
	Dup       float64       // probability 0..1 that a reply is sent twice
	DupGap    time.Duration // time between the two copies; 0 means 1ms
	TTL       uint8         // TTL of the replies as they leave; 0 means 64
	OpenPorts []uint16      // TCP ports that answer SYN-ACK; every other port answers RST
}

// Event is the emulator's record of one request and what it did with it: the
// truth tests compare reported numbers against.
type Event struct {
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // TCP and UDP
	ID, Seq          uint16 // ICMP echo
	Arrived          time.Time
	Delay            time.Duration // the delay drawn for this request
	Dropped          bool          // lost on purpose: no reply
	Sent             []time.Time   // departure of each reply copy (two when duplicated)
}

// RTT is the truth for this request: first reply's departure minus the
// request's arrival at the emulator. ok is false when no reply left.
func (e Event) RTT() (d time.Duration, ok bool) {
	if len(e.Sent) == 0 {
		return 0, false
	}
	return e.Sent[0].Sub(e.Arrived), true
}

// Emulator answers for EmuRange from a TUN device in the router namespace.
// It replies itself (ICMP echo, TCP SYN-ACK or RST, UDP port unreachable)
// after each profile's delay; no netem is needed.
type Emulator struct {
	f    *os.File
	done chan struct{}

	mu       sync.Mutex
	profiles []route
	events   []*Event
	rng      *rand.Rand
	ipID     uint16
	pending  sync.WaitGroup
	closed   bool
	readErr  error
}

type route struct {
	p   netip.Prefix
	pro Profile
}

// Emulator creates the TUN device "emu" in the router namespace, routes
// EmuRange to it and starts answering. Addresses without a profile (see Set)
// answer at once, like a lossless local host. It stops in t.Cleanup.
func (l *Lab) Emulator() (*Emulator, error) {
	var fd int
	err := Do(l.Router, func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq("emu")
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	e := &Emulator{
		// A non-blocking fd goes to Go's poller, so Close interrupts Read.
		f:    os.NewFile(uintptr(fd), "emu"),
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)),
	}
	l.onClose(e.Close)
	for _, s := range [][]string{
		{"-n", l.Router, "link", "set", "emu", "up"},
		{"-n", l.Router, "route", "add", EmuRange.String(), "dev", "emu"},
	} {
		if err := run("ip", s...); err != nil {
			e.Close()
			return nil, err
		}
	}
	go e.loop()
	return e, nil
}

// Set gives the addresses in p profile pro; the longest matching prefix wins.
func (e *Emulator) Set(p netip.Prefix, pro Profile) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.profiles = append(e.profiles, route{p.Masked(), pro})
	slices.SortStableFunc(e.profiles, func(a, b route) int { return b.p.Bits() - a.p.Bits() })
}

// Events returns a copy of the records of requests to dst, in arrival order
// (all requests when dst is the zero Addr).
func (e *Emulator) Events(dst netip.Addr) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.events {
		if dst.IsValid() && ev.Dst != dst {
			continue
		}
		c := *ev
		c.Sent = slices.Clone(ev.Sent)
		out = append(out, c)
	}
	return out
}

// Wait blocks until every scheduled reply has left.
func (e *Emulator) Wait() { e.pending.Wait() }

// Close stops the emulator and removes nothing else: the TUN device goes
// with its file descriptor.
func (e *Emulator) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	e.f.Close()
	<-e.done
	e.pending.Wait()
}

func (e *Emulator) profile(a netip.Addr) Profile {
	for _, r := range e.profiles {
		if r.p.Contains(a) {
			return r.pro
		}
	}
	return Profile{}
}

func (e *Emulator) loop() {
	defer close(e.done)
	buf := make([]byte, 65536)
	for {
		n, err := e.f.Read(buf)
		now := time.Now()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				e.mu.Lock()
				e.readErr = err
				e.mu.Unlock()
			}
			return
		}
		r, err := parse(slices.Clone(buf[:n]))
		if err != nil || !EmuRange.Contains(r.dst) {
			continue // e.g. IPv6 router solicitations the kernel sends on a new link
		}
		e.handle(r, now)
	}
}

// handle decides the request's fate under the lock, then schedules the
// replies. Recording happens here so Events sees every request at once.
func (e *Emulator) handle(r request, now time.Time) {
	e.mu.Lock()
	pro := e.profile(r.dst)
	ev := &Event{Proto: r.proto, Src: r.src, Dst: r.dst, SrcPort: r.srcPort, DstPort: r.dstPort,
		ID: r.id, Seq: r.seq, Arrived: now}
	ttl := pro.TTL
	if ttl == 0 {
		ttl = 64
	}
	e.ipID++
	var reply []byte
	ok := true
	switch r.proto {
	case ProtoICMP:
		reply = echoReply(r, ttl, e.ipID)
	case ProtoTCP:
		reply, ok = tcpReply(r, slices.Contains(pro.OpenPorts, r.dstPort), ttl, e.ipID, e.rng.Uint32())
	case ProtoUDP:
		reply = portUnreachable(r, ttl, e.ipID)
	}
	if !ok {
		e.mu.Unlock()
		return // nothing a real host would answer: not a probe
	}
	ev.Delay = pro.Delay
	if pro.Jitter > 0 {
		ev.Delay += time.Duration(e.rng.Int64N(int64(2*pro.Jitter)+1)) - pro.Jitter
	}
	ev.Dropped = pro.Loss > 0 && e.rng.Float64() < pro.Loss
	dup := !ev.Dropped && pro.Dup > 0 && e.rng.Float64() < pro.Dup
	e.events = append(e.events, ev)
	if ev.Dropped || e.closed {
		e.mu.Unlock()
		return
	}
	e.pending.Add(1)
	e.mu.Unlock()

	gap := pro.DupGap
	if gap == 0 {
		gap = time.Millisecond
	}
	due := now.Add(ev.Delay)
	time.AfterFunc(time.Until(due), func() {
		defer e.pending.Done()
		e.send(ev, reply)
		if dup {
			time.Sleep(time.Until(due.Add(gap)))
			e.send(ev, reply)
		}
	})
}

func (e *Emulator) send(ev *Event, pkt []byte) {
	if _, err := e.f.Write(pkt); err != nil {
		return // closed: the lab is going away
	}
	t := time.Now()
	e.mu.Lock()
	ev.Sent = append(ev.Sent, t)
	e.mu.Unlock()
}

// Err returns the error that stopped the read loop early, if any.
func (e *Emulator) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.readErr
}
