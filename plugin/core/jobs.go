package core

import (
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// job is one probe of a configuration: one target of one group, and so
// one protocol, port and set of tags. Its index is the index of its result
// in every report, and of its failure state (failureLog).
type job struct {
	group  int
	target string
}

// jobsOf lists cfg's jobs in configuration order. Duplicate targets in a
// group are probed once, with a warning.
func jobsOf(cfg *config.Config, log *logger.Logger) []job {
	var jobs []job
	for gi, g := range cfg.Groups {
		seen := map[string]bool{}
		for _, t := range g.Targets {
			if seen[t] {
				log.Warnf("target %q is listed twice in the same group; probing it once", t)
				continue
			}
			seen[t] = true
			jobs = append(jobs, job{group: gi, target: t})
		}
	}
	return jobs
}
