package core

import (
	"fmt"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// engineChoice is how one group's targets are probed.
type engineChoice struct {
	tcl bool
	bin string // the hping3 that runs the Tcl engine
}

// chooseEngines decides, once at start, which engine each group uses, and
// says so in one I! line per hping3 binary. "auto" takes the Tcl engine
// when the group's hping3 has hping3's Tcl API.
//
// known holds the choices already made for some binaries (by the setup a
// reload replaces): each is kept, without trying hping3 or logging again.
func chooseEngines(cfg *config.Config, log *logger.Logger, known map[string]engineChoice) []engineChoice {
	out := make([]engineChoice, len(cfg.Groups))
	decided := map[string]engineChoice{}
	for bin, c := range known {
		decided[bin] = c
	}
	for i, g := range cfg.Groups {
		bin, err := hping3.Binary(g.Settings.HPing3)
		if err != nil {
			// The CLI engine reports the missing binary on every target.
			continue
		}
		if c, ok := decided[bin]; ok {
			out[i] = c
			continue
		}
		c := engineChoice{bin: bin}
		switch cfg.Engine {
		case config.EngineCLI:
			log.Infof("engine cli: one hping3 process per target (engine = \"cli\"), at most concurrency at once")
		case config.EngineTcl:
			c.tcl = true
			log.Infof("engine tcl: one %s exec process probes every target of a round (engine = \"tcl\")", bin)
		default:
			if err := tcl.Available(bin); err != nil {
				log.Infof("engine cli: one hping3 process per target, because %s cannot run the Tcl engine: %v", bin, err)
			} else {
				c.tcl = true
				log.Infof("engine tcl: one %s exec process probes every target of a round (hping3's Tcl API is there)", bin)
			}
		}
		decided[bin] = c
		out[i] = c
	}
	return out
}

// continuousNeeds is nil when every group runs the Tcl engine, which
// continuous mode needs (one process sending for every target), else why
// not. A Source started so probes in rounds instead (NewSource); a reload
// to it is refused (Stream.Reload).
func continuousNeeds(engines []engineChoice) error {
	for gi, e := range engines {
		if !e.tcl {
			return fmt.Errorf("mode continuous needs the tcl engine (hping3's Tcl API), which inputs.hping3[%d] cannot use", gi)
		}
	}
	return nil
}

// engineProcess is what a session needs of the Tcl engine's process: a
// *tcl.Process, or a test's stand-in.
type engineProcess interface {
	Listen(iface, filter string) error
	Send(id int, p *packet.Probe) error
	Flush() error
	Sync(n int) error
	Events() <-chan []tcl.Event
	Err() error
	Unparsed() int
	Pid() int
	Close()
}

// startProcess starts the engine process of an hping3 binary.
type startProcess func(bin string) (engineProcess, error)

// startTcl starts the real engine process, `hping3 exec` with the
// embedded script.
func startTcl(bin string) (engineProcess, error) {
	p, err := tcl.Start(bin)
	if err != nil {
		return nil, err
	}
	return p, nil
}
