package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Setting is one entry of the settings table: everything the file loader,
// the flags, validation, --help, docs/configuration.md and
// examples/hping3-plugin.conf know about a setting. Adding a setting is one
// entry here plus the code that uses its value.
type Setting struct {
	Key  string // TOML key
	Flag string // command-line flag without dashes; "" for the file only
	Top  bool   // a top-level key; else a key of each [[inputs.hping3]] table

	// Help is the sentence --help and the docs show.
	Help string
	// Allowed says what validation accepts; every error about the setting
	// ends with it, and the docs show it.
	Allowed string
	// DefaultText replaces the default's own value in the docs and --help
	// where that value alone would mislead (0 meaning "hping3's default").
	DefaultText string
	// Applies names the engines or modes the setting is limited to; ""
	// means every one.
	Applies string
	// Rounds marks a setting only the modes that run round after round
	// (Telegraf execd, --otlp, --prometheus-listen) have: one-round modes get no flag for it.
	Rounds bool

	// field points at where the value lives: in g for a group setting,
	// in c for a top-level one. Its type (*int, *string, *time.Duration,
	// *[]int, *[]string, *map[string]string, *Protocol, *Engine) decides
	// how the file and the flag are parsed.
	field func(c *Config, g *Group) any
	// min and max bound an int or a duration, when max > min.
	min, max int64
	// check, when set, returns "" for a good value or the reason, which
	// replaces Allowed in the error (for rules that depend on other
	// settings). c is the whole configuration, g nil for a top-level key.
	check func(c *Config, g *Group) string
}

