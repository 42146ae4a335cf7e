// Command hping3-plugin measures packet loss and round-trip time with hping3
// and writes the results for Telegraf (influx line protocol on stdout), an
// OpenTelemetry Collector (OTLP gRPC) or the Site24x7 agent (plugin JSON).
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	otel "github.com/hping3-plugin/hping3-plugin/otlp"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/execd"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/round"
	"github.com/hping3-plugin/hping3-plugin/plugin/site24x7"
)

// Exit statuses.
const (
	exitOK     = 0
	exitRun    = 1 // the front end failed while running
	exitConfig = 2 // invalid configuration; nothing was sent
)

func main() {
	round.OneProcessor()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The Site24x7 agent passes its own argument set (--host, --plugin_version,
	// --heartbeat); that mode owns its flags.
	for _, a := range args {
		if a == "--site24x7" || a == "-site24x7" {
			return site24x7.Main(args, stdout, stderr)
		}
	}

	fs := flag.NewFlagSet("hping3-plugin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file         = fs.String("config", "", "TOML file of [[inputs.hping3]] tables")
		once         = fs.Bool("once", false, "run one round, print it and exit")
		otlp         = fs.Bool("otlp", false, "export to an OpenTelemetry Collector over OTLP gRPC instead of printing line protocol")
		otlpEndpoint = fs.String("otlp-endpoint", "", "OTLP gRPC endpoint, e.g. http://localhost:4317 (default: OTEL_EXPORTER_OTLP_ENDPOINT)")
		pollInterval = fs.Duration("poll-interval", 0, "also run a round this often (Telegraf signal = \"none\"; --otlp default 10s)")
		debug        = fs.Bool("debug", false, "log each hping3 command line (D! lines on stderr)")
		_            = fs.Bool("site24x7", false, "Site24x7 agent mode: --host HOST [--plugin-version N] [--heartbeat True|False]; see README")
	)
	pf := config.RegisterProbeFlags(fs, config.DefaultSettings())
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	log := logger.New(stderr, *debug)
	if fs.NArg() > 0 {
		log.Errorf("unexpected argument %q: give targets with --target HOST", fs.Arg(0))
		return exitConfig
	}
	cfg, err := pf.Build(*file, config.DefaultSettings())
	if err == nil {
		err = applyPollInterval(fs, cfg, *pollInterval, *otlp)
	}
	if *otlpEndpoint != "" {
		if !*otlp {
			err = errors.Join(err, errors.New("--otlp-endpoint is for the OTLP mode: add --otlp"))
		} else if e := otel.CheckEndpoint(*otlpEndpoint); e != nil {
			err = errors.Join(err, e)
		}
	} else if *otlp {
		err = errors.Join(err, otel.CheckEnvironment(os.Getenv))
	}
	if err != nil {
		for _, e := range unjoin(err) {
			log.Errorf("%v", e)
		}
		return exitConfig
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	runner := round.New(cfg, log)

	switch {
	case *once:
		err = execd.Once(ctx, runner, stdout)
	case *otlp:
		err = otel.Run(ctx, runner, otel.Options{Endpoint: *otlpEndpoint, PollInterval: cfg.PollInterval, Log: log})
	default:
		err = execd.Run(ctx, runner, execd.Options{Stdin: stdin, Stdout: stdout, Log: log, PollInterval: cfg.PollInterval})
	}
	if err != nil {
		log.Errorf("%v", err)
		return exitRun
	}
	return exitOK
}

// applyPollInterval lets --poll-interval override the file's poll_interval;
// the OTLP mode, which has no stdin trigger, defaults to 10s.
func applyPollInterval(fs *flag.FlagSet, cfg *config.Config, d time.Duration, otlp bool) error {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "poll-interval" })
	if given {
		cfg.PollInterval = d
	}
	if otlp && cfg.PollInterval == 0 {
		cfg.PollInterval = config.DefaultPollInterval
	}
	return cfg.Validate()
}

// unjoin splits an errors.Join result so each problem gets its own log line.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
