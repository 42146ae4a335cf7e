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

// parseArgs reads the agent's arguments. It returns the header even when it
// fails, filled as far as parsing got, so the failure JSON still carries the
// host and plugin_version the monitor is keyed on.
func parseArgs(args []string, usage io.Writer) (Options, *config.Config, error) {
	o := Options{
		Header:   Header{Host: "localhost", PluginVersion: 1, Heartbeat: true},
		Deadline: DefaultDeadline,
	}
	fs := flag.NewFlagSet("hping3-plugin --site24x7", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors become the JSON msg, not usage text
	var (
		version   = "1"
		heartbeat = "True"
		deadline  = DefaultDeadline.String()
	)
	fs.Bool("site24x7", true, "Site24x7 agent mode (this mode)")
	fs.StringVar(&o.Host, "host", o.Host, "host name or IPv4 address to probe")
	fs.StringVar(&version, "plugin-version", version, "plugin_version reported to Site24x7 (whole number >= 1)")
	fs.StringVar(&heartbeat, "heartbeat", heartbeat, "heartbeat_required: True/False, true/false, 1/0, yes/no")
	fs.StringVar(&deadline, "deadline", deadline, fmt.Sprintf("time limit of the whole run, below the agent's script timeout (e.g. 25s, or 25 for seconds; at most %v)", MaxDeadline))
	fs.BoolVar(&o.Debug, "debug", false, "log each hping3 command line (D! lines on stderr)")
	pf := config.RegisterOneRoundFlags(fs, OldProbe())
	addUnderscoreAliases(fs)

	args = unquoteArgs(args)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usage)
			fmt.Fprintln(usage, "Usage: hping3-plugin --site24x7 --host HOST [--plugin-version N] [--heartbeat True|False] [probe flags]")
			fs.PrintDefaults()
			return o, nil, errHelp
		}
		headerAfterError(args, &o.Header)
		return o, nil, fmt.Errorf("%v (the options come from the hping3.cfg section: check its keys)", err)
	}
	var errs []error
	// The header is parsed first and kept even when something else is
	// wrong: the failure JSON must still name the right monitor.
	if v, err := parseVersion(version); err != nil {
		errs = append(errs, err)
	} else {
		o.PluginVersion = v
	}
	if hb, err := parseHeartbeat(heartbeat); err != nil {
		errs = append(errs, err)
	} else {
		o.Heartbeat = hb
	}
	if d, err := parseDeadline(deadline); err != nil {
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
