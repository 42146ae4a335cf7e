// Command hping3-plugin measures packet loss and round-trip time with hping3
// and writes the results for Telegraf (influx line protocol on stdout), an
// OpenTelemetry Collector (OTLP gRPC), Prometheus (a /metrics endpoint) or
// the Site24x7 agent (plugin JSON).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hping3-plugin/hping3-plugin/otel"
	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/execd"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/site24x7"
)

// Exit statuses.
const (
	exitOK     = 0
	exitRun    = 1 // the front end failed while running
	exitConfig = 2 // invalid configuration; nothing was sent
)

func main() {
	core.OneProcessor()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program with its arguments (after the program name) and
// streams, returning the exit status. The mode is the Telegraf execd input
// unless --once, --otlp, --prometheus-listen (with or without --otlp) or
// --site24x7 says otherwise.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// --version answers in every mode, before any other check.
	if hasVersionFlag(args) {
		writeVersion(stdout)
		return exitOK
	}
	// The Site24x7 mode has flags of its own (--host, --plugin_version as
	// the agent spells it, quoted values) and its own failure output, the
	// Down JSON the agent reads, so it parses its arguments itself.
	if site24x7Mode(args) {
		if n := standaloneFlag(args); n != "" {
			logger.New(stderr, false).Errorf("--%s is for the standalone modes: the Site24x7 mode runs one round for the agent (drop --%s)", n, n)
			return exitConfig
		}
		return site24x7.Main(args, stdout, stderr)
	}

	fs, f := newFlagSet()
	pf := config.RegisterProbeFlags(fs, config.DefaultSettings())
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, fs, f)
			return exitOK
		}
		// One labelled line: Telegraf logs stderr line by line, and a usage
		// dump would land there as unlabelled noise.
		logger.New(stderr, false).Errorf("%v (see hping3-plugin --help)", err)
		return exitConfig
	}
	log := logger.New(stderr, f.debug)
	if err := checkModes(fs, f); err != nil {
		log.Errorf("%v (see hping3-plugin --help)", err)
		return exitConfig
	}
	if fs.NArg() > 0 {
		log.Errorf("unexpected argument %q: give targets with --target HOST", fs.Arg(0))
		return exitConfig
	}
	standalone := f.otlp || f.prometheusListen != ""
	var hup chan os.Signal
	if standalone {
		// SIGHUP reloads here, from now on: its default action would end
		// the process, and a service manager may send it as soon as the
		// process exists. In the Telegraf mode it stays a probe trigger,
		// and Telegraf restarts the plugin on its own reloads.
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	build := func() (*config.Config, error) {
		cfg, err := pf.Build(f.config, config.DefaultSettings())
		if err == nil {
			err = applyPollInterval(cfg, standalone)
		}
		if err == nil && f.prometheusListen != "" {
			err = promTags(cfg)
		}
		return cfg, err
	}
	cfg, err := build()
	err = errors.Join(err, otel.CheckWebConfig(f.webConfig))
	buckets, berr := otel.ParseBuckets(f.histogramBuckets)
	err = errors.Join(err, berr, otel.CheckNativeFactor(f.nativeFactor))
	if f.otlpEndpoint != "" {
		err = errors.Join(err, otel.CheckEndpoint(f.otlpEndpoint))
	} else if f.otlp {
		err = errors.Join(err, otel.CheckEnvironment(os.Getenv))
	}
	if err != nil {
		for _, e := range unjoin(err) {
			log.Errorf("%v", e)
		}
		return exitConfig
	}

	// The scrape endpoint binds before any packet is sent: an address in
	// use is a configuration error, with nothing sent.
	var prom *otel.Prometheus
	if f.prometheusListen != "" {
		ln, err := net.Listen("tcp", f.prometheusListen)
		if err != nil {
			log.Errorf("--prometheus-listen %s: %v", f.prometheusListen, err)
			return exitConfig
		}
		prom = &otel.Prometheus{Listener: ln, WebConfig: f.webConfig}
		defer ln.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.once {
		err = execd.Once(ctx, core.New(cfg, log), stdout, log)
	} else {
		// The long-running modes probe all the time in mode continuous (a
		// Stream, whose engine Close stops) or round after round.
		src := core.NewSource(cfg, log)
		defer src.Close()
		rl := newReloader(cfg, build, src, log)
		if standalone {
			asks := make(chan struct{}, 1)
			go rl.forward(ctx, hup, asks)
			err = otel.Run(ctx, src, otel.Options{OTLP: f.otlp, Endpoint: f.otlpEndpoint, Prometheus: prom,
				Histogram:    otel.Histogram{Buckets: buckets, NativeFactor: f.nativeFactor},
				PollInterval: cfg.PollInterval, Log: log, Reload: rl.reload, Reloads: asks})
		} else {
			go rl.watchAlone(ctx)
			err = execd.Run(ctx, src, execd.Options{Stdin: stdin, Stdout: stdout, Log: log, PollInterval: cfg.PollInterval})
		}
	}
	if err != nil {
		log.Errorf("%v", err)
		return exitRun
	}
	return exitOK
}

// applyPollInterval gives the standalone modes (OTLP, Prometheus), which
// have no stdin trigger, a 10s poll_interval unless the file or
// --poll-interval set one.
func applyPollInterval(cfg *config.Config, standalone bool) error {
	if standalone && cfg.PollInterval == 0 {
		cfg.PollInterval = config.DefaultPollInterval
	}
	return cfg.Validate()
}

// promTags refuses the tags a Prometheus scrape would not carry as they
// are: job and instance are the scrape's own (Prometheus would rename the
// plugin's to exported_job and exported_instance), and names starting
// with __ are reserved. A targets file's labels are refused these already.
func promTags(cfg *config.Config) error {
	var errs []error
	seen := map[string]bool{}
	for _, g := range cfg.Groups {
		for k := range g.Tags {
			why := config.PrometheusOwn(k)
			switch {
			case why == "" || seen[k]:
			case strings.HasSuffix(why, "Prometheus' own"):
				errs = append(errs, fmt.Errorf("inputs.hping3[%d].tags.%s: with --prometheus-listen a tag may not be job, instance or start with __ (Prometheus' own labels)", g.Table, k))
			default:
				errs = append(errs, fmt.Errorf("inputs.hping3[%d].tags.%s: with --prometheus-listen %s", g.Table, k, why))
			}
			seen[k] = true
		}
	}
	return errors.Join(errs...)
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
