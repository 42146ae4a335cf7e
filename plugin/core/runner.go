package core

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Runner runs rounds for one configuration. A Runner runs one round at a
// time; front ends never overlap rounds. It logs a target's failure when it
// starts, changes or ends, not every round (failures.go).
type Runner struct {
	cfg       *config.Config
	log       *logger.Logger
	resolver  probe.Resolver
	lookups   chan struct{} // bounds concurrent name lookups
	jobs      []job
	cli       *cliScheduler
	engines   []engineChoice // per group
	start     startEngine    // starts a Tcl engine process
	clock     *kernelClock   // the plugin's own captures; nil: hping3's
	ids       *identity
	failures  *failureLog // each job's failure, from round to round
	hopCounts []int       // per job: the hop count of its path the last round found (path = true)
}

// dnsParallel bounds concurrent name lookups; they hold no hping3 slot.
const dnsParallel = 64

type job struct {
	group  int
	target string
}

// New returns a Runner for a validated configuration. Duplicate targets in
// a group are probed once, with a warning.
func New(cfg *config.Config, log *logger.Logger) *Runner {
	return newRunner(cfg, log, nil)
}

// newRunner is New, with the engines already chosen for some hping3
// binaries (a reload's Runner): those are neither tried nor told again.
func newRunner(cfg *config.Config, log *logger.Logger, known map[string]engineChoice) *Runner {
	r := &Runner{cfg: cfg, log: log, resolver: net.DefaultResolver, lookups: make(chan struct{}, dnsParallel), start: startTcl,
		clock: newKernelClock(log)}
	for gi, g := range cfg.Groups {
		seen := map[string]bool{}
		for _, t := range g.Targets {
			if seen[t] {
				log.Warnf("target %q is listed twice in the same group; probing it once", t)
				continue
			}
			seen[t] = true
			r.jobs = append(r.jobs, job{group: gi, target: t})
		}
	}
	r.cli = newCLIScheduler(cfg)
	r.engines = chooseEngines(cfg, log, known)
	for gi, g := range cfg.Groups {
		// (No binary at all: every target says so already.)
		if g.Settings.Path && !r.engines[gi].tcl && r.engines[gi].bin != "" {
			log.Warnf("path = true: the targets of table %d are probed without their path, because the cli engine cannot send path probes (docs/paths.md)", gi+1)
		}
	}
	r.hopCounts = make([]int, len(r.jobs))
	r.ids = newIdentity()
	r.failures = newFailureLog(log, cfg, r.jobs)
	return r
}

// Targets returns the number of distinct probes a round runs.
func (r *Runner) Targets() int { return len(r.jobs) }

