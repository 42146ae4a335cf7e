package site24x7

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// DefaultDeadline bounds one whole run. The Site24x7 Linux agent kills a
// plugin that exceeds its "Script Execution Timeout" (a configuration
// profile setting, taken as 30 s: the documentation found names the setting
// but not its default); a run killed there shows no reason at all. 25 s leaves 5 s for process start and the agent's own reading, and
// still covers the default probe (about 3 s, plus at most 2 s of DNS) with
// room for --count 10 at the old 2 s interval.
const DefaultDeadline = 25 * time.Second

// MaxDeadline keeps a typo (25m for 25s) from holding a plugin slot for hours.
const MaxDeadline = 10 * time.Minute

// OldProbe returns the probe the original Python plugin hard-coded
// (hping3 -c 2 -i 2 -S -p 8040), so existing monitors keep comparable values
// when no probe flag is given.
func OldProbe() config.Settings {
	s := config.DefaultSettings()
	s.Protocol = config.TCP
	s.Port = 8040
	s.TCPFlags = "S"
	s.Count = 2
	s.Interval = 2 * time.Second
	s.Timeout = time.Second
	return s
}

// Options are the Site24x7 mode's own settings.
type Options struct {
	Header
	Deadline time.Duration
	Debug    bool
}

// Header is what every JSON object starts with, failure or not.
type Header struct {
	Host          string
	PluginVersion int
	Heartbeat     bool
}

// errHelp is returned when -h or --help was asked for.
var errHelp = flag.ErrHelp

// modeError is a command line that asks for the Site24x7 mode together with
// another mode. Unlike a wrong .cfg key it is not the monitor's settings
// that are wrong but the command, so Main exits 2 (after the JSON).
type modeError struct{ msg string }

func (e *modeError) Error() string { return e.msg }

// otherModeFlags are flags of the other modes. They are defined here only to
// be refused by name: the agent passes the .cfg section's keys as flags, and
// "flag provided but not defined" would not say that the key belongs to
// another way of running the plugin.
var otherModeFlags = []struct{ name, modes string }{
	{"config", "the Telegraf, --once and OTLP modes"},
	{"poll-interval", "the Telegraf and OTLP modes"},
	{"mode", "the Telegraf and OTLP modes"},
	{"otlp-endpoint", "the OTLP mode"},
}

// rawArgs are the values parsed as text first, so the header can be kept
// when one of them is wrong, and the other modes' switches.
type rawArgs struct {
	version, heartbeat, deadline string
	once, otlp                   bool
}

// registerModeFlags defines the flags the Site24x7 mode adds to the probe
// flags, with their defaults.
func registerModeFlags(fs *flag.FlagSet, o *Options, raw *rawArgs) {
	raw.version, raw.heartbeat, raw.deadline = "1", "True", DefaultDeadline.String()
	fs.StringVar(&o.Host, "host", "localhost", "host name or IPv4 address to probe")
	fs.StringVar(&raw.version, "plugin-version", raw.version, "plugin_version reported to Site24x7 (whole number >= 1)")
	fs.StringVar(&raw.heartbeat, "heartbeat", raw.heartbeat, "heartbeat_required: True/False, true/false, 1/0, yes/no")
	fs.StringVar(&raw.deadline, "deadline", raw.deadline, fmt.Sprintf("time limit of the whole run, below the agent's script timeout (e.g. 25s, or 25 for seconds; at most %v)", MaxDeadline))
}

// newFlagSet defines every flag of the mode on a new FlagSet. With
// refuseOthers it also defines the other modes' flags (--once, --otlp,
// --config, ...) so that parseArgs can name them; the help leaves them out.
func newFlagSet(o *Options, raw *rawArgs, refuseOthers bool) (*flag.FlagSet, *config.ProbeFlags) {
	fs := flag.NewFlagSet("hping3-plugin --site24x7", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors become the JSON msg, not usage text
	fs.Usage = func() {}
	fs.Bool("site24x7", true, "Site24x7 agent mode (this mode)")
	registerModeFlags(fs, o, raw)
	fs.BoolVar(&o.Debug, "debug", false, "log each hping3 command line (D! lines on stderr)")
	if refuseOthers {
		fs.BoolVar(&raw.once, "once", false, "")
		fs.BoolVar(&raw.otlp, "otlp", false, "")
		for _, f := range otherModeFlags {
			fs.String(f.name, "", "")
		}
	}
	pf := config.RegisterOneRoundFlags(fs, OldProbe())
	addUnderscoreAliases(fs)
	return fs, pf
}

// ModeFlags returns a FlagSet holding only the flags the Site24x7 mode adds
// to the probe flags, with their defaults: the other modes list them in
// their help and refuse them by name.
func ModeFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("hping3-plugin --site24x7", flag.ContinueOnError)
	registerModeFlags(fs, &Options{}, &rawArgs{})
	return fs
}

