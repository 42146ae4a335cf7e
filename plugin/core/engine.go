package core

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// engineChoice is how one group's targets are probed.
type engineChoice struct {
	tcl bool
	bin string // the hping3 that runs the Tcl engine
}

// chooseEngines decides, once at start, which engine each group uses, and
// says so in one I! line per hping3 binary. "auto" takes the Tcl engine
// when the group's hping3 has hping3's Tcl API.
func chooseEngines(cfg *config.Config, log *logger.Logger) []engineChoice {
	mode := cfg.Engine
	if mode == "" {
		mode = config.EngineAuto
	}
	out := make([]engineChoice, len(cfg.Groups))
	decided := map[string]engineChoice{}
	for i, g := range cfg.Groups {
		bin, err := hping3.Binary(g.Settings.HPing3)
		if err != nil {
			// The CLI engine reports the missing binary on every target.
			continue
		}
		if c, ok := decided[bin]; ok {
			out[i] = c
			continue
		}
		c := engineChoice{bin: bin}
		switch mode {
		case config.EngineCLI:
			log.Infof("engine cli: one hping3 process per target (engine = \"cli\"), at most concurrency at once")
		case config.EngineTcl:
			c.tcl = true
			log.Infof("engine tcl: one %s exec process probes every target of a round (engine = \"tcl\")", bin)
		default:
			if err := tcl.Available(bin); err != nil {
				log.Infof("engine cli: one hping3 process per target, because %s cannot run the Tcl engine: %v", bin, err)
			} else {
				c.tcl = true
				log.Infof("engine tcl: one %s exec process probes every target of a round (hping3's Tcl API is there)", bin)
			}
		}
		decided[bin] = c
		out[i] = c
	}
	return out
}

// runBatches resolves and probes every Tcl-engine target into results: one
// engine process per hping3 binary, all at once, sharing the packet rate in
// proportion to their packets. It returns the processes started.
func (r *Runner) runBatches(ctx context.Context, results []probe.Result) int {
	batches := map[string]*batch{}
	var order []*batch
	var wg sync.WaitGroup
	for i, j := range r.jobs {
		ec := r.engines[j.group]
		if !ec.tcl {
			continue
		}
		b := batches[ec.bin]
		if b == nil {
			b = &batch{bin: ec.bin, log: r.log, ids: r.ids}
			batches[ec.bin] = b
			order = append(order, b)
		}
		g := r.cfg.Groups[j.group]
		bt := &batchTarget{res: &results[i], s: g.Settings, lastHops: r.pathHops[i]}
		b.targets = append(b.targets, bt)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := probe.Target{Name: j.target, Tags: r.cfg.Tags(j.group)}
			release, err := r.sched.acquireDNS(ctx)
			if err == nil {
				t.Res = probe.Resolve(ctx, r.resolver, j.target, g.Settings.DNSTimeout)
				release()
			}
			if err != nil || ctx.Err() != nil {
				results[i] = cancelled(t, g.Settings)
				return
			}
			results[i] = probe.NewResult(t, g.Settings, time.Now())
			bt.ip, _ = netip.ParseAddr(t.Res.IP)
		}()
	}
	wg.Wait()
	if len(order) == 0 {
		return 0
	}
	packets := map[*batch]int{}
	all := 0
	for _, b := range order {
		for _, t := range b.targets {
			if t.res.Code == probe.OK {
				n := t.s.Count * (1 + t.pathLimit())
				packets[b] += n
				all += n
			}
		}
	}
	var mu sync.Mutex
	started := 0
	for _, b := range order {
		b.rate = float64(r.cfg.MaxPacketRate)
		if all > 0 {
			b.rate = max(1, b.rate*float64(packets[b])/float64(all))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.run(ctx) {
				mu.Lock()
				started++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The next round's path probes stop at the distance this one found.
	for i := range results {
		if p := results[i].Path; p != nil && p.Ended {
			r.pathHops[i] = p.HopCount
		} else {
			r.pathHops[i] = 0
		}
	}
	return started
}