// Settings of the table, in the order the docs show them.
var settingsTable = []*Setting{
	{Key: "targets", Flag: "target",
		Help:    "what to probe: host names or IPv4 literals; a target repeated in a table is probed once, with a warning; each --target adds a table of its own",
		Allowed: "at least one target, unless the table has a targets_file",
		field:   func(_ *Config, g *Group) any { return &g.Targets },
		check: func(_ *Config, g *Group) string {
			if len(g.Targets) == 0 && g.TargetsFile == "" {
				return "at least one target, unless the table has a targets_file"
			}
			return ""
		}},
	{Key: "targets_file",
		Help: "more targets for the table, from a file in Prometheus' file_sd format, JSON or YAML: a list of " +
			`{"targets": ["HOST" or "HOST:PORT", ...], "labels": {"NAME": "VALUE", ...}}; ` +
			"the table's settings and tags apply to them, a PORT (tcp and udp tables only) replaces the table's port, " +
			"the labels are tags of those targets; a relative path starts at the configuration file's directory; " +
			"with it, targets may be empty",
		Allowed: "a path ending in .json, .yml or .yaml; hosts as in targets; label names [a-zA-Z_][a-zA-Z0-9_]*, " +
			"not job, instance, names starting with __, host, target, ip, protocol, port, hop, hop_ip, flow, vantage (when set), tos, dscp, source_address (when the table sets them) or a key of the table's tags; " +
			"label values as tag values; a file without targets only while the configuration has other targets",
		DefaultText: "none",
		field:       func(_ *Config, g *Group) any { return &g.TargetsFile },
		check: func(_ *Config, g *Group) string {
			if f := g.TargetsFile; f != "" && targetsFileFormat(f) == "" {
				return "a path ending in .json, .yml or .yaml"
			}
			return ""
		}},
	{Key: "protocol", Flag: "protocol",
		Help:    "probe type: ICMP echo, TCP with tcp_flags, or UDP",
		Allowed: `one of "icmp", "tcp", "udp"`,
		field:   func(_ *Config, g *Group) any { return &g.Settings.Protocol },
		check: func(_ *Config, g *Group) string {
			switch g.Settings.Protocol {
			case ICMP, TCP, UDP:
				return ""
			}
			return `one of "icmp", "tcp", "udp"`
		}},
	{Key: "port", Flag: "port",
		Help:        "destination port",
		Allowed:     "1..65535, required for tcp and udp, none for icmp",
		DefaultText: "none",
		Applies:     "tcp, udp",
		field:       func(_ *Config, g *Group) any { return &g.Settings.Port },
		check: func(_ *Config, g *Group) string {
			s := g.Settings
			switch {
			case s.Protocol == ICMP && s.Port != 0:
				return "only for protocol tcp or udp"
			case (s.Protocol == TCP || s.Protocol == UDP) && (s.Port < 1 || s.Port > 65535):
				return fmt.Sprintf("required for protocol %s: 1..65535", s.Protocol)
			}
			return ""
		}},
	{Key: "tcp_flags", Flag: "tcp-flags",
		Help:    "TCP flags set on each probe",
		Allowed: `one or more of S A F R P U, each once, e.g. "S" or "SA"`,
		Applies: "tcp",
		field:   func(_ *Config, g *Group) any { return &g.Settings.TCPFlags },
		check: func(_ *Config, g *Group) string {
			if g.Settings.Protocol != TCP {
				return ""
			}
			return checkTCPFlags(g.Settings.TCPFlags)
		}},
	{Key: "count", Flag: "count",
		Help:    "packets per target per round (hping3 keeps send times for 400 sequence numbers)",
		Allowed: fmt.Sprintf("1..%d packets per target per round", MaxCount),
		min:     1, max: MaxCount,
		field: func(_ *Config, g *Group) any { return &g.Settings.Count }},
	{Key: "interval", Flag: "interval",
		Help:    "time between one target's packets",
		Allowed: fmt.Sprintf("%v..999ms (at most %d packets/s per target), or whole seconds 1s..60s; max_packet_rate in all", time.Second/MaxTargetRate, MaxTargetRate),
		field:   func(_ *Config, g *Group) any { return &g.Settings.Interval },
		check: func(c *Config, g *Group) string {
			s := g.Settings
			if err := checkInterval(s.Interval); err != "" {
				return err
			}
			if s.Rate() > MaxTargetRate {
				return fmt.Sprintf("%.0f packets/s to one target exceeds the cap of %d/s: at least %v",
					s.Rate(), MaxTargetRate, time.Second/MaxTargetRate)
			}
			if c != nil && c.MaxPacketRate >= 1 && s.Rate() > float64(c.MaxPacketRate) {
				return fmt.Sprintf("one target's %.0f packets/s exceeds max_packet_rate %d/s", s.Rate(), c.MaxPacketRate)
			}
			return ""
		}},
	{Key: "timeout", Flag: "timeout",
		Help: "how long a reply may take; later replies count as lost",
		Allowed: fmt.Sprintf("%v..%v, at most %v with the cli engine (hping3 stops listening 1s after its last packet); timeout × max_packet_rate at most %d (the IP id and ICMP sequence must not wrap within a timeout)",
			MinTimeout, MaxTimeout, MaxCLITimeout, MaxInFlight),
		min: int64(MinTimeout), max: int64(MaxTimeout),
		field: func(_ *Config, g *Group) any { return &g.Settings.Timeout },
		check: func(c *Config, g *Group) string {
			if c == nil {
				return ""
			}
			if c.Engine == EngineCLI && g.Settings.Timeout > MaxCLITimeout {
				return g.Settings.CLIRefuses()
			}
			if rate := c.MaxPacketRate; rate >= 1 && g.Settings.Timeout.Seconds()*float64(rate) > MaxInFlight {
				return fmt.Sprintf("with max_packet_rate %d, at most %v: %d packets waiting for an answer at once would wrap the 16-bit IP id and ICMP sequence",
					rate, time.Duration(float64(time.Second)*MaxInFlight/float64(rate)).Truncate(time.Millisecond), MaxInFlight)
			}
			return ""
		}},
	{Key: "data_size", Flag: "data-size",
		Help: "payload bytes of each probe; an ICMP probe carries at least 6, its first 6 the plugin's own (docs/paths.md); " +
			"a probe must fit the MTU of the interface it leaves by (1500 bytes: 1472 for icmp and udp, 1460 for tcp), else its target fails",
		Allowed: fmt.Sprintf("0..%d bytes, at most %d with the cli engine", MaxDataSize, MaxCLIDataSize),
		min:     0, max: MaxDataSize,
		field: func(_ *Config, g *Group) any { return &g.Settings.DataSize },
		check: func(c *Config, g *Group) string {
			if c != nil && c.Engine == EngineCLI && g.Settings.DataSize > MaxCLIDataSize {
				return g.Settings.CLIRefuses()
			}
			return ""
		}},
	{Key: "dont_fragment", Flag: "dont-fragment",
		Help:    "set the IP don't-fragment bit, so that a probe larger than a link's MTU is lost with the router's \"fragmentation needed\" (counted in icmp_errors): with data_size, finds an MTU black hole",
		Allowed: "true or false",
		field:   func(_ *Config, g *Group) any { return &g.Settings.DontFrag }},
	{Key: "ttl", Flag: "ttl",
		Help:        "IP TTL of the probes",
		Allowed:     "1..255 (0 keeps hping3's default of 64)",
		DefaultText: "hping3's 64",
		min:         0, max: 255,
		field: func(_ *Config, g *Group) any { return &g.Settings.TTL }},
	{Key: "tos", Flag: "tos",
		Help:        "IP type-of-service byte of the probes; other than 0 it is the tag tos of the table's lines",
		Allowed:     "0..255; not with dscp",
		DefaultText: "0",
		min:         0, max: 255,
		field: func(_ *Config, g *Group) any { return &g.Settings.TOS }},
	{Key: "dscp", Flag: "dscp",
		Help:        "DSCP of the probes (the upper six bits of the type-of-service byte), by class name or number; the tag dscp of the table's lines (its class name, or the number)",
		Allowed:     dscpAllowed,
		DefaultText: "none",
		field:       func(_ *Config, g *Group) any { return &g.Settings.DSCP },
		check: func(_ *Config, g *Group) string {
			s := g.Settings
			if s.DSCP != "" && (dscpValue(s.DSCP) < 0 || s.TOS != 0) {
				return dscpAllowed
			}
			return ""
		}},
	{Key: "source_address", Flag: "source-address",
		Help: "source address of the probes, an address of this host (a loopback one too): the probes leave by the interface the route to the target takes, which the answers are read on; " +
			"the tag source_address of the table's lines; not a VRF (docs/configuration.md)",
		Allowed:     "an IPv4 address of this host",
		DefaultText: "by route",
		field:       func(_ *Config, g *Group) any { return &g.Settings.Source },
		check: func(_ *Config, g *Group) string {
			if a := g.Settings.Source; a != "" {
				return checkSource(a)
			}
			return ""
		}},
	{Key: "interface", Flag: "interface",
		Help:        "network interface to send on",
		Allowed:     "the exact name of an existing network interface",
		DefaultText: "by route",
		field:       func(_ *Config, g *Group) any { return &g.Settings.Interface },
		check: func(_ *Config, g *Group) string {
			// hping3 matches -I by substring and silently falls back to
			// lo, so an interface must exist under exactly this name.
			if i := g.Settings.Interface; i != "" {
				if _, err := net.InterfaceByName(i); err != nil {
					return "the exact name of an existing network interface"
				}
			}
			return ""
		}},
	{Key: "dns_timeout", Flag: "dns-timeout",
		Help:    "time limit for resolving one name",
		Allowed: fmt.Sprintf("1ms..%v", MaxDNSTimeout),
		min:     int64(time.Millisecond), max: int64(MaxDNSTimeout),
		field: func(_ *Config, g *Group) any { return &g.Settings.DNSTimeout }},
	{Key: "concurrency", Flag: "concurrency",
		Help:    "hping3 processes of this table at once (all tables together: the largest value)",
		Allowed: fmt.Sprintf("1..%d hping3 processes at once", MaxConcurrency),
		Applies: `engine "cli"`,
		min:     1, max: MaxConcurrency,
		field: func(_ *Config, g *Group) any { return &g.Settings.Concurrency }},
	{Key: "hping3", Flag: "hping3",
		Help:        "the hping3 binary",
		Allowed:     "a path to the hping3 binary",
		DefaultText: "hping3 on PATH, then /usr/sbin/hping3",
		field:       func(_ *Config, g *Group) any { return &g.Settings.HPing3 },
		check: func(_ *Config, g *Group) string {
			if strings.HasPrefix(g.Settings.HPing3, "-") {
				return "a path to the hping3 binary"
			}
			return ""
		}},
	{Key: "percentiles", Flag: "percentiles",
		Help:        "RTT percentiles to report (flag: comma separated, e.g. 50,95,99)",
		Allowed:     "each 1..99, each once",
		DefaultText: "none",
		field:       func(_ *Config, g *Group) any { return &g.Settings.Percentiles }},
	{Key: "path", Flag: "path",
		Help:    "also probe each target's path hop by hop (TTL 1 up to max_hops, with the table's protocol and port): loss and RTT per hop, hop_count and path_id (docs/paths.md)",
		Allowed: "true or false; needs the tcl engine",
		field:   func(_ *Config, g *Group) any { return &g.Settings.Path },
		check: func(c *Config, g *Group) string {
			if !g.Settings.Path || c == nil {
				return ""
			}
			if c.Engine == EngineCLI {
				return `path probes need the tcl engine (one hping3 for all targets): engine "cli" cannot send them`
			}
			return ""
		}},
	{Key: "max_hops", Flag: "max-hops",
		Help:    "highest TTL a path probe tries; later probes stop at the target's own hop",
		Allowed: fmt.Sprintf("1..%d hops", MaxHopsLimit),
		Applies: "path = true",
		min:     1, max: MaxHopsLimit,
		field: func(_ *Config, g *Group) any { return &g.Settings.MaxHops }},
	{Key: "flows", Flag: "flows",
		Help:    "flows a target's path probes take, each with a source port (icmp: echo id and checksum) of its own, so that every branch of a path that balances load is found: the i-th packet of each TTL takes flow i mod flows; flow 0 is the target's own (docs/paths.md)",
		Allowed: fmt.Sprintf("1..%d", MaxFlows),
		Applies: "path = true",
		min:     1, max: MaxFlows,
		field: func(_ *Config, g *Group) any { return &g.Settings.Flows },
		check: func(c *Config, g *Group) string {
			if c == nil {
				return ""
			}
			// Said once, at the first TCP or UDP table.
			if first := slices.IndexFunc(c.Groups, func(o Group) bool { return o.Settings.Protocol != ICMP }); first >= 0 && &c.Groups[first] == g {
				for proto, n := range flowPorts(c) {
					if n > MaxSourcePorts {
						return fmt.Sprintf("the tables' targets need up to %d %s source ports at once (one per flow of each target), more than the %d the plugin may use: fewer flows or fewer targets", n, proto, MaxSourcePorts)
					}
				}
			}
			return ""
		}},
	{Key: "tags",
		Help:        "constant tags (attributes) for the table's lines, as a [inputs.hping3.tags] table",
		Allowed:     "non-empty keys and values of printable UTF-8, not ending in a backslash; no key host, target, ip, protocol, port, hop, hop_ip, flow, nor tos, dscp, source_address when the table sets them",
		DefaultText: "none",
		field:       func(_ *Config, g *Group) any { return &g.Tags }},

	{Key: "poll_interval", Flag: "poll-interval", Top: true,
		Help:        "also run a round this often (Telegraf: with signal = \"none\")",
		Allowed:     "0 (rounds on stdin lines and signals only) or 1s..24h",
		DefaultText: "0 (--otlp, --prometheus-listen: 10s)",
		Applies:     "Telegraf execd, --otlp, --prometheus-listen",
		Rounds:      true,
		field:       func(c *Config, _ *Group) any { return &c.PollInterval },
		check: func(c *Config, _ *Group) string {
			if d := c.PollInterval; d != 0 && (d < time.Second || d > 24*time.Hour) {
				return "0 (rounds on stdin lines and signals only) or 1s..24h"
			}
			return ""
		}},
	{Key: "max_packet_rate", Flag: "max-packet-rate", Top: true,
		Help:    "packets per second over all targets",
		Allowed: fmt.Sprintf("1..%d packets/s over all targets", MaxTotalRateLimit),
		min:     1, max: MaxTotalRateLimit,
		field: func(c *Config, _ *Group) any { return &c.MaxPacketRate }},
	{Key: "mode", Flag: "mode", Top: true,
		Help:        "continuous: every target probed all the time, one packet every interval, each report covering the packets decided since the previous one (count does not apply); rounds: count packets per target per report (docs/configuration.md)",
		Allowed:     `one of "continuous", "rounds"; continuous needs the tcl engine`,
		DefaultText: "continuous (--once and --site24x7: one round)",
		Applies:     "Telegraf execd, --otlp, --prometheus-listen",
		Rounds:      true,
		field:       func(c *Config, _ *Group) any { return &c.Mode },
		check: func(c *Config, _ *Group) string {
			switch c.Mode {
			case "", ModeRounds:
				return ""
			case ModeContinuous:
				if c.Engine == EngineCLI && !c.modeDefaulted {
					return `continuous needs the tcl engine (one hping3 for all targets): engine "cli" runs rounds only`
				}
				return ""
			}
			return `one of "continuous", "rounds"`
		}},
	{Key: "vantage", Flag: "vantage", Top: true,
		Help:        "where the measurements are taken from (a host or site name): the tag vantage on every line, the attribute vantage on every OpenTelemetry point, so that many plugins can report to one place",
		Allowed:     "printable UTF-8, 1..64 characters, not ending in a backslash",
		DefaultText: "none",
		Applies:     "Telegraf execd, --once, --otlp, --prometheus-listen",
		field:       func(c *Config, _ *Group) any { return &c.Vantage },
		check: func(c *Config, _ *Group) string {
			if v := c.Vantage; v != "" && (!TagSafe(v) || utf8.RuneCountInString(v) > 64) {
				return "printable UTF-8, 1..64 characters, not ending in a backslash"
			}
			return ""
		}},
	{Key: "engine", Flag: "engine", Top: true,
		Help:        "how hping3 runs: tcl, one hping3 for every target; cli, one hping3 per target; auto, tcl when the configured hping3 has hping3's Tcl API (docs/engines.md)",
		Allowed:     `one of "auto", "tcl", "cli"`,
		DefaultText: "auto",
		field:       func(c *Config, _ *Group) any { return &c.Engine },
		check: func(c *Config, _ *Group) string {
			switch c.Engine {
			case "", EngineAuto, EngineTcl, EngineCLI:
				return ""
			}
			return `one of "auto", "tcl", "cli"`
		}},
}

// Table returns the settings table, for --help, the docs and tests.
func Table() []Setting {
	out := make([]Setting, len(settingsTable))
	for i, s := range settingsTable {
		out[i] = *s
	}
	return out
}

// lookup finds a setting by TOML key.
func lookup(key string, top bool) *Setting {
	for _, s := range settingsTable {
		if s.Key == key && s.Top == top {
			return s
		}
	}
	return nil
}

// keys returns the TOML keys of one level, for "did you mean".
func keys(top bool) []string {
	var out []string
	for _, s := range settingsTable {
		if s.Top == top {
			out = append(out, s.Key)
		}
	}
	if top {
		out = append(out, "inputs")
	}
	return out
}
