package config

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ProbeFlags are the command-line probe settings every front end shares.
// Flags the user set override the same setting in every group of a file;
// --target adds a group of its own.
type ProbeFlags struct {
	fs          *flag.FlagSet
	Targets     stringList
	Protocol    string
	Port        int
	TCPFlags    string
	Count       int
	Interval    time.Duration
	Timeout     time.Duration
	DataSize    int
	TTL         int
	TOS         int
	Interface   string
	DNSTimeout  time.Duration
	Concurrency int
	HPing3      string
	Percentiles intList
	Engine      string
}

// RegisterProbeFlags defines the probe flags on fs, with defaults d.
func RegisterProbeFlags(fs *flag.FlagSet, d Settings) *ProbeFlags {
	p := &ProbeFlags{fs: fs}
	fs.Var(&p.Targets, "target", "host name or IPv4 address to probe (repeatable)")
	fs.StringVar(&p.Protocol, "protocol", string(d.Protocol), "probe type: icmp, tcp or udp")
	fs.IntVar(&p.Port, "port", d.Port, "destination port (tcp and udp)")
	fs.StringVar(&p.TCPFlags, "tcp-flags", d.TCPFlags, "TCP flags to set, from S A F R P U")
	fs.IntVar(&p.Count, "count", d.Count, fmt.Sprintf("packets per target per round (1..%d)", MaxCount))
	fs.DurationVar(&p.Interval, "interval", d.Interval, "time between packets (1ms..999ms, or 1s..60s whole seconds)")
	fs.DurationVar(&p.Timeout, "timeout", d.Timeout, "wait for the last reply (1ms..1s)")
	fs.IntVar(&p.DataSize, "data-size", d.DataSize, fmt.Sprintf("payload bytes (0..%d)", MaxDataSize))
	fs.IntVar(&p.TTL, "ttl", d.TTL, "IP TTL of the probes (1..255; 0: hping3's default)")
	fs.IntVar(&p.TOS, "tos", d.TOS, "IP type of service (0..255)")
	fs.StringVar(&p.Interface, "interface", d.Interface, "network interface to send on (exact name)")
	fs.DurationVar(&p.DNSTimeout, "dns-timeout", d.DNSTimeout, "time limit for resolving one name")
	fs.IntVar(&p.Concurrency, "concurrency", d.Concurrency, fmt.Sprintf("hping3 processes at once (1..%d)", MaxConcurrency))
	fs.StringVar(&p.HPing3, "hping3", d.HPing3, "path to the hping3 binary (default: PATH, then /usr/sbin/hping3)")
	fs.Var(&p.Percentiles, "percentiles", "RTT percentiles to report, comma separated, e.g. 50,95,99")
	fs.StringVar(&p.Engine, "engine", string(EngineAuto), "how hping3 runs: auto (tcl when hping3 has its Tcl API), tcl (one hping3 for all targets) or cli (one hping3 per target)")
	return p
}

// set reports which flags were given on the command line.
func (p *ProbeFlags) set() map[string]bool {
	m := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// Apply overrides s with every probe flag the user set.
func (p *ProbeFlags) Apply(s *Settings) {
	set := p.set()
	if set["protocol"] {
		s.Protocol = Protocol(strings.ToLower(p.Protocol))
	}
	if set["port"] {
		s.Port = p.Port
	}
	if set["tcp-flags"] {
		s.TCPFlags = p.TCPFlags
	}
	if set["count"] {
		s.Count = p.Count
	}
	if set["interval"] {
		s.Interval = p.Interval
	}
	if set["timeout"] {
		s.Timeout = p.Timeout
	}
	if set["data-size"] {
		s.DataSize = p.DataSize
	}
	if set["ttl"] {
		s.TTL = p.TTL
	}
	if set["tos"] {
		s.TOS = p.TOS
	}
	if set["interface"] {
		s.Interface = p.Interface
	}
	if set["dns-timeout"] {
		s.DNSTimeout = p.DNSTimeout
	}
	if set["concurrency"] {
		s.Concurrency = p.Concurrency
	}
	if set["hping3"] {
		s.HPing3 = p.HPing3
	}
	if set["percentiles"] {
		s.Percentiles = p.Percentiles
	}
}

// Build returns the configuration from an optional file and the flags, with
// base as the settings a --target group starts from (front ends differ:
// Site24x7 defaults to the old plugin's TCP SYN probe). It validates.
func (p *ProbeFlags) Build(file string, base Settings) (*Config, error) {
	c := &Config{MaxPacketRate: DefaultMaxPacketRate}
	if file != "" {
		var err error
		if c, err = LoadFile(file); err != nil {
			return nil, err
		}
	}
	for i := range c.Groups {
		p.Apply(&c.Groups[i].Settings)
	}
	if p.set()["engine"] {
		c.Engine = Engine(strings.ToLower(p.Engine))
	}
	if len(p.Targets) > 0 {
		s := base
		p.Apply(&s)
		c.Groups = append(c.Groups, Group{Targets: append([]string(nil), p.Targets...), Settings: s})
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("percentiles: %q is not a whole number", f)
		}
		*l = append(*l, n)
	}
	return nil
}
