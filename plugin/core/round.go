// Package core is the plugin's core, shared by every front end: it runs one
// round (every target of every group probed once, in parallel within bounds
// that keep hping3's measurements true), logs the targets' failures as they
// change from round to round, and holds the poll schedule of the front ends
// that run a round every poll_interval.
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

// Report is the outcome of one round, or in continuous mode (Window) of one
// window: every packet decided since the previous report.
type Report struct {
	Start     time.Time      // when the round (window) began; the timestamp of its lines
	Duration  time.Duration  // wall time of the whole round (the window's length)
	Results   []probe.Result // one per distinct target, in configuration order
	Processes int            // hping3 processes started
	Failures  int            // results whose Code is not probe.OK

	// Window is true for a continuous window: Results cover exactly the
	// packets decided in [Start, Start+Duration), each counted in one
	// window only, so sums over windows are the totals.
	Window bool
	// Packets is the number of packets the results count as sent, path
	// probes included.
	Packets int
	// Restarts counts the engine restarts in the window (after a crash or
	// a hang; the packets then in flight are not counted, and the targets
	// that had some fail in this window with the reason).
	Restarts int
	// Vantage is the configured vantage, "" when none: the self-metrics
	// carry it as the results do.
	Vantage string
}

// tally counts rd's failures and the packets its results sent, path probes
// included: the same for a round and a window.
func (rd *Report) tally() {
	for i := range rd.Results {
		r := &rd.Results[i]
		if r.Code != probe.OK {
			rd.Failures++
		}
		rd.Packets += r.Transmitted
		if r.Path != nil {
			rd.Packets += r.Path.Sent
		}
	}
}

// Runner runs rounds for one configuration. A Runner runs one round at a
// time; front ends never overlap rounds. It logs a target's failure when it
// starts, changes or ends, not every round (failures.go).
type Runner struct {
	cfg      *config.Config
	log      *logger.Logger
	resolver probe.Resolver
	jobs     []job
	sched    *scheduler
	engines  []engineChoice // per group
	ids      *identity
	failures *failureLog // each job's failure, from round to round
	pathHops []int       // per job: the distance to its target the last round found (path = true)
}

type job struct {
	group  int
	target string
}

// New returns a Runner for a validated configuration. Duplicate targets in
// a group are probed once, with a warning.
func New(cfg *config.Config, log *logger.Logger) *Runner {
	r := &Runner{cfg: cfg, log: log, resolver: net.DefaultResolver}
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
	r.sched = newScheduler(cfg)
	r.engines = chooseEngines(cfg, log)
	for gi, g := range cfg.Groups {
		// (No binary at all: every target says so already.)
		if g.Settings.Path && !r.engines[gi].tcl && r.engines[gi].bin != "" {
			log.Warnf("path = true: the targets of table %d are probed without their path, because the cli engine cannot send path probes (docs/paths.md)", gi+1)
		}
	}
	r.pathHops = make([]int, len(r.jobs))
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
	processes += r.runBatches(ctx, rd.Results)
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
	rd.tally()
	if ctx.Err() == nil {
		r.failures.record(rd.Results)
	}
	return rd
}

// probe resolves and probes one target; ran tells whether hping3 started.
func (r *Runner) probe(ctx context.Context, j job) (probe.Result, bool) {
	g := r.cfg.Groups[j.group]
	s := g.Settings
	t := probe.Target{Name: j.target, Tags: r.cfg.Tags(j.group)}

	release, err := r.sched.acquireDNS(ctx)
	if err == nil {
		t.Res = probe.Resolve(ctx, r.resolver, j.target, s.DNSTimeout)
		release()
	}
	if err != nil || ctx.Err() != nil {
		return cancelled(t, s), false
	}
	if t.Res.Code != probe.OK {
		return probe.Run(ctx, t, s, 0), false // a Result carrying the lookup failure
	}
	slot, err := r.sched.acquire(ctx, j.group, key(t.Res.IP), s)
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
