package execd

import (
	"context"
	"io"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/round"
)

// Options configure the long-running Telegraf mode.
type Options struct {
	Stdin        io.Reader      // a line here runs a round (signal = "STDIN"); EOF stops
	Stdout       io.Writer      // line protocol, one write per round
	Log          *logger.Logger // stderr with Telegraf level prefixes
	PollInterval time.Duration  // > 0: also run a round this often (signal = "none")
}

// Once runs one round and writes its lines to out.
func Once(ctx context.Context, r *round.Runner, out io.Writer) error {
	rd := r.Run(ctx)
	_, err := out.Write(Encode(rd))
	return err
}

// Encode returns a round's lines, one per result, stamped with the round's
// start time.
func Encode(rd round.Round) []byte {
	var enc lineprotocol.Encoder
	enc.SetPrecision(lineprotocol.Nanosecond)
	for i := range rd.Results {
		AppendResult(&enc, &rd.Results[i], rd.Start)
	}
	return enc.Bytes()
}

// Run serves Telegraf's inputs.execd until ctx ends or stdin closes.
func Run(ctx context.Context, r *round.Runner, opts Options) error {
	return Once(ctx, r, opts.Stdout) // placeholder until the execd loop lands
}
