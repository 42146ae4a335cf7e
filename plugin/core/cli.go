package core

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// Source ports handed to hping3 (-s): the range of the Tcl engine's, below
// Linux's ephemeral range, so they never collide with the host's own
// connections.
const (
	firstSourcePort = config.FirstProbePort
	lastSourcePort  = config.LastProbePort
)

// startGap spaces hping3 starts: each start opens a pcap socket and reads
// the interface list, and a burst of them delays the first packets of
// probes already running. Spreading starts evenly over a probe's sending
// time was measured in the lab instead and showed no less false loss, 3%
// longer rounds and twice the plugin's CPU (docs/performance.md).
const startGap = 2 * time.Millisecond

// cliScheduler is the CLI engine's scheduler: it hands out the right to run
// one hping3 process. A probe needs, in this order: its host to itself (two
// instances on one target:port read each other's replies, and any two on
// one host read each other's ICMP errors, since hping3 shows every error
// that quotes the target), a slot in its group's and the
// global process bounds, its share of the total packet rate, a block of
// source ports, and its turn in the start spacing.
type cliScheduler struct {
	global chan struct{}
	groups []chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	busy    map[string]bool // hosts being probed
	rate    float64         // packets/s of the running probes
	maxRate float64
	ports   []bool // in use, indexed from firstSourcePort
	cursor  int    // where the next search for free ports starts
	nextGo  time.Time
}

func newCLIScheduler(cfg *config.Config) *cliScheduler {
	s := &cliScheduler{
		busy:    map[string]bool{},
		maxRate: float64(cfg.MaxPacketRate),
		ports:   make([]bool, lastSourcePort-firstSourcePort+1),
	}
	// Start at a random place so that two plugin processes on one host
	// (Telegraf's and the Site24x7 agent's, say) rarely hand hping3 the
	// same ports at the same moment.
	s.cursor = rand.IntN(len(s.ports))
	s.cond = sync.NewCond(&s.mu)
	globalMax := 1
	for _, g := range cfg.Groups {
		s.groups = append(s.groups, make(chan struct{}, g.Settings.Concurrency))
		globalMax = max(globalMax, g.Settings.Concurrency)
	}
	s.global = make(chan struct{}, globalMax)
	return s
}

// slot is the right to run one hping3 process.
type slot struct {
	s        *cliScheduler
	group    int
	host     string
	rate     float64
	basePort int
	count    int
}

// acquire waits for everything one probe needs, or for ctx to end.
func (s *cliScheduler) acquire(ctx context.Context, group int, host string, set config.Settings) (*slot, error) {
	sl := &slot{s: s, group: group, host: host, rate: set.Rate(), count: set.Count}
	// The host first: a probe waiting for its host must not hold a
	// process slot others could use.
	if err := s.waitFor(ctx, func() bool {
		if s.busy[host] {
			return false
		}
		s.busy[host] = true
		return true
	}); err != nil {
		return nil, err
	}
	fail := func(err error, held ...func()) (*slot, error) {
		for _, f := range held {
			f()
		}
		return nil, err
	}
	freeHost := func() { s.locked(func() { delete(s.busy, host) }) }
	select {
	case s.groups[group] <- struct{}{}:
	case <-ctx.Done():
		return fail(ctx.Err(), freeHost)
	}
	freeGroup := func() { <-s.groups[group] }
	select {
	case s.global <- struct{}{}:
	case <-ctx.Done():
		return fail(ctx.Err(), freeGroup, freeHost)
	}
	freeGlobal := func() { <-s.global }
	var wait time.Duration
	if err := s.waitFor(ctx, func() bool {
		// A probe alone may always run: validation keeps one target's
		// rate within the cap.
		if s.rate > 0 && s.rate+sl.rate > s.maxRate {
			return false
		}
		base := s.findPorts(sl.count)
		if base < 0 {
			return false
		}
		s.rate += sl.rate
		s.markPorts(base, sl.count, true)
		sl.basePort = base
		now := time.Now()
		if s.nextGo.Before(now) {
			s.nextGo = now
		}
		wait = s.nextGo.Sub(now)
		s.nextGo = s.nextGo.Add(startGap)
		return true
	}); err != nil {
		return fail(err, freeGlobal, freeGroup, freeHost)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			sl.release()
			return nil, ctx.Err()
		}
	}
	return sl, nil
}

func (sl *slot) release() {
	s := sl.s
	s.locked(func() {
		s.rate -= sl.rate
		if s.rate < 1e-9 {
			s.rate = 0
		}
		s.markPorts(sl.basePort, sl.count, false)
		delete(s.busy, sl.host)
	})
	<-s.global
	<-s.groups[sl.group]
}

// locked runs f under the lock and wakes every waiter: each release can
// satisfy a different condition.
func (s *cliScheduler) locked(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
	s.cond.Broadcast()
}

// waitFor blocks until try (called under the lock) succeeds or ctx ends.
func (s *cliScheduler) waitFor(ctx context.Context, try func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.mu.Unlock()
		s.cond.Broadcast()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !try() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cond.Wait()
	}
	return nil
}

// findPorts returns the base of n free consecutive source ports, or -1. The
// search starts after the last block handed out, so a port is reused as
// late as possible and a straggling reply to an earlier probe finds no
// listener expecting it.
func (s *cliScheduler) findPorts(n int) int {
	size := len(s.ports)
	for _, from := range []int{s.cursor, 0} {
		run := 0
		for i := from; i < size; i++ {
			if s.ports[i] {
				run = 0
				continue
			}
			if run++; run == n {
				start := i - n + 1
				s.cursor = (i + 1) % size
				return firstSourcePort + start
			}
		}
	}
	return -1
}

func (s *cliScheduler) markPorts(base, n int, used bool) {
	for i := base - firstSourcePort; i < base-firstSourcePort+n; i++ {
		s.ports[i] = used
	}
}
