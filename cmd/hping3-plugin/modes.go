package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/site24x7"
)

// flags are the flags of the Telegraf, --once and OTLP modes besides the
// probe flags.
type flags struct {
	once, otlp, site24x7, debug bool
	config, otlpEndpoint        string
	// prometheusListen serves /metrics there (a mode of its own, or with
	// --otlp); webConfig is its TLS and basic auth.
	prometheusListen, webConfig string
	// histogramBuckets and nativeFactor set the RTT histogram's buckets:
	// classic (a Prometheus scrape) and exponential (OTLP, and a scrape's
	// native histogram).
	histogramBuckets string
	nativeFactor     float64

	// mode holds the names of the mode switches; general the other flags
	// defined here; site24x7Only the Site24x7 mode's flags, defined only to
	// be refused by name. Each becomes a group in the help.
	mode, general, site24x7Only []string
}

// newFlagSet defines every flag but the probe flags. The FlagSet neither
// prints usage nor errors itself: run turns a parse error into one E! line.
func newFlagSet() (*flag.FlagSet, *flags) {
	fs := flag.NewFlagSet("hping3-plugin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := &flags{
		mode:    []string{"once", "otlp", "prometheus-listen", "site24x7"},
		general: []string{"config", "debug", "mode", "poll-interval", "otlp-endpoint", "web-config", "histogram-buckets", "native-histogram-factor"},
	}
	fs.BoolVar(&f.once, "once", false, "run one round, print it as line protocol and exit")
	fs.BoolVar(&f.otlp, "otlp", false, "export every round to an OpenTelemetry Collector over OTLP gRPC instead of printing line protocol")
	fs.BoolVar(&f.site24x7, "site24x7", false, "Site24x7 agent mode: one round against --host, printed as plugin JSON (see hping3-plugin --site24x7 --help)")
	fs.StringVar(&f.prometheusListen, "prometheus-listen", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. :10027 or 127.0.0.1:10027), probing all the time; alone or with --otlp")
	fs.StringVar(&f.webConfig, "web-config", "", "with --prometheus-listen: Prometheus web configuration file (TLS, basic auth; the exporter-toolkit format)")
	fs.StringVar(&f.histogramBuckets, "histogram-buckets", "", "with --prometheus-listen: the RTT histogram's classic buckets, upper bounds in seconds, ascending, e.g. 0.001,0.005,0.025,0.1 (default 1, 1.5, 2, 3, 5 and 7 in each decade from 10us to 10s)")
	fs.Float64Var(&f.nativeFactor, "native-histogram-factor", 0, "with --otlp or --prometheus-listen: the most each exponential (native) RTT bucket may grow over its lower bound, e.g. 1.1 (default 0: the finest 160 buckets allow)")
	fs.StringVar(&f.config, "config", "", "TOML file of [[inputs.hping3]] tables")
	fs.BoolVar(&f.debug, "debug", false, "log each hping3 command line (D! lines on stderr; every mode)")
	fs.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "with --otlp: OTLP gRPC endpoint, e.g. http://localhost:4317 (default: OTEL_EXPORTER_OTLP_ENDPOINT)")

	site24x7.ModeFlags().VisitAll(func(sf *flag.Flag) {
		names := []string{sf.Name}
		// The agent's own spelling (plugin_version) is refused by mode too.
		if u := strings.ReplaceAll(sf.Name, "-", "_"); u != sf.Name {
			names = append(names, u)
		}
		for _, n := range names {
			fs.Var(foreign{bool: isBoolFlag(sf.Value)}, n, sf.Usage)
			f.site24x7Only = append(f.site24x7Only, n)
		}
	})
	return fs, f
}

// foreign stands for a flag of the Site24x7 mode. It takes a value as the
// real flag does, so the rest of the command line parses as it would there,
// and checkModes names it.
type foreign struct{ bool bool }

