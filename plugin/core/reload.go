package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// Reloader is a Source whose configuration can be replaced while it runs
// (the standalone modes' reload, a targets file that changed). Reload
// either takes cfg whole or refuses it with the reason, the old
// configuration running on.
type Reloader interface {
	Reload(cfg *config.Config) error
}

// renew is a Runner for cfg that keeps what belongs to the process rather
// than to a configuration: how engines start, the kernel clock, the ICMP
// identity and the resolver.
func (r *Runner) renew(cfg *config.Config) *Runner {
	// The engine each hping3 runs is kept while the engine setting is:
	// a reload tries no hping3 again (and says nothing of it again).
	known := map[string]engineChoice{}
	for _, e := range r.engines {
		if e.bin != "" && cfg.Engine == r.cfg.Engine {
			known[e.bin] = e
		}
	}
	n := newRunner(cfg, r.log, known)
	n.start, n.clock, n.ids, n.resolver = r.start, r.clock, r.ids, r.resolver
	return n
}

// rounds is the Source of mode rounds: a Runner, replaced between rounds
// by a reload.
type rounds struct {
	mu sync.Mutex
	r  *Runner
}

func (s *rounds) runner() *Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r
}

// Next runs one round with the configuration of the moment.
func (s *rounds) Next(ctx context.Context) Report { return s.runner().Run(ctx) }

// Targets is the number of probes of the next round.
func (s *rounds) Targets() int { return s.runner().Targets() }

// Close does nothing: rounds keep nothing running between them.
func (s *rounds) Close() {}

// Continuous is false: the reports are rounds.
func (s *rounds) Continuous() bool { return false }

// Reload makes cfg the configuration of the next round; a round running
// ends with the old one.
func (s *rounds) Reload(cfg *config.Config) error {
	cur := s.runner()
	if err := sameMode(cur.cfg, cfg); err != nil {
		return err
	}
	n := cur.renew(cfg)
	s.mu.Lock()
	s.r = n
	s.mu.Unlock()
	return nil
}

// targetKey identifies a target of r across configurations: its name,
// settings, tags and the hping3 that probes it. A target whose key stays
// keeps its packets in flight and its window; any other is a new target.
func targetKey(r *Runner, t *target) string {
	return fmt.Sprintf("%q %#v %v %q", t.name, t.s, t.tags, r.engines[r.jobs[t.job].group].bin)
}

// Reload replaces the Stream's configuration. The targets that stay (same
// name, settings and tags) keep their window and their packets in flight;
// the others leave, and new ones start. Each engine whose targets changed
// stops sending, lets its packets in flight be decided (into the windows
// of the targets that stay) and starts again with the new list, as after
// an address change.
func (s *Stream) Reload(cfg *config.Config) error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	s.mu.Lock()
	cur := s.r
	s.mu.Unlock()
	if err := sameMode(cur.cfg, cfg); err != nil {
		return err
	}
	r := cur.renew(cfg)
	for gi, e := range r.engines {
		if !e.tcl {
			return fmt.Errorf("mode continuous needs the tcl engine (hping3's Tcl API), which inputs.hping3[%d] cannot use", gi)
		}
	}

	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return errors.New("the source is closed")
	}
	old := map[string][]*target{}
	for _, t := range s.targets {
		k := targetKey(cur, t)
		old[k] = append(old[k], t)
	}
	s.mu.Unlock()
	var next, fresh []*target
	for i := range r.jobs {
		t := r.newTarget(i)
		k := targetKey(r, t)
		if ts := old[k]; len(ts) > 0 {
			old[k] = ts[1:]
			next = append(next, ts[0])
			continue
		}
		if t.s.Path {
			for h := 1; h <= t.s.MaxHops; h++ {
				t.addHop(h)
			}
		}
		t.fresh = true
		next = append(next, t)
		fresh = append(fresh, t)
	}
	// New names are looked up before their first session.
	var wg sync.WaitGroup
	for _, t := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resolve(s.ctx, t)
		}()
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range next {
		t.job = i
	}
	s.targets, s.r = next, r
	s.assign(r)
	return nil
}

// assign gives each engine (one per hping3 binary) its targets and its
// share of the packet rate, starting the engines of new binaries; the
// engines take them at their next session, which a replan starts. An
// engine left without targets idles. Called with s.mu held.
func (s *Stream) assign(r *Runner) {
	byBin := map[string][]*target{}
	var bins []string
	all := 0
	for _, t := range s.targets {
		bin := r.engines[r.jobs[t.job].group].bin
		if _, ok := byBin[bin]; !ok {
			bins = append(bins, bin)
		}
		byBin[bin] = append(byBin[bin], t)
		all += 1 + len(t.hops)
	}
	have := map[string]*tclStream{}
	for _, c := range s.engines {
		have[c.bin] = c
	}
	added := map[*tclStream]bool{}
	for _, bin := range bins {
		if have[bin] == nil {
			c := s.newEngine(r, bin)
			have[bin] = c
			added[c] = true
			s.engines = append(s.engines, c)
			s.done.Add(1)
			go func() {
				defer s.done.Done()
				c.runSessions(s.ctx)
			}()
		}
	}
	for _, c := range s.engines {
		ts := byBin[c.bin]
		probes := 0
		for _, t := range ts {
			probes += 1 + len(t.hops)
		}
		rate := max(1, float64(r.cfg.MaxPacketRate)*float64(probes)/float64(max(all, 1)))
		if !added[c] && c.pending == nil && c.rate == rate && sameTargets(c.targets, ts) {
			continue // unchanged (in another order, maybe): its session goes on
		}
		c.pending = &enginePlan{targets: ts, probes: probes, rate: rate}
		if added[c] {
			continue // its first session takes the plan
		}
		select {
		case c.replan <- struct{}{}:
		default:
		}
	}
}

// sameMode refuses a reload that changes the mode: a Stream and rounds are
// different sources, and the front end's schedule depends on which.
func sameMode(old, cfg *config.Config) error {
	mode := func(m config.Mode) config.Mode {
		if m == "" {
			return config.ModeContinuous
		}
		return m
	}
	if mode(old.Mode) != mode(cfg.Mode) {
		return fmt.Errorf("mode changed from %q to %q: a restart applies it", mode(old.Mode), mode(cfg.Mode))
	}
	return nil
}

// sameTargets reports whether a and b hold the same targets, in any order.
func sameTargets(a, b []*target) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[*target]bool, len(a))
	for _, t := range a {
		in[t] = true
	}
	for _, t := range b {
		if !in[t] {
			return false
		}
	}
	return true
}
