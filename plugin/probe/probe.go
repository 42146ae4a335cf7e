package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
)

// glitchSlack absorbs scheduling noise when checking that a reply's rtt
// fits between its packet's earliest send time and its arrival.
const glitchSlack = 50 * time.Millisecond

// Target is a resolved target ready to probe.
type Target struct {
	Name string // as configured
	Res  Resolution
	Tags map[string]string
}

// NewResult is the Result of t before anything is measured: its name,
// address, tags and the outcome of its lookup.
func NewResult(t Target, s config.Settings, start time.Time) Result {
	r := Result{
		Target: t.Name, IP: t.Res.IP, Protocol: s.Protocol, Tags: t.Tags,
		Code: t.Res.Code, Err: t.Res.Err, DNS: t.Res.DNS, TTL: -1, Start: start,
	}
	if s.Protocol != config.ICMP {
		r.Port = s.Port
	}
	return r
}

// Run probes one resolved target with hping3 using source ports from
// basePort, and returns its Result. It never returns without a Result.
func Run(ctx context.Context, t Target, s config.Settings, basePort int) (res Result) {
	start := time.Now()
	r := NewResult(t, s, start)
	defer func() { res.Duration = time.Since(start) + res.DNS }()
	if r.Code != OK {
		return r
	}
	fail := func(err error) Result {
		r.Code, r.Err = Failed, err
		return r
	}
	bin, err := hping3.Binary(s.HPing3)
	if err != nil {
		return fail(err)
	}
	args, err := hping3.Args(s, r.IP, basePort)
	if err != nil {
		return fail(err)
	}
	r.Argv = append([]string{bin}, args...)
	ex, err := hping3.Execute(ctx, bin, args, hping3.NewPlan(s))
	if ex != nil {
		r.Ran = true
		r.Argv = ex.Argv
		r.Start = ex.Start
	}
	if err != nil {
		return fail(fmt.Errorf("running %s: %w", bin, err))
	}
	if err := ex.Failure(); err != nil {
		return fail(err)
	}
	sum := ex.Summary
	measureReplies(&r, ex, sum, s)
	switch {
	// Nothing sent, or nothing given its timeout, measures nothing: 0%
	// loss would be a lie.
	case sum.Transmitted == 0:
		return fail(fmt.Errorf("hping3 sent no packet (exit status %d)", ex.ExitCode))
	case r.Transmitted == 0:
		return fail(fmt.Errorf("hping3 stopped before any of its %d packets had its %v timeout (it counts ICMP errors and duplicates as replies): nothing to measure", sum.Transmitted, s.Timeout))
	}
	return r
}
