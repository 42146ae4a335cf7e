// Package config holds the plugin's settings: what a TOML file or the command
// line may set, their defaults, and the checks that reject a bad value before
// any packet is sent. One table (settings.go) lists every setting; the file
// loader, the flags, validation, --help and docs/configuration.md's table
// all come from it, and tests hold examples/hping3-plugin.conf to it.
package config

import (
	"fmt"
	"time"
)

// Protocol is the probe type hping3 sends.
type Protocol string

const (
	ICMP Protocol = "icmp"
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
)

// Limits that keep the plugin from becoming a flood tool or from driving
// hping3 outside the range where it measures correctly (docs/hping3.md).
const (
	MinInterval       = time.Millisecond // hping3 -i u1000: below about u20 it starves its receiver
	MaxSubSecond      = 999 * time.Millisecond
	MaxInterval       = 60 * time.Second
	MaxCount          = 400 // hping3 keeps send times for 400 sequence numbers only
	MaxTargetRate     = 100 // packets per second to one target
	MaxTotalRateLimit = 10000
	MinTimeout        = time.Millisecond
	MaxTimeout        = 30 * time.Second // the Tcl engine listens as long as a timeout asks
	MaxCLITimeout     = time.Second      // the CLI hping3 stops listening one second after its last packet
	MaxDataSize       = 8972             // one unfragmented packet on a 9000-byte (jumbo) MTU
	MaxCLIDataSize    = 1472             // one unfragmented ICMP or UDP packet on a 1500-byte MTU

	// MaxInFlight bounds timeout × max_packet_rate: the packets that may
	// wait for an answer at once. Answers are told apart by the 16-bit IP
	// id (which ICMP errors quote) and ICMP sequence, which must not wrap
	// within a timeout; 5,536 numbers are left for the pacer's catch-up
	// burst and the capture's grace.
	MaxInFlight     = 60000
	MaxConcurrency  = 256
	MaxDNSTimeout   = 30 * time.Second
	MaxTargetLength = 253 // longest valid DNS name
	MaxHopsLimit    = 64  // a path longer than this is a loop
	MaxFlows        = 32  // find every branch of a 7-way split with 95% probability (docs/paths.md)

	// The Tcl engine's TCP and UDP source ports (below Linux's ephemeral
	// range), of which one engine holds at most half per protocol.
	FirstProbePort = 10000
	LastProbePort  = 32767
	MaxSourcePorts = (LastProbePort - FirstProbePort + 1) / 2

	// CaptureGrace is how long after a packet's timeout its answers are
	// still read: hping3 stamps a capture when its handler runs, up to a
	// millisecond after the packet arrived, and the plugin's own capture
	// hands a packet over up to 10 ms after it arrived.
	CaptureGrace = 20 * time.Millisecond
)

// Defaults, chosen from measurements in the network lab (docs/performance.md).
const (
	DefaultCount         = 5
	DefaultInterval      = time.Second
	DefaultTimeout       = time.Second
	DefaultDNSTimeout    = 2 * time.Second
	DefaultConcurrency   = 32   // lab: no false loss up to 64, loss from 96 (2 cores); 32 leaves a factor 2
	DefaultMaxPacketRate = 1000 // lab: 1000 packets/s over 10 probes at once, no false loss
	DefaultPollInterval  = 10 * time.Second
	DefaultMaxHops       = 30 // as traceroute and mtr
)

// Settings are the probe settings shared by one group of targets.
type Settings struct {
	Protocol    Protocol
	Port        int           // destination port, tcp and udp only
	TCPFlags    string        // subset of "SAFRPU", tcp only
	Count       int           // packets per target per round
	Interval    time.Duration // between packets
	Timeout     time.Duration // wait for the last reply
	DataSize    int           // payload bytes (hping3 -d)
	TTL         int           // 0: hping3's default (64)
	TOS         int           // 0: hping3's default (0)
	DSCP        string        // a class name or 0..63 (TOS byte DSCP<<2); "" none; not with TOS
	DontFrag    bool          // set IP's don't-fragment bit
	Source      string        // source address, an IPv4 address of this host; "" by route
	Interface   string        // empty: hping3 picks by route
	DNSTimeout  time.Duration
	Concurrency int    // hping3 processes of this group at once
	HPing3      string // binary path; empty: PATH, then /usr/sbin/hping3
	Percentiles []int  // e.g. 50, 95, 99
	Path        bool   // also probe the path hop by hop (TTL 1..MaxHops)
	MaxHops     int    // highest TTL a path probe tries
	Flows       int    // flows a target's path probes take (1: the target's own only)
}

