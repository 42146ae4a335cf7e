package core

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// How often continuous mode looks names up again: resolveEvery, and
// retryResolve while a name does not resolve. (Variables for the tests.)
var (
	resolveEvery = time.Minute
	retryResolve = 10 * time.Second
)

// resolveAll looks every name up, bounded as rounds are.
func (s *Stream) resolveAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resolve(ctx, t)
		}()
	}
	wg.Wait()
}

// resolve looks t's name up and reports whether its address changed.
func (s *Stream) resolve(ctx context.Context, t *target) bool {
	s.mu.Lock()
	r := s.r // a reload replaces it
	s.mu.Unlock()
	res, err := r.lookup(ctx, t.name, t.s)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := res.IP != t.res.IP || res.Code != t.res.Code
	t.res = res
	return changed
}

// resolveLoop looks names up again on their schedule and calls changed
// for a target whose address changed. It follows the targets of the
// moment: a reload adds and removes some.
func (s *Stream) resolveLoop(ctx context.Context, changed func(*target)) {
	next := map[*target]time.Time{}
	tick := time.NewTicker(min(time.Second, retryResolve))
	defer tick.Stop()
	for first := true; ; first = false {
		now := time.Now()
		if !first {
			select {
			case <-ctx.Done():
				return
			case now = <-tick.C:
			}
		}
		s.mu.Lock()
		targets := slices.Clone(s.targets)
		s.mu.Unlock()
		seen := make(map[*target]bool, len(targets))
		for _, t := range targets {
			seen[t] = true
			if _, err := netip.ParseAddr(t.name); err == nil {
				continue // a literal: never looked up
			}
			at, ok := next[t]
			switch {
			case !ok: // looked up when it was added
				next[t] = now.Add(s.resolveAfter(t))
				continue
			case now.Before(at):
				continue
			}
			if s.resolve(ctx, t) {
				changed(t)
			}
			next[t] = time.Now().Add(s.resolveAfter(t))
		}
		for t := range next {
			if !seen[t] {
				delete(next, t)
			}
		}
	}
}

func (s *Stream) resolveAfter(t *target) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.res.Code != probe.OK {
		return retryResolve
	}
	return resolveEvery
}