// Run probes every target once and returns when all are done or ctx ends;
// every target gets a Result either way (a cancelled probe has Code Failed).
func (r *Runner) Run(ctx context.Context) Report {
	rd := Report{Start: time.Now(), Results: make([]probe.Result, len(r.jobs)), Vantage: r.cfg.Vantage}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		processes int
	)
	// The Tcl engine's targets first, all at once; then the CLI engine's,
	// so that the two never share the packet rate.
	processes += r.runTcl(ctx, rd.Results)
	for i, j := range r.jobs {
		if r.engines[j.group].tcl {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, ran := r.probe(ctx, j)
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
	rd.CaptureDrops = r.clock.takeDrops()
	rd.tally()
	if ctx.Err() == nil {
		r.failures.record(rd.Results)
	}
	return rd
}

// runTcl resolves and probes every Tcl-engine target into results: one
// engine process per hping3 binary, all at once, sharing the packet rate in
// proportion to their packets. It returns the processes started.
func (r *Runner) runTcl(ctx context.Context, results []probe.Result) int {
	rounds := map[string]*tclRound{}
	var order []*tclRound
	var wg sync.WaitGroup
	for i, j := range r.jobs {
		ec := r.engines[j.group]
		if !ec.tcl {
			continue
		}
		rd := rounds[ec.bin]
		if rd == nil {
			rd = newTclRound(ec.bin, r.start, r.clock, r.log, r.ids)
			rounds[ec.bin] = rd
			order = append(order, rd)
		}
		t := r.newTarget(i)
		rd.targets = append(rd.targets, t)
		rd.results = append(rd.results, &results[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.lookup(ctx, t.name, t.s)
			tg := probe.Target{Name: t.name, Tags: t.tags, Res: res}
			if err != nil {
				results[i] = cancelled(tg, t.s)
			} else {
				results[i] = probe.NewResult(tg, t.s, time.Now())
			}
			t.res = res
			t.res.Code = results[i].Code
		}()
	}
	wg.Wait()
	if len(order) == 0 {
		return 0
	}
	packets := map[*tclRound]int{}
	all := 0
	for _, rd := range order {
		for _, t := range rd.targets {
			if t.res.Code != probe.OK {
				continue
			}
			// The next round's path probes stop at the hop count this one
			// found.
			for h := 1; h <= pathLimit(t, r.hopCounts[t.job]); h++ {
				t.addHop(h)
			}
			n := t.s.Count * (1 + len(t.hops))
			packets[rd] += n
			all += n
		}
	}
	var mu sync.Mutex
	started := 0
	for _, rd := range order {
		rate := float64(r.cfg.MaxPacketRate)
		if all > 0 {
			rate = max(1, rate*float64(packets[rd])/float64(all))
		}
		rd.pace = newPacer(rate, sendAhead)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rd.probe(ctx) {
				mu.Lock()
				started++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, rd := range order {
		for i, t := range rd.targets {
			r.hopCounts[t.job] = 0
			if p := rd.results[i].Path; p != nil && p.Ended {
				r.hopCounts[t.job] = p.HopCount
			}
		}
	}
	return started
}

// probe resolves and probes one target; ran tells whether hping3 started.
func (r *Runner) probe(ctx context.Context, j job) (probe.Result, bool) {
	g := r.cfg.Groups[j.group]
	s := g.Settings
	t := probe.Target{Name: j.target, Tags: r.cfg.Tags(j.group)}

	var err error
	if t.Res, err = r.lookup(ctx, j.target, s); err != nil {
		return cancelled(t, s), false
	}
	if t.Res.Code != probe.OK {
		return probe.Run(ctx, t, s, 0), false // a Result carrying the lookup failure
	}
	slot, err := r.cli.acquire(ctx, j.group, key(t.Res.IP), s)
	if err != nil {
		return cancelled(t, s), false
	}
	defer slot.release()
	if r.log.DebugEnabled() {
		r.log.Debugf("probing %q (%s) with source ports %d..%d", j.target, t.Res.IP, slot.basePort, slot.basePort+s.Count-1)
	}
	res := probe.Run(ctx, t, s, slot.basePort)
	if r.log.DebugEnabled() && len(res.Argv) > 0 {
		r.log.Debugf("target %q: ran %s", j.target, strings.Join(res.Argv, " "))
	}
	return res, res.Ran
}

// key identifies what two hping3 instances must never probe at once. Two
// instances on one target:port read each other's replies, and any two on
// one host read each other's ICMP errors (hping3 shows every error that
// quotes the target), so it is the host.
func key(ip string) string { return ip }

// cancelled is the Result of a probe the round's end stopped before it
// started hping3.
func cancelled(t probe.Target, s config.Settings) probe.Result {
	t.Res = probe.Resolution{IP: t.Res.IP, DNS: t.Res.DNS, Code: probe.Failed, Err: errors.New("probe cancelled: the plugin is stopping")}
	return probe.Run(context.Background(), t, s, 0)
}

// lookup resolves name within s's dns_timeout, at most dnsParallel at
// once. An error means ctx ended first.
func (r *Runner) lookup(ctx context.Context, name string, s config.Settings) (probe.Resolution, error) {
	select {
	case r.lookups <- struct{}{}:
	case <-ctx.Done():
		return probe.Resolution{}, ctx.Err()
	}
	res := probe.Resolve(ctx, r.resolver, name, s.DNSTimeout)
	<-r.lookups
	return res, ctx.Err()
}

// newTarget is the Tcl engine's target of job i.
func (r *Runner) newTarget(i int) *target {
	j := r.jobs[i]
	return &target{job: i, name: j.target, s: r.cfg.Groups[j.group].Settings, tags: r.cfg.Tags(j.group)}
}
