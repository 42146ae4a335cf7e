package core

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/capture"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// wireTap is the plugin's use of its own kernel-stamped captures (package
// capture), shared by every session of the process: whether it can capture
// at all, what it has warned about, and the kernel's drop count.
// Where it cannot capture, hping3 captures as before (its own clock, up to
// about a millisecond late) and the reports say so (probe.Stamps).
type wireTap struct {
	log  *logger.Logger
	open func(iface string, f capture.Filter, wait time.Duration) (*capture.Ring, error)

	mu          sync.Mutex
	noCap       bool            // no CAP_NET_RAW: never try again
	failedIface map[string]bool // warned about, once each
	drops       atomic.Uint64   // packets the kernel dropped, not yet reported
	dropsSeen   atomic.Bool     // the W! about drops was written
}

func newWireTap(log *logger.Logger) *wireTap {
	return &wireTap{log: log, open: capture.Open, failedIface: map[string]bool{}}
}

// takeDrops returns the drops since the last call: a report's.
func (k *wireTap) takeDrops() int {
	if k == nil {
		return 0
	}
	return int(k.drops.Swap(0))
}

// addDrops counts what a ring's kernel counter rose by; the first rise is
// one W!, since every packet dropped is a probe or an answer not seen.
func (k *wireTap) addDrops(iface string, n uint64) {
	if n == 0 {
		return
	}
	k.drops.Add(n)
	if !k.dropsSeen.Swap(true) {
		k.log.Warnf("the capture on %s dropped %d packets (its ring was full): their probes count as sent with hping3's clock or as lost; capture_drops in the hping3_round line counts them from now on", iface, n)
	}
}

// wire is one session's kernel captures: a ring per interface its probes
// leave by, each read by a goroutine that hands over a block of frames at
// a time.
type wire struct {
	k      *wireTap
	rings  []*capture.Ring
	ifaces map[string]bool
	frames chan []capture.Frame
	failed chan ringEnded // a ring's capture ended (its interface went away)
	quit   chan struct{}
	wg     sync.WaitGroup
}

// statsEvery is how often a ring's drop counter is read while it runs.
const statsEvery = time.Second

// openWire opens a kernel capture on each interface of targets, filtered
// to the session's own probes and their answers (capture.Filter). It
// returns the interfaces it could not capture on, for hping3 to capture
// instead: all of them without CAP_NET_RAW (one W! per process), or one
// that failed to open (one W! per interface). w is nil when it captures
// on none.
func (k *wireTap) openWire(targets []*target, tag uint32, ports sessionPorts, wait time.Duration) (w *wire, rest map[string]bool) {
	rest = map[string]bool{}
	ifaces := captureIfaces(targets)
	if k == nil {
		for _, c := range ifaces {
			rest[c.iface] = true
		}
		return nil, rest
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range ifaces {
		iface := c.iface
		if k.noCap {
			rest[iface] = true
			continue
		}
		r, err := k.open(iface, c.filter(tag, ports), wait)
		switch {
		case errors.Is(err, capture.ErrPermission):
			k.noCap = true
			k.log.Warnf("the plugin has no CAP_NET_RAW of its own, so hping3 captures the answers and times them with its own clock: RTTs read about 0.5 to 0.9 ms late (measured against tcpdump) and vary by up to 1 ms. Give the plugin's binary the capability (setcap cap_net_raw=p, as the container image does; README.md, Permissions) for kernel timestamps")
			rest[iface] = true
			continue
		case err != nil:
			if !k.failedIface[iface] {
				k.failedIface[iface] = true
				k.log.Warnf("%v: hping3 captures on %s instead, with its own clock (RTTs up to about 1 ms late)", err, iface)
			}
			rest[iface] = true
			continue
		}
		if w == nil {
			w = &wire{k: k, ifaces: map[string]bool{}, frames: make(chan []capture.Frame, 256),
				failed: make(chan ringEnded, len(ifaces)), quit: make(chan struct{})}
		}
		w.rings = append(w.rings, r)
		w.ifaces[iface] = true
	}
	if w != nil {
		for _, r := range w.rings {
			w.wg.Add(1)
			go w.read(r)
		}
	}
	return w, rest
}

// read runs one ring until the session closes it or its capture ends.
func (w *wire) read(r *capture.Ring) {
	defer w.wg.Done()
	var dropped uint64
	stats := func() {
		st := r.Stats()
		w.k.addDrops(r.Iface, st.Drops-dropped)
		dropped = st.Drops
	}
	last := time.Now()
	err := r.Read(func(fs []capture.Frame) {
		select {
		case w.frames <- fs:
		case <-w.quit:
		}
		if time.Since(last) >= statsEvery {
			last = time.Now()
			stats()
		}
	})
	stats()
	if err != nil {
		select {
		case w.failed <- ringEnded{r.Iface, err}:
		default:
		}
	}
}

// ringEnded is a capture that ended while its session ran.
type ringEnded struct {
	iface string
	err   error
}

// close stops the captures, takes their last drop counts and frees them
// (their memory and sockets in the background); frames not yet read are
// dropped (the session is over).
func (w *wire) close() {
	if w == nil {
		return
	}
	close(w.quit)
	for _, r := range w.rings {
		r.Close()
	}
	w.wg.Wait()
	// Unmapping a ring frees its socket, which waits out the kernel's RCU
	// grace period (20 ms and more: a tenth of the fixed cost of a round of
	// 10,000 targets). What the session read and the drops are taken
	// already; nothing waits for it.
	go func() {
		for _, r := range w.rings {
			r.Release()
		}
	}()
}

// channels the session's loop selects on; nil (never ready) without a
// wire.
func (w *wire) channels() (<-chan []capture.Frame, <-chan ringEnded) {
	if w == nil {
		return nil, nil
	}
	return w.frames, w.failed
}
