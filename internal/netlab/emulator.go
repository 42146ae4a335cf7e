package netlab

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
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
	Sent             []time.Time   // departure of each reply copy (two when duplicated): just before its write
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
//
// All its packet I/O runs on one OS thread at real-time priority (see loop):
// the times it records are the truth the tests hold the plugin to, so they
// must not wait behind the plugin, hping3 or anything else on the machine.
type Emulator struct {
	fd   int // the TUN device, blocking: only loop reads and writes it
	wake int // eventfd: Close wakes loop through it
	done chan struct{}

	queue departures // changed by loop only, under mu

	mu       sync.Mutex
	profiles []route
	events   []*Event
	rng      *rand.Rand
	ipID     uint16
	closed   bool
	readErr  error
}

// departure is one reply copy waiting for its time to leave.
type departure struct {
	due time.Time
	ev  *Event
	pkt []byte
}

// departures is a min-heap of reply copies by departure time.
type departures []departure

func (q departures) Len() int           { return len(q) }
func (q departures) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q departures) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *departures) Push(x any)        { *q = append(*q, x.(departure)) }
func (q *departures) Pop() any {
	old := *q
	r := old[len(old)-1]
	*q = old[:len(old)-1]
	return r
}

type route struct {
	p   netip.Prefix
	pro Profile
}

// Emulator creates the TUN device "emu" in the router namespace, routes
// EmuRange to it and starts answering. Addresses without a profile (see Set)
// answer at once, like a lossless local host. It stops in t.Cleanup.
func (l *Lab) Emulator() (*Emulator, error) {
	e, err := l.startEmulator(l.Router, "emu", EmuRange, 1)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	for _, s := range [][]string{
		{"-n", l.Router, "link", "set", "emu", "up"},
		{"-n", l.Router, "route", "add", EmuRange.String(), "dev", "emu"},
	} {
		if err := run("ip", s...); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// startEmulator creates TUN device dev in namespace ns and starts answering
// requests to prefix on it (the device is down until the caller sets it
// up); seed tells the emulators' random draws apart. It stops in t.Cleanup.
func (l *Lab) startEmulator(ns, dev string, prefix netip.Prefix, seed uint64) (*Emulator, error) {
	var fd int
	err := Do(ns, func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			unix.Close(fd)
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
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	e := &Emulator{
		fd:   fd,
		wake: wake,
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), seed)),
	}
	l.onClose(e.Close)
	go e.loop(prefix)
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

// Wait blocks until every scheduled reply has left (or the emulator has
// stopped).
func (e *Emulator) Wait() {
	for {
		e.mu.Lock()
		n, closed := len(e.queue), e.closed
		e.mu.Unlock()
		if n == 0 || closed {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Close stops the emulator and removes nothing else: the TUN device goes
// with its file descriptor. Replies still waiting are never sent.
func (e *Emulator) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1) // an eventfd reads and writes a uint64
	unix.Write(e.wake, one[:])
	<-e.done
	unix.Close(e.fd)
	unix.Close(e.wake)
}

func (e *Emulator) profile(a netip.Addr) Profile {
	for _, r := range e.profiles {
		if r.p.Contains(a) {
			return r.pro
		}
	}
	return Profile{}
}

// loop is the emulator's only I/O: it waits in ppoll for a request or the
// next reply's departure time, stamps each request as it is read and each
// reply just before it is written. It runs on a thread of its own at
// SCHED_FIFO priority (the lab runs as root), so those stamps are within
// microseconds of the kernel's even when the plugin, hping3 and other tests
// load both cores; on Go's poller and timers they came late by up to a few
// milliseconds there. The thread is never unlocked: it ends with loop. It
// answers requests to prefix (EmuRange, or a client-side TUN's range).
func (e *Emulator) loop(prefix netip.Prefix) {
	defer close(e.done)
	runtime.LockOSThread()
	// Best effort: without the privilege the loop still works, less exactly.
	_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 50}, 0)
	buf := make([]byte, 65536)
	fds := []unix.PollFd{{Fd: int32(e.fd), Events: unix.POLLIN}, {Fd: int32(e.wake), Events: unix.POLLIN}}
	for {
		var timeout *unix.Timespec
		if len(e.queue) > 0 {
			ts := unix.NsecToTimespec(max(0, int64(time.Until(e.queue[0].due))))
			timeout = &ts
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Ppoll(fds, timeout, nil); err != nil && !errors.Is(err, unix.EINTR) {
			e.fail(fmt.Errorf("ppoll: %w", err))
			return
		}
		if fds[1].Revents != 0 {
			return // Close
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			// The device is gone: stop rather than spin at real-time priority.
			e.fail(fmt.Errorf("tun: poll events %#x", fds[0].Revents))
			return
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			n, err := unix.Read(e.fd, buf)
			now := time.Now()
			if err != nil {
				e.fail(fmt.Errorf("read: %w", err))
				return
			}
			if r, err := parse(slices.Clone(buf[:n])); err == nil && prefix.Contains(r.dst) {
				e.handle(r, now)
			} // else e.g. IPv6 router solicitations the kernel sends on a new link
		}
		for len(e.queue) > 0 && !time.Now().Before(e.queue[0].due) {
			e.sendNext()
		}
	}
}

func (e *Emulator) fail(err error) {
	e.mu.Lock()
	e.readErr = err
	e.mu.Unlock()
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
	var pkt []byte
	ok := true
	switch r.proto {
	case ProtoICMP:
		pkt = echoReply(r, ttl, e.ipID)
	case ProtoTCP:
		pkt, ok = tcpReply(r, slices.Contains(pro.OpenPorts, r.dstPort), ttl, e.ipID, e.rng.Uint32())
	case ProtoUDP:
		pkt = portUnreachable(r, ttl, e.ipID)
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
	due := now.Add(ev.Delay)
	heap.Push(&e.queue, departure{due, ev, pkt})
	if dup {
		gap := pro.DupGap
		if gap == 0 {
			gap = time.Millisecond
		}
		heap.Push(&e.queue, departure{due.Add(gap), ev, pkt})
	}
	e.mu.Unlock()
}

// sendNext writes the reply copy due first and records its departure. The time is read
// before the write: the kernel routes a TUN write within the write call, so
// the reply is on its way no earlier than t. (Read after the write, a
// loaded CI run once recorded a reply 1.4 ms after hping3 had timed it.)
// Truth taken this way never exceeds what any receiver can measure.
func (e *Emulator) sendNext() {
	t := time.Now()
	_, err := unix.Write(e.fd, e.queue[0].pkt)
	e.mu.Lock()
	defer e.mu.Unlock()
	r := heap.Pop(&e.queue).(departure)
	if err == nil {
		r.ev.Sent = append(r.ev.Sent, t)
	}
}

// Err returns the error that stopped the read loop early, if any.
func (e *Emulator) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.readErr
}
