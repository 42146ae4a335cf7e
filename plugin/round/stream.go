package round

import (
	"context"
)

// Stream is the Source of mode continuous: the Tcl engine runs for the
// life of the process and probes every target all the time. (Being built:
// until then it runs rounds.)
type Stream struct {
	r *Runner
}

func newStream(r *Runner) *Stream { return &Stream{r: r} }

// Next returns the window since the previous call.
func (s *Stream) Next(ctx context.Context) Round { return s.r.Run(ctx) }

// Targets is the number of probes.
func (s *Stream) Targets() int { return s.r.Targets() }

// Close stops the engine.
func (s *Stream) Close() {}