func (foreign) String() string     { return "" }
func (foreign) Set(string) error   { return nil }
func (v foreign) IsBoolFlag() bool { return v.bool }
func isBoolFlag(v flag.Value) bool {
	b, ok := v.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// site24x7Mode reports whether args ask for the Site24x7 mode: -site24x7 or
// --site24x7, alone or with a value Go's flag package reads as true
// (--site24x7=true, =1, =T, ...). A value that is not a boolean is left to
// the general parser, which refuses it with the reason.
func site24x7Mode(args []string) bool { return boolFlagSet(args, "site24x7") }

// boolFlagSet reports whether args set the boolean flag name (-name or
// --name, alone or with a value Go's flag package reads as true), before
// any "--": as in flag parsing the last one wins. It is read before the
// flags are parsed, to choose how to parse them.
func boolFlagSet(args []string, name string) bool {
	on := false
	for _, a := range args {
		if a == "--" {
			break
		}
		given, val, hasVal := strings.Cut(a, "=")
		if given != "-"+name && given != "--"+name {
			continue
		}
		if !hasVal {
			on = true
			continue
		}
		b, err := strconv.ParseBool(val)
		on = err == nil && b
	}
	return on
}

// checkModes refuses flags that do not go together: two modes, or a flag of
// a mode that was not asked for. Every problem goes on one line.
func checkModes(fs *flag.FlagSet, f *flags) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var errs []string
	if f.once && f.otlp {
		errs = append(errs, "--once and --otlp are two modes: --once prints one round as line protocol and exports nothing; "+
			"to export, give --otlp alone (it exports a round every --poll-interval until stopped)")
	}
	var s24 []string
	for _, n := range f.site24x7Only {
		if given[n] {
			s24 = append(s24, "--"+n)
		}
	}
	if len(s24) > 0 {
		errs = append(errs, fmt.Sprintf("%s %s for the Site24x7 mode: add --site24x7", andList(s24), isAre(len(s24))))
	}
	if f.once && f.prometheusListen != "" {
		errs = append(errs, "--once and --prometheus-listen are two modes: --once prints one round and exits; "+
			"to serve metrics, give --prometheus-listen without --once")
	}
	if given["prometheus-listen"] && f.prometheusListen == "" {
		errs = append(errs, "--prometheus-listen needs an address, e.g. :10027 or 127.0.0.1:10027")
	}
	if given["web-config"] && f.prometheusListen == "" {
		errs = append(errs, "--web-config is for the Prometheus endpoint: add --prometheus-listen")
	}
	if given["histogram-buckets"] && f.prometheusListen == "" {
		errs = append(errs, "--histogram-buckets is for the Prometheus endpoint's classic buckets: add --prometheus-listen (OTLP exports an exponential histogram: see --native-histogram-factor)")
	}
	if given["native-histogram-factor"] && !f.otlp && f.prometheusListen == "" {
		errs = append(errs, "--native-histogram-factor is for the histogram of the OTLP and Prometheus modes: add --otlp or --prometheus-listen")
	}
	if given["otlp-endpoint"] && !f.otlp {
		errs = append(errs, "--otlp-endpoint is for the OTLP mode: add --otlp")
	}
	if given["poll-interval"] && f.once {
		errs = append(errs, "--poll-interval is for the Telegraf, OTLP and Prometheus modes: --once runs one round, drop --poll-interval")
	}
	if given["mode"] && f.once {
		errs = append(errs, "--mode is for the Telegraf, OTLP and Prometheus modes: --once runs one round, drop --mode")
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

func andList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// helpModes is the start of --help: what the program does, then each mode
// with one command line to try.
const helpModes = `hping3-plugin measures packet loss and round-trip time to each target with hping3
and writes the results in one of five modes. Give at most one mode flag (--otlp and
--prometheus-listen go together).

Modes:
  Telegraf (no mode flag)
      for Telegraf's inputs.execd: a report each time Telegraf asks (a line on stdin,
      or a signal), or every --poll-interval; influx line protocol on stdout
        hping3-plugin --config /etc/hping3-plugin/hping3-plugin.conf
  --once
      one round, printed as line protocol, then exit
        hping3-plugin --once --target 127.0.0.1 --count 3
  --otlp
      a report every --poll-interval (default 10s), exported to an OpenTelemetry
      Collector over OTLP gRPC
        hping3-plugin --otlp --otlp-endpoint http://localhost:4317 --target 127.0.0.1
  --prometheus-listen ADDR
      a standalone prober: every target probed all the time, a report every
      --poll-interval (default 10s), served for Prometheus at http://ADDR/metrics
        hping3-plugin --prometheus-listen 127.0.0.1:10027 --target 127.0.0.1
  --site24x7
      for the Site24x7 Linux agent: one round against --host, printed as plugin JSON
        hping3-plugin --site24x7 --host 127.0.0.1 --plugin-version 1 --heartbeat True

In the Telegraf, OTLP and Prometheus modes every target is probed all the time, one packet
every --interval, and each report covers the packets decided since the one before
(--mode continuous, the default); --mode rounds sends --count packets per target
per report instead. In the OTLP and Prometheus modes SIGHUP (and POST /-/reload)
reloads the configuration; a targets_file is re-read when it changes. --version
prints the version and the hping3 it would run.

`

// printHelp writes the modes and then every flag of fs in groups. The probe
// flags are whatever else fs holds, so a new probe setting is listed without
// a change here.
func printHelp(w io.Writer, fs *flag.FlagSet, f *flags) {
	io.WriteString(w, helpModes)
	in := func(names []string) func(*flag.Flag) bool {
		return func(fl *flag.Flag) bool {
			for _, n := range names {
				if n == fl.Name {
					return true
				}
			}
			return false
		}
	}
	group := func(title string, keep func(*flag.Flag) bool) {
		fmt.Fprintf(w, "%s:\n", title)
		subset(fs, w, keep).PrintDefaults()
		fmt.Fprintln(w)
	}
	group("Mode flags", in(f.mode))
	group("Flags of the Telegraf, --once, OTLP and Prometheus modes", in(f.general))
	fmt.Fprintln(w, "Site24x7 flags (with --site24x7; hping3-plugin --site24x7 --help lists its probe defaults):")
	s24 := site24x7.ModeFlags()
	s24.SetOutput(w)
	s24.PrintDefaults()
	fmt.Fprintln(w)
	group("Probe flags (every mode; --site24x7 probes --host instead of --target)", func(fl *flag.Flag) bool {
		return !in(f.mode)(fl) && !in(f.general)(fl) && !in(f.site24x7Only)(fl)
	})
}

// subset returns a FlagSet writing to w with the flags of fs that keep
// accepts, defaults included, so PrintDefaults lists one group.
func subset(fs *flag.FlagSet, w io.Writer, keep func(*flag.Flag) bool) *flag.FlagSet {
	out := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	out.SetOutput(w)
	fs.VisitAll(func(fl *flag.Flag) {
		if keep(fl) {
			out.Var(fl.Value, fl.Name, fl.Usage)
			out.Lookup(fl.Name).DefValue = fl.DefValue
		}
	})
	return out
}

// standaloneFlag names a flag of the standalone modes' endpoint that args
// give (before any "--"), or returns "": the Site24x7 mode, which parses
// its own flags, is refused it by name.
func standaloneFlag(args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "prometheus-listen" || name == "web-config" || name == "histogram-buckets" || name == "native-histogram-factor") {
			return name
		}
	}
	return ""
}
