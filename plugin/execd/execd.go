package execd

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// Options configure the long-running Telegraf mode.
type Options struct {
	Stdin        io.Reader      // a line here runs a round (signal = "STDIN"); EOF stops (continuous: after answering the requests read before it)
	Stdout       io.Writer      // line protocol, one write per round
	Log          *logger.Logger // stderr with Telegraf level prefixes
	PollInterval time.Duration  // > 0: also run a round this often (signal = "none")
}

// Once runs one round and writes its lines to out. A round cut short by ctx
// (SIGINT, SIGTERM) prints nothing: its results would only say "cancelled".
func Once(ctx context.Context, r *core.Runner, out io.Writer, log *logger.Logger) error {
	rd := r.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return writeRound(out, encode(rd, log))
}

// Encode returns a round's lines, one per result, stamped with the round's
// start time. A line the encoder refuses is still written, with its unsafe
// tags quoted (AppendResult).
func Encode(rd core.Report) []byte { return encode(rd, nil) }

// encode is Encode that logs each line the encoder refused as an E! line
// when log is not nil: the line is written anyway, but not as it should be.
func encode(rd core.Report, log *logger.Logger) []byte {
	var enc lineprotocol.Encoder
	enc.SetPrecision(lineprotocol.Nanosecond)
	for i := range rd.Results {
		if err := AppendResult(&enc, &rd.Results[i], rd.Start); err != nil && log != nil {
			log.Errorf("%v", err)
		}
	}
	return enc.Bytes()
}

// Run serves Telegraf's inputs.execd until ctx ends or stdin closes: a
// report per stdin line, per SIGHUP, SIGUSR1 or SIGUSR2 (Telegraf's signal
// modes), and every PollInterval when it is set (signal = "none"). A report
// is a round (mode rounds) or the window of packets decided since the
// previous report (mode continuous, a core.Stream). At stdin EOF a round
// is cut and not written; in mode continuous the requests read before EOF
// still get their windows, taken at once, before Run returns.
func Run(ctx context.Context, src core.Source, opts Options) error {
	triggers := make(chan os.Signal, 1)
	signal.Notify(triggers, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(triggers)
	// Without a handler, Go's runtime kills the process with SIGPIPE on a
	// write to a broken stdout pipe. Handled, the write returns EPIPE and
	// the loop ends quietly. signal.Ignore would do the same but SIG_IGN is
	// inherited across exec by the hping3 children.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)

	l := loop{
		round:      src.Next,
		continuous: src.Continuous(),
		out:        opts.Stdout,
		log:        opts.Log,
		poll:       opts.PollInterval,
		grace:      stopGrace,
	}
	return l.run(ctx, opts.Stdin, triggers)
}
