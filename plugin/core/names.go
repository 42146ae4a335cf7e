package core

import (
	"context"
	"net/netip"
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
	res, err := s.r.lookup(ctx, t.name, t.s)
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
// for a target whose address changed.
func (s *Stream) resolveLoop(ctx context.Context, changed func(*target)) {
	next := make([]time.Time, len(s.targets))
	now := time.Now()
	for i, t := range s.targets {
		if _, err := netip.ParseAddr(t.name); err == nil {
			continue // a literal: never looked up
		}
		next[i] = now.Add(s.resolveAfter(t))
	}
	tick := time.NewTicker(min(time.Second, retryResolve))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
		for i, t := range s.targets {
			if next[i].IsZero() || now.Before(next[i]) {
				continue
			}
			if s.resolve(ctx, t) {
				changed(t)
			}
			next[i] = time.Now().Add(s.resolveAfter(t))
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