// modeConflict names the other modes asked for besides --site24x7, if any.
func modeConflict(raw *rawArgs) error {
	switch {
	case raw.once && raw.otlp:
		return &modeError{"--site24x7, --once and --otlp are three modes: give only --site24x7 for the Site24x7 agent (see hping3-plugin --help)"}
	case raw.once:
		return &modeError{"--site24x7 and --once are two modes: --site24x7 already runs one round and prints it as JSON; drop --once (see hping3-plugin --help)"}
	case raw.otlp:
		return &modeError{"--site24x7 and --otlp are two modes: --site24x7 prints JSON for the Site24x7 agent, --otlp exports to an OpenTelemetry Collector; run them as two commands (see hping3-plugin --help)"}
	}
	return nil
}

// printHelp writes the mode's usage and its flags to w: its own, then the
// probe flags with this mode's defaults. The underscore aliases and --target,
// which this mode refuses, are left out.
func printHelp(w io.Writer) {
	fs, _ := newFlagSet(&Options{}, &rawArgs{}, false)
	fs.SetOutput(w)
	own := map[string]bool{"debug": true}
	ModeFlags().VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	fmt.Fprintln(w, "Usage: hping3-plugin --site24x7 --host HOST [--plugin-version N] [--heartbeat True|False] [probe flags]")
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "One round against HOST, printed as one line of Site24x7 plugin JSON; every failure is a")
	fmt.Fprintln(w, "Down object with the reason in msg. The Site24x7 agent passes the keys of the hping3.cfg")
	fmt.Fprintln(w, "section as these flags; plugin_version, tcp_flags and the like work as well.")
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "Site24x7 flags:")
	subset(fs, func(f *flag.Flag) bool { return own[f.Name] }).PrintDefaults()
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "Probe flags (their defaults are the original Python plugin's probe):")
	subset(fs, func(f *flag.Flag) bool {
		_, isAlias := f.Value.(alias)
		return !own[f.Name] && !isAlias && f.Name != "site24x7" && f.Name != "target"
	}).PrintDefaults()
}

// subset returns a FlagSet, writing to fs's output, with the flags of fs
// that keep accepts, defaults included; for listing them in groups.
func subset(fs *flag.FlagSet, keep func(*flag.Flag) bool) *flag.FlagSet {
	out := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	out.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f) {
			out.Var(f.Value, f.Name, f.Usage)
			out.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	return out
}

// parseArgs reads the agent's arguments. It returns the header even when it
// fails, filled as far as parsing got, so the failure JSON still carries the
// host and plugin_version the monitor is keyed on. A *modeError comes alone.
func parseArgs(args []string, usage io.Writer) (Options, *config.Config, error) {
	o := Options{
		Header:   Header{Host: "localhost", PluginVersion: 1, Heartbeat: true},
		Deadline: DefaultDeadline,
	}
	var raw rawArgs
	fs, pf := newFlagSet(&o, &raw, true)

	args = unquoteArgs(args)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(usage)
			return o, nil, errHelp
		}
		headerAfterError(args, &o.Header)
		if err := modeConflict(&raw); err != nil {
			return o, nil, err
		}
		return o, nil, fmt.Errorf("%v (the options come from the hping3.cfg section: check its keys; hping3-plugin --site24x7 --help lists them)", err)
	}
	var errs []error
	// The header is parsed first and kept even when something else is
	// wrong: the failure JSON must still name the right monitor.
	if v, err := parseVersion(raw.version); err != nil {
		errs = append(errs, err)
	} else {
		o.PluginVersion = v
	}
	if hb, err := parseHeartbeat(raw.heartbeat); err != nil {
		errs = append(errs, err)
	} else {
		o.Heartbeat = hb
	}
	// Two modes make the rest moot; the header above still keys the JSON.
	if err := modeConflict(&raw); err != nil {
		return o, nil, err
	}
	if d, err := parseDeadline(raw.deadline); err != nil {
		errs = append(errs, err)
	} else {
		o.Deadline = d
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: give the host with --host HOST (host=\"...\" in hping3.cfg)", fs.Arg(0)))
	}
	if given(fs, "target") {
		errs = append(errs, errors.New("--target is not used in Site24x7 mode: give the host with --host HOST (host=\"...\" in hping3.cfg)"))
	}
	for _, f := range otherModeFlags {
		if given(fs, f.name) {
			errs = append(errs, fmt.Errorf("--%s is for %s, not --site24x7: remove it from the command line or the hping3.cfg section", f.name, f.modes))
		}
	}
	if o.Host == "" {
		errs = append(errs, errors.New(`host is empty: set host="NAME" in the hping3.cfg section (a host name or IPv4 address)`))
	}
	// The old probe's port 8040 belongs to TCP: switching a .cfg section to
	// protocol="icmp" should not also require port="0".
	if given(fs, "protocol") && !given(fs, "port") && strings.EqualFold(fs.Lookup("protocol").Value.String(), string(config.ICMP)) {
		errs = append(errs, fs.Set("port", "0"))
	}
	// The host goes in as a target like any other: the core checks the name
	// and never hands it to hping3 as an option. The probe settings are
	// checked even when the header is wrong, so one run names every problem.
	if o.Host != "" {
		if err := fs.Set("target", o.Host); err != nil {
			errs = append(errs, err)
		}
	}
	cfg, err := pf.Build("", OldProbe())
	if err != nil && o.Host != "" {
		errs = append(errs, err)
	} else if err == nil {
		errs = append(errs, checkDeadline(o.Deadline, cfg.Groups[0].Settings))
	}
	if err := errors.Join(errs...); err != nil {
		return o, nil, err
	}
	return o, cfg, nil
}

