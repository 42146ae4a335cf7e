package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// dnsParallel bounds concurrent name lookups; they hold no hping3 slot.
const dnsParallel = 64

// errStopping is why a probe that the plugin's stop cut short failed.
var errStopping = errors.New("probe cancelled: the plugin is stopping")

// shared is what a plugin process keeps whatever its configuration, and
// every session of either mode uses: how engine processes start, its own
// kernel-stamped captures, its probes' identifiers, the resolver and the
// log.
type shared struct {
	log      *logger.Logger
	start    startProcess
	tap      *wireTap // the plugin's own captures; nil: hping3's
	ids      *identity
	resolver probe.Resolver
	portWarn portWarnings
}

// setup is one configuration made ready to probe, the state the rounds
// Runner and the continuous Stream both hold: its jobs, each group's
// engine, the failure memory and the bound on lookups, with what the
// process shares.
type setup struct {
	*shared
	cfg     *config.Config
	jobs    []job
	engines []engineChoice // per group
	// tags are each group's (config.Tags), made once: every target of
	// the group shares them (with a vantage or a setting's tag, a map
	// per target held 3.4 MB at 10,000 targets).
	tags     []map[string]string
	failures *failureLog   // each job's failure, from report to report
	lookups  chan struct{} // bounds concurrent name lookups
}

// newSetup makes a validated configuration ready to probe, with a new
// process-wide state: the engines are chosen (and said) now.
func newSetup(cfg *config.Config, log *logger.Logger) *setup {
	return configure(cfg, &shared{log: log, start: startTcl, tap: newWireTap(log), ids: newIdentity(), resolver: net.DefaultResolver}, nil)
}

// configure is cfg made ready with sh, the engines already chosen for some
// hping3 binaries (known) neither tried nor told again.
func configure(cfg *config.Config, sh *shared, known map[string]engineChoice) *setup {
	log := sh.log
	st := &setup{shared: sh, cfg: cfg, jobs: jobsOf(cfg, log), lookups: make(chan struct{}, dnsParallel)}
	st.engines = chooseEngines(cfg, log, known)
	for gi := range cfg.Groups {
		st.tags = append(st.tags, cfg.Tags(gi))
	}
	for gi, g := range cfg.Groups {
		// (No binary at all: every target says so already.)
		if g.Settings.Path && !st.engines[gi].tcl && st.engines[gi].bin != "" {
			log.Warnf("path = true: the targets of table %d are probed without their path, because the cli engine cannot send path probes (docs/paths.md)", gi+1)
		}
	}
	st.failures = newFailureLog(log, cfg, st.jobs)
	return st
}

// renew makes cfg ready to probe in st's place (a reload), keeping what
// the process shares; it refuses a configuration of another mode, since a
// Stream and a Runner are different sources and the front end's schedule
// depends on which. The engine each hping3 runs is kept while the engine
// setting is: a reload tries no hping3 again (and says nothing of it
// again).
func (st *setup) renew(cfg *config.Config) (*setup, error) {
	if st.cfg.Mode != cfg.Mode {
		return nil, fmt.Errorf("mode changed from %q to %q: a restart applies it", st.cfg.Mode, cfg.Mode)
	}
	known := map[string]engineChoice{}
	for _, e := range st.engines {
		if e.bin != "" && cfg.Engine == st.cfg.Engine {
			known[e.bin] = e
		}
	}
	return configure(cfg, st.shared, known), nil
}

// lookup resolves name within s's dns_timeout, at most dnsParallel at
// once. An error means ctx ended first.
func (st *setup) lookup(ctx context.Context, name string, s config.Settings) (probe.Resolution, error) {
	if res, ok := probe.Literal(name); ok {
		return res, ctx.Err()
	}
	select {
	case st.lookups <- struct{}{}:
	case <-ctx.Done():
		return probe.Resolution{}, ctx.Err()
	}
	res := probe.Resolve(ctx, st.resolver, name, s.DNSTimeout)
	<-st.lookups
	return res, ctx.Err()
}

// newTarget is the Tcl engine's target of job i, without path probes.
func (st *setup) newTarget(i int) *target {
	j := st.jobs[i]
	return &target{index: i, name: j.target, s: &st.cfg.Groups[j.group].Settings, tags: st.tags[j.group]}
}

// bin is the hping3 binary that probes t.
func (st *setup) bin(t *target) string { return st.engines[st.jobs[t.index].group].bin }

// identify names t across configurations: its name, settings, tags and
// the hping3 that probes it. A target whose name stays keeps its packets
// in flight and its window; any other is a new target.
func (st *setup) identify(t *target) string {
	return fmt.Sprintf("%q %#v %v %q", t.name, *t.s, t.tags, st.bin(t))
}

// unprobed is the Result of a probe that sent nothing: a lookup that
// failed, or a stop that came before it started (err).
func unprobed(t probe.Target, s config.Settings, err error) probe.Result {
	if err != nil {
		t.Res = probe.Resolution{IP: t.Res.IP, DNS: t.Res.DNS, Code: probe.Failed, Err: err}
	}
	r := probe.NewResult(t, s, time.Now())
	r.Duration = t.Res.DNS
	return r
}

// rateShare is an engine process's share of max_packet_rate (packets/s):
// in proportion to its packets (of all), at least one packet a second.
func rateShare(maxRate, packets, all int) float64 {
	if all == 0 {
		return float64(maxRate)
	}
	return max(1, float64(maxRate)*float64(packets)/float64(all))
}
