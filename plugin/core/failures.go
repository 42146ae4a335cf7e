package core

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Failure logging. A dead target fails every round, and a line per failing
// target per round buries everything else: 1000 dead targets at a 10 s poll
// would write 1000 lines every 10 s. So the log tells changes only; the
// metrics still carry every failure, every round, in result_code.
//
// The setup remembers, for each probe of the configuration (a job: one
// target of one group, and so one protocol and port; the index of its
// Result), the reason of its last failure, "" while it works. After each
// round (not one a stop cut short: its results only say "cancelled"):
//
//   - a probe that starts failing logs E! `target "X": REASON`, the line a
//     failure always had;
//   - a failing probe whose reason is no longer the same text logs E!
//     again, with the new reason and the old one;
//   - a failing probe that works again logs I!, with the number of rounds it
//     failed and its last reason. (Working means result_code 0: a probe
//     with 100% loss ran and measured.)
//   - A probe that keeps failing for the same reason logs nothing.
//
// When more than burstLimit probes make the same change in one round (many
// start failing when a link or the DNS goes away, many recover when it
// comes back), the first burstShown of them in configuration order are
// logged one by one and then one summary line gives how many made that
// change and the most common reason among them, so a round logs at most 33
// such lines however many targets it has. Up to burstLimit are still each
// logged: a configuration with a dozen mistyped or impossible targets shows
// every one of them. The first round of a process is the first round for
// every probe: --once and the Site24x7 mode log each failing target, or the
// summary when there are many.
//
// Memory: one string and one count per configured probe, nothing per round.
const (
	burstLimit = 20
	burstShown = 10
)

// failState is what the setup remembers of one probe between reports.
type failState struct {
	reason string // of its last failure; "" while it works
	rounds int    // consecutive failed rounds
}

// failureLog holds the failure state of every job of a setup.
type failureLog struct {
	log    *logger.Logger
	labels []string // how the log names each job
	state  []failState
}

func newFailureLog(log *logger.Logger, cfg *config.Config, jobs []job) *failureLog {
	f := &failureLog{log: log, labels: make([]string, len(jobs)), state: make([]failState, len(jobs))}
	groups := map[string]int{} // groups a target name is in
	for _, j := range jobs {
		groups[j.target]++
	}
	for i, j := range jobs {
		f.labels[i] = strconv.Quote(j.target)
		if groups[j.target] > 1 {
			// The same name in two tables is two probes (another protocol
			// or port, other tags): say which one.
			s := cfg.Groups[j.group].Settings
			desc := string(s.Protocol)
			if s.Protocol != config.ICMP {
				desc += " port " + strconv.Itoa(s.Port)
			}
			f.labels[i] += fmt.Sprintf(" (inputs.hping3[%d], %s)", j.group, desc)
		}
	}
	return f
}

// change is one probe's change of state in a round.
type change struct {
	job    int
	reason string // the new reason; "" for a recovery
	before failState
}

// record logs what changed between the last round and this one, whose
// results are in job order.
func (f *failureLog) record(results []probe.Result) {
	var started, changed, recovered []change
	for i := range results {
		res := &results[i]
		reason := ""
		if res.Code != probe.OK {
			reason = reasonOf(res)
		}
		st := &f.state[i]
		c := change{job: i, reason: reason, before: *st}
		switch {
		case reason == "" && st.reason != "":
			recovered = append(recovered, c)
		case reason != "" && st.reason == "":
			started = append(started, c)
		case reason != "" && reason != st.reason:
			changed = append(changed, c)
		}
		if reason == "" {
			*st = failState{}
		} else {
			st.reason = reason
			st.rounds++
		}
	}
	for _, c := range shown(started) {
		f.log.Errorf("target %s: %s", f.labels[c.job], c.reason)
	}
	f.summarize(results, started, "%d targets started failing in this round (the first %d are logged above); the most common reason")
	for _, c := range shown(changed) {
		f.log.Errorf("target %s: %s (the reason changed; until now: %s)", f.labels[c.job], c.reason, c.before.reason)
	}
	f.summarize(results, changed, "%d failing targets changed reason in this round (the first %d are logged above); the most common new reason")
	for _, c := range shown(recovered) {
		f.log.Infof("target %s works again (failed rounds in a row: %d; the last reason: %s)", f.labels[c.job], c.before.rounds, c.before.reason)
	}
	if len(recovered) > burstLimit {
		f.log.Infof("%d targets recovered in this round (the first %d are logged above)", len(recovered), burstShown)
	}
}

// summarize ends a burst of failures (more than burstLimit changes of one
// kind) with one E! line: what (with the burst's size and burstShown),
// then how many share the most common reason, and that reason.
func (f *failureLog) summarize(results []probe.Result, cs []change, what string) {
	if len(cs) <= burstLimit {
		return
	}
	n, eg := f.commonest(results, cs)
	f.log.Errorf(what+", for %d of them, is that of target %s: %s", len(cs), burstShown, n, f.labels[eg.job], eg.reason)
}

// shown returns the changes logged one by one: all of them, or the first
// burstShown of a burst.
func shown(cs []change) []change {
	if len(cs) > burstLimit {
		return cs[:burstShown]
	}
	return cs
}

// commonest returns how many of cs share the most common reason, and the
// first of them. Reasons name their target ("x" did not resolve), so they
// are compared with the target's name masked; ties go to the reason met
// first in configuration order.
func (f *failureLog) commonest(results []probe.Result, cs []change) (int, change) {
	count := map[string]int{}
	first := map[string]change{}
	best := ""
	for _, c := range cs {
		k := masked(c.reason, results[c.job].Target)
		count[k]++
		if _, ok := first[k]; !ok {
			first[k] = c
		}
		if best == "" || count[k] > count[best] {
			best = k
		}
	}
	return count[best], first[best]
}

// masked is reason without its target's name, as the probe quotes it (in
// full, or cut to 80 characters for an invalid one).
func masked(reason, target string) string {
	const mark = "\x00"
	reason = strings.ReplaceAll(reason, strconv.Quote(target), mark)
	return strings.ReplaceAll(reason, fmt.Sprintf("%.80q", target), mark)
}

// reasonOf is the text a failed result is logged with.
func reasonOf(res *probe.Result) string {
	if res.Err != nil && res.Err.Error() != "" {
		return res.Err.Error()
	}
	// Every failure carries its error; this keeps a bug from logging
	// nothing, or from reading as recovered.
	return fmt.Sprintf("result_code %d", res.Code)
}
