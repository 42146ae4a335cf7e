package core

import (
	"os"
	"runtime"
)

// OneProcessor runs the Go scheduler on one processor unless GOMAXPROCS is
// set. One is plenty for the plugin's own work (pacing, matching,
// encoding); with more, the scheduler spins between the many short
// wake-ups a round of packets brings: at 1000 targets one processor cut
// the plugin's CPU by about a third (docs/engines.md). The plugin binary
// and the benchmark's worker call it first thing.
func OneProcessor() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