// Group is one [[inputs.hping3]] table: targets sharing settings and tags.
// A table's targets_file adds groups of its own (see ReadTargetsFiles).
type Group struct {
	Targets  []string
	Settings Settings
	Tags     map[string]string // constant tags added to every line of the group

	// TargetsFile is the table's targets_file as written ("" none); only a
	// table's own group has it.
	TargetsFile string
	// Table is the index of the [[inputs.hping3]] table the group comes
	// from (the --target group counts after the file's tables). Set by
	// ReadTargetsFiles; a group derived from a targets_file has the index
	// of the table that names the file.
	Table int
	// From says where a group derived from a targets_file came from, for
	// messages: "targets_file /etc/x.json entry 3", or "entries 0, 3"
	// when several entries share port and labels. "" for a table's own
	// targets and for --target.
	From string
}

// Config is everything one plugin process runs.
type Config struct {
	Groups        []Group
	PollInterval  time.Duration // 0: only on stdin lines or signals
	MaxPacketRate int           // packets per second over all running probes
	Engine        Engine        // how hping3 is driven; "" is EngineAuto (Validate sets it)
	Mode          Mode          // how the long-running front ends probe; "" is ModeContinuous (Validate sets it)
	Vantage       string        // where the measurements are taken from: a tag of every line; "" none

	modeDefaulted bool     // Mode was unset: continuous by default, not asked for
	path          string   // the TOML file read, for messages; "" none
	dir           string   // its directory: relative targets_file paths start there
	read          bool     // ReadTargetsFiles has run
	tables        int      // tables before ReadTargetsFiles expanded them (0: Groups are the tables)
	targetsFiles  []string // absolute, each once
	emptyTables   []Group  // tables left without a group (no targets, an empty targets_file), still validated
}

// Tags returns the constant tags of group i's lines: the group's own, the
// ones its sending settings give (SettingTags), and, when set, vantage.
func (c *Config) Tags(i int) map[string]string {
	g := c.Groups[i]
	own := g.Settings.SettingTags()
	if c.Vantage == "" && len(own) == 0 {
		return g.Tags
	}
	tags := make(map[string]string, len(g.Tags)+len(own)+1)
	for k, v := range g.Tags {
		tags[k] = v
	}
	for k, v := range own {
		tags[k] = v
	}
	if c.Vantage != "" {
		tags[VantageTag] = c.Vantage
	}
	return tags
}

// VantageTag is the tag (OpenTelemetry attribute) that carries vantage.
const VantageTag = "vantage"

// Mode says how the long-running front ends (Telegraf execd, --otlp) probe;
// --once and --site24x7 always run one round.
type Mode string

const (
	// ModeContinuous probes every target all the time, one packet every
	// interval, and each report covers the packets decided since the
	// previous one.
	ModeContinuous Mode = "continuous"
	// ModeRounds probes every target count times per report.
	ModeRounds Mode = "rounds"
)

// Engine says how the plugin drives hping3.
type Engine string

const (
	// EngineAuto uses the Tcl engine when the configured hping3 has
	// hping3's Tcl API, else the CLI engine.
	EngineAuto Engine = "auto"
	// EngineTcl runs one `hping3 exec` process for every target of a round.
	EngineTcl Engine = "tcl"
	// EngineCLI runs one hping3 process per target (up to concurrency at
	// once), for hping3 builds without Tcl.
	EngineCLI Engine = "cli"
)

// DefaultSettings returns the settings a group starts from.
func DefaultSettings() Settings {
	return Settings{
		Protocol:    ICMP,
		Count:       DefaultCount,
		Interval:    DefaultInterval,
		Timeout:     DefaultTimeout,
		DNSTimeout:  DefaultDNSTimeout,
		Concurrency: DefaultConcurrency,
		TCPFlags:    "S",
		MaxHops:     DefaultMaxHops,
		Flows:       1,
	}
}

// FieldError names the setting at fault, the value given and what is allowed.
type FieldError struct {
	Field   string // e.g. "count" or "inputs.hping3[1].count"
	Value   any
	Allowed string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s = %v: %s", e.Field, e.Value, e.Allowed)
}

// Rate returns the packets per second one target of the group receives.
func (s Settings) Rate() float64 { return float64(time.Second) / float64(s.Interval) }

// TargetFlows returns how many flows (source ports; ICMP echo ids) each
// target of the group takes: Flows with path probes, which take them in
// turn, else one, the target's own.
func (s Settings) TargetFlows() int {
	if !s.Path {
		return 1
	}
	return max(s.Flows, 1)
}

// Duration returns how long one probe of the group runs when every reply
// comes back: hping3 sends count packets interval apart, then waits for the
// last reply at most Timeout.
func (s Settings) Duration() time.Duration {
	return time.Duration(s.Count-1)*s.Interval + s.Timeout
}
