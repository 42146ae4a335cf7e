// Package site24x7 is the Site24x7 Linux agent front end: one round against one
// host, printed as the agent's plugin JSON.
package site24x7

import (
	"context"
	"errors"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// stopGrace is how long Main waits for the round to return after the
// deadline before printing the timeout anyway: the JSON must come out even
// if a probe does not stop when told.
const stopGrace = 2 * time.Second

// Main runs the Site24x7 mode with the command-line arguments after the
// program name and returns the exit status. The agent reads stdout only and
// a non-zero exit hides the reason, so every failure, configuration errors
// included, is JSON with status 0 and a msg, and the exit status is 0. The
// one exception is a command that asks for a second mode (--once, --otlp):
// the JSON still says why, and the exit status is 2 as in the other modes,
// since it is the command, not the monitor's settings, that is wrong.
func Main(args []string, stdout, stderr io.Writer) int {
	opts, cfg, err := parseArgs(args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	log := logger.New(stderr, opts.Debug)
	status := 0
	var modeErr *modeError
	if errors.As(err, &modeErr) {
		status = 2
	}
	var obj object
	if err != nil {
		obj = down(opts.Header, "invalid configuration: "+joinErrors(err))
	} else {
		obj = run(opts, cfg, log)
	}
	if msg, ok := obj.get(keyMsg); ok {
		// For a person running the command by hand; the agent ignores stderr.
		log.Errorf("%s: %v", opts.Host, msg)
	}
	b, err := marshal(obj)
	if err != nil { // only unencodable floats could do this; none are produced
		log.Errorf("encoding the result: %v", err)
		return 1
	}
	if _, err := stdout.Write(append(b, '\n')); err != nil {
		log.Errorf("writing the result: %v", err)
		return 1
	}
	return status
}

// run probes the host once within the deadline.
func run(opts Options, cfg *config.Config, log *logger.Logger) object {
	// The agent may stop a plugin with a signal; the JSON still says why.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.Deadline)
	defer cancel()
	results, ctxErr := runRound(ctx, core.New(cfg, log), stopGrace)
	return report(opts, results, ctxErr, log)
}

// report is the JSON of a run's outcome. When the probe measured a path it
// compares the path with the previous run's and keeps it for the next: a
// failure there is logged and reports the path as unchanged, never the
// run as failed.
func report(opts Options, results []probe.Result, stop error, log *logger.Logger) object {
	changed := false
	if len(results) > 0 && results[0].Code == probe.OK && results[0].Path != nil {
		r := &results[0]
		var err error
		changed, err = rememberPath(r.Target, r.Protocol, r.Port, r.Path.ID)
		if err != nil {
			log.Warnf("%s: path changed is 0 in this run, as the previous run's path cannot be compared: %v "+
				"(the path is kept in $XDG_CACHE_HOME/hping3-plugin, or ~/.cache/hping3-plugin, which the agent's user must be able to write)", opts.Host, err)
		}
	}
	return render(opts.Header, results, stop, opts.Deadline, changed)
}

// runner is the part of core.Runner this mode uses.
type runner interface {
	Run(ctx context.Context) core.Report
}

// runRound runs one round and returns its results and the context's error
// (nil when the round finished on its own). Once ctx ends the round gets
// grace to return; after that the results are given up (nil).
func runRound(ctx context.Context, r runner, grace time.Duration) ([]probe.Result, error) {
	done := make(chan core.Report, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case rd := <-done:
		return rd.Results, ctx.Err()
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case rd := <-done:
		return rd.Results, ctx.Err()
	case <-t.C:
		return nil, ctx.Err()
	}
}

// joinErrors puts every problem of an errors.Join into one msg line.
func joinErrors(err error) string {
	var parts []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		parts = append(parts, e.Error())
	}
	walk(err)
	return strings.Join(parts, "; ")
}
