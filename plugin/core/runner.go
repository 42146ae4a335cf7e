package core

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Runner is the Source of mode rounds, and what --once and --site24x7 run:
// every report is a round, every target probed count times. A Runner runs
// one round at a time; front ends never overlap rounds. A reload takes
// effect at the next round. It logs a target's failure when it starts,
// changes or ends, not every round (failures.go).
type Runner struct {
	mu        sync.Mutex // guards the configuration of the moment
	st        *setup
	cli       *cliScheduler
	hopCounts []int // per job: the hop count of its path the last round found (path = true)
}

// New returns a Runner for a validated configuration.
func New(cfg *config.Config, log *logger.Logger) *Runner {
	return newRunner(newSetup(cfg, log))
}

func newRunner(st *setup) *Runner {
	r := &Runner{}
	r.configure(st)
	return r
}

// configure makes st the configuration of the next round. Called with
// r.mu held, or before r is shared.
func (r *Runner) configure(st *setup) {
	r.st, r.cli, r.hopCounts = st, newCLIScheduler(st.cfg), make([]int, len(st.jobs))
}

// Next runs one round: Run, as a Source.
func (r *Runner) Next(ctx context.Context) Report { return r.Run(ctx) }

// Targets returns the number of distinct probes the next round runs.
func (r *Runner) Targets() int { return len(r.current().jobs) }

// current is the configuration of the next round: a reload replaces it.
func (r *Runner) current() *setup {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Close does nothing: a Runner keeps nothing running between rounds.
func (r *Runner) Close() {}

// Continuous is false: a Runner's reports are rounds.
func (r *Runner) Continuous() bool { return false }

// Reload makes cfg the configuration of the next round; a round running
// ends with the old one.
func (r *Runner) Reload(cfg *config.Config) error {
	// Made ready outside the lock: choosing the engine of a new hping3
	// binary runs it, and a round starting meanwhile need not wait.
	st, err := r.current().renew(cfg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.configure(st)
	return nil
}

// Run probes every target once and returns when all are done or ctx ends;
// every target gets a Result either way (a cancelled probe has Code Failed).
func (r *Runner) Run(ctx context.Context) Report {
	r.mu.Lock()
	st, cli, hopCounts := r.st, r.cli, r.hopCounts
	r.mu.Unlock()
	rd := Report{Start: time.Now(), Results: make([]probe.Result, len(st.jobs)), Vantage: st.cfg.Vantage}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		processes int
	)
	// The Tcl engine's targets first, all at once; then the CLI engine's,
	// so that the two never share the packet rate.
	processes += runTcl(ctx, st, hopCounts, rd.Results)
	for i, j := range st.jobs {
		if st.engines[j.group].tcl {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, ran := runCLI(ctx, st, cli, j)
			rd.Results[i] = res
			if ran {
				mu.Lock()
				processes++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rd.Processes = processes
	rd.Duration = time.Since(rd.Start)
	rd.CaptureDrops = st.tap.takeDrops()
	rd.tally()
	if ctx.Err() == nil {
		st.failures.record(rd.Results)
	}
	return rd
}

// runTcl resolves and probes every Tcl-engine target into results: one
// engine process per hping3 binary, all at once, sharing the packet rate in
// proportion to their packets. Each target's path probes stop at the hop
// count the previous round found (hopCounts, which it updates). It returns
// the processes started.
func runTcl(ctx context.Context, st *setup, hopCounts []int, results []probe.Result) int {
	byBin := map[string]*tclRound{}
	var parts []*tclRound
	var wg sync.WaitGroup
	for i, j := range st.jobs {
		ec := st.engines[j.group]
		if !ec.tcl {
			continue
		}
		part := byBin[ec.bin]
		if part == nil {
			part = newTclRound(ec.bin, st.shared)
			byBin[ec.bin] = part
			parts = append(parts, part)
		}
		t := st.newTarget(i)
		part.targets = append(part.targets, t)
		part.results = append(part.results, &results[i])
		resolved := func(res probe.Resolution, err error) {
			tg := probe.Target{Name: t.name, Tags: t.tags, Res: res}
			if err != nil {
				results[i] = unprobed(tg, *t.s, errStopping)
			} else {
				results[i] = probe.NewResult(tg, *t.s, time.Now())
			}
			t.res = res
			t.res.Code = results[i].Code
		}
		if res, literal := probe.Literal(t.name); literal {
			// No lookup to wait for: a goroutine each cost 10,000
			// literal targets about 50 ms.
			resolved(res, ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resolved(st.lookup(ctx, t.name, *t.s))
		}()
	}
	wg.Wait()
	if len(parts) == 0 {
		return 0
	}
	packets := map[*tclRound]int{}
	all := 0
	for _, part := range parts {
		for _, t := range part.targets {
			if t.res.Code != probe.OK {
				continue
			}
			t.addHops(pathLimit(t, hopCounts[t.index]))
			t.knownHops = hopCounts[t.index]
			n := t.s.Count * (1 + len(t.hops))
			packets[part] += n
			all += n
		}
	}
	var mu sync.Mutex
	started := 0
	for _, part := range parts {
		part.sched.rate = rateShare(st.cfg.MaxPacketRate, packets[part], all)
		part.sched.ahead = roundAhead(part.targets)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if part.runRound(ctx) {
				mu.Lock()
				started++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, part := range parts {
		for i, t := range part.targets {
			hopCounts[t.index] = 0
			if p := part.results[i].Path; p != nil && p.Ended {
				hopCounts[t.index] = p.HopCount
			}
		}
	}
	return started
}

// runCLI resolves and probes one target of the CLI engine, one hping3
// process of its own; ran tells whether hping3 started.
func runCLI(ctx context.Context, st *setup, cli *cliScheduler, j job) (probe.Result, bool) {
	g := st.cfg.Groups[j.group]
	s := g.Settings
	t := probe.Target{Name: j.target, Tags: st.tags[j.group]}

	var err error
	if t.Res, err = st.lookup(ctx, j.target, s); err != nil {
		return unprobed(t, s, errStopping), false
	}
	if t.Res.Code != probe.OK {
		return unprobed(t, s, nil), false // a Result carrying the lookup failure
	}
	if why := s.CLIRefuses(); why != "" {
		// engine "auto" fell back to the CLI engine at run time (validation
		// refuses these settings with engine "cli"): the target fails,
		// rather than report replies past 1s as lost.
		return unprobed(t, s, fmt.Errorf("%s, and %s has no Tcl API (engine auto fell back to cli)", why, st.engines[j.group].bin)), false
	}
	slot, err := cli.acquire(ctx, j.group, t.Res.IP, s)
	if err != nil {
		return unprobed(t, s, errStopping), false
	}
	defer slot.release()
	if st.log.DebugEnabled() {
		st.log.Debugf("probing %q (%s) with source ports %d..%d", j.target, t.Res.IP, slot.basePort, slot.basePort+s.Count-1)
	}
	res := probe.Run(ctx, t, s, slot.basePort)
	if st.log.DebugEnabled() && len(res.Argv) > 0 {
		st.log.Debugf("target %q: ran %s", j.target, strings.Join(res.Argv, " "))
	}
	return res, res.Ran
}