// headerAfterError recovers the header from arguments the flag parser gave
// up on: an unknown .cfg key stops it where it stands, and the keys after it
// (the agent passes them in the .cfg's order) would otherwise be lost, so the
// failure JSON would carry the default host and plugin_version instead of
// the monitor's own. Values that do not parse keep the defaults.
func headerAfterError(args []string, h *Header) {
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		name = strings.ReplaceAll(name, "_", "-")
		if name != "host" && name != "plugin-version" && name != "heartbeat" {
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				return
			}
			i++
			val = args[i]
		}
		switch name {
		case "host":
			h.Host = val
		case "plugin-version":
			if v, err := parseVersion(val); err == nil {
				h.PluginVersion = v
			}
		case "heartbeat":
			if hb, err := parseHeartbeat(val); err == nil {
				h.Heartbeat = hb
			}
		}
	}
}

// parseVersion reads plugin_version; Site24x7 takes whole numbers only.
func parseVersion(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("plugin_version %q is not a whole number >= 1: set plugin_version=\"1\" in hping3.cfg", s)
	}
	return v, nil
}

// parseHeartbeat reads heartbeat the way a person means it: the Python
// plugin's argparse type=bool turned every non-empty string, "False"
// included, into true.
func parseHeartbeat(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1", "yes", "y", "on":
		return true, nil
	case "false", "f", "0", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("heartbeat %q is not True or False: set heartbeat=\"True\" or heartbeat=\"False\" in hping3.cfg", s)
}

// parseDeadline takes a Go duration ("25s") or a plain number of seconds
// ("25"), since a .cfg value reads naturally either way.
func parseDeadline(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil {
			return 0, fmt.Errorf("deadline %q is not a duration: use e.g. 25s or 25 (seconds)", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < time.Second || d > MaxDeadline {
		return 0, fmt.Errorf("deadline %v is out of range: 1s..%v, and below the agent's script timeout (default %v)", d, MaxDeadline, DefaultDeadline)
	}
	return d, nil
}

// checkDeadline rejects a probe that cannot finish within the deadline even
// when every reply comes back: it would always report a timeout.
func checkDeadline(d time.Duration, s config.Settings) error {
	if need := s.Duration(); need >= d {
		return fmt.Errorf("deadline %v is too short for the probe: %d packets %v apart plus the %v reply timeout take %v; raise --deadline or lower --count or --interval",
			d, s.Count, s.Interval, s.Timeout, need)
	}
	return nil
}

// given reports whether the flag name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// addUnderscoreAliases accepts tcp_flags for --tcp-flags and so on. The agent
// passes the .cfg keys as they are written, and the old plugin's own key was
// plugin_version; the TOML file also spells these keys with underscores.
func addUnderscoreAliases(fs *flag.FlagSet) {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.Contains(f.Name, "-") {
			names = append(names, f.Name)
		}
	})
	for _, n := range names {
		fs.Var(alias{fs: fs, name: n}, strings.ReplaceAll(n, "-", "_"), "same as --"+n)
	}
}

// alias forwards to the canonical flag through fs.Set, so the canonical flag
// counts as given (config.ProbeFlags applies only flags that were set).
type alias struct {
	fs   *flag.FlagSet
	name string
}

func (a alias) String() string     { return "" }
func (a alias) Set(v string) error { return a.fs.Set(a.name, v) }

// unquoteArgs strips one pair of matching quotes around a value, in
// --key="value" and in a separate "value" argument. .cfg values are written
// quoted (host="localhost"); the old plugin's shell removed the quotes, so
// they are removed here too should the agent pass them through. No valid
// value begins and ends with a quote.
func unquoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
			out[i] = k + "=" + unquote(v)
		} else {
			out[i] = unquote(a)
		}
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
