package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Validate checks one group's settings; field names are prefixed with prefix
// (e.g. "inputs.hping3[0].") so the message points at the table at fault.
func (s Settings) Validate(prefix string) error {
	var errs []error
	bad := func(field string, v any, allowed string) {
		errs = append(errs, &FieldError{Field: prefix + field, Value: v, Allowed: allowed})
	}
	switch s.Protocol {
	case ICMP, TCP, UDP:
	default:
		bad("protocol", fmt.Sprintf("%q", s.Protocol), `one of "icmp", "tcp", "udp"`)
	}
	switch {
	case s.Protocol == ICMP && s.Port != 0:
		bad("port", s.Port, "only for protocol tcp or udp")
	case (s.Protocol == TCP || s.Protocol == UDP) && (s.Port < 1 || s.Port > 65535):
		bad("port", s.Port, fmt.Sprintf("required for protocol %s: 1..65535", s.Protocol))
	}
	if s.Protocol == TCP {
		if err := checkTCPFlags(s.TCPFlags); err != "" {
			bad("tcp_flags", fmt.Sprintf("%q", s.TCPFlags), err)
		}
	}
	if s.Count < 1 || s.Count > MaxCount {
		bad("count", s.Count, fmt.Sprintf("1..%d packets per target per round", MaxCount))
	}
	if err := checkInterval(s.Interval); err != "" {
		bad("interval", s.Interval, err)
	} else if s.Rate() > MaxTargetRate {
		bad("interval", s.Interval, fmt.Sprintf("%.0f packets/s to one target exceeds the cap of %d/s: at least %v",
			s.Rate(), MaxTargetRate, time.Second/MaxTargetRate))
	}
	if s.Timeout < MinTimeout || s.Timeout > MaxTimeout {
		bad("timeout", s.Timeout, fmt.Sprintf("%v..%v (hping3 stops listening 1s after its last packet)", MinTimeout, MaxTimeout))
	}
	if s.DataSize < 0 || s.DataSize > MaxDataSize {
		bad("data_size", s.DataSize, fmt.Sprintf("0..%d bytes", MaxDataSize))
	}
	if s.TTL < 0 || s.TTL > 255 {
		bad("ttl", s.TTL, "1..255 (0 keeps hping3's default of 64)")
	}
	if s.TOS < 0 || s.TOS > 255 {
		bad("tos", s.TOS, "0..255")
	}
	if s.Interface != "" {
		// hping3 matches -I by substring and silently falls back to lo, so
		// an interface must exist under exactly this name.
		if _, err := net.InterfaceByName(s.Interface); err != nil {
			bad("interface", fmt.Sprintf("%q", s.Interface), "the exact name of an existing network interface")
		}
	}
	if s.DNSTimeout < time.Millisecond || s.DNSTimeout > MaxDNSTimeout {
		bad("dns_timeout", s.DNSTimeout, fmt.Sprintf("1ms..%v", MaxDNSTimeout))
	}
	if s.Concurrency < 1 || s.Concurrency > MaxConcurrency {
		bad("concurrency", s.Concurrency, fmt.Sprintf("1..%d hping3 processes at once", MaxConcurrency))
	}
	if strings.HasPrefix(s.HPing3, "-") {
		bad("hping3", fmt.Sprintf("%q", s.HPing3), "a path to the hping3 binary")
	}
	for i, p := range s.Percentiles {
		if p < 1 || p > 99 || slices.Contains(s.Percentiles[:i], p) {
			bad("percentiles", p, "each 1..99, each once")
		}
	}
	return errors.Join(errs...)
}

// Validate checks the whole configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Groups) == 0 {
		errs = append(errs, &FieldError{Field: "targets", Value: "[]", Allowed: "at least one target (--target HOST, or targets in an [[inputs.hping3]] table)"})
	}
	if c.MaxPacketRate < 1 || c.MaxPacketRate > MaxTotalRateLimit {
		errs = append(errs, &FieldError{Field: "max_packet_rate", Value: c.MaxPacketRate, Allowed: fmt.Sprintf("1..%d packets/s over all targets", MaxTotalRateLimit)})
	}
	switch c.Engine {
	case "", EngineAuto, EngineTcl, EngineCLI:
	default:
		errs = append(errs, &FieldError{Field: "engine", Value: fmt.Sprintf("%q", c.Engine), Allowed: `one of "auto", "tcl", "cli"`})
	}
	if c.PollInterval != 0 && (c.PollInterval < time.Second || c.PollInterval > 24*time.Hour) {
		errs = append(errs, &FieldError{Field: "poll_interval", Value: c.PollInterval, Allowed: "0 (rounds on stdin lines and signals only) or 1s..24h"})
	}
	for i, g := range c.Groups {
		prefix := ""
		if len(c.Groups) > 1 {
			prefix = fmt.Sprintf("inputs.hping3[%d].", i)
		}
		if len(g.Targets) == 0 {
			errs = append(errs, &FieldError{Field: prefix + "targets", Value: "[]", Allowed: "at least one target"})
		}
		errs = append(errs, g.Settings.Validate(prefix))
		if checkInterval(g.Settings.Interval) == "" && g.Settings.Rate() > float64(c.MaxPacketRate) {
			errs = append(errs, &FieldError{Field: prefix + "interval", Value: g.Settings.Interval,
				Allowed: fmt.Sprintf("one target's %.0f packets/s exceeds max_packet_rate %d/s", g.Settings.Rate(), c.MaxPacketRate)})
		}
		for k, v := range g.Tags {
			if !TagSafe(k) || !TagSafe(v) {
				errs = append(errs, &FieldError{Field: prefix + "tags", Value: fmt.Sprintf("%q=%q", k, v), Allowed: "non-empty keys and values of printable UTF-8, not ending in a backslash"})
			}
			if reservedTags[k] {
				errs = append(errs, &FieldError{Field: prefix + "tags." + k, Value: fmt.Sprintf("%q", v), Allowed: "a key other than host, target, ip, protocol, port"})
			}
		}
	}
	return errors.Join(errs...)
}

// TagSafe reports whether s can be an influx line-protocol tag key or value
// as it is. The encoder drops a whole line for any other (empty, invalid
// UTF-8, a control character, a trailing backslash, which cannot be
// round-tripped), and with it a target's only record of the round.
func TagSafe(s string) bool {
	if s == "" || !utf8.ValidString(s) || strings.HasSuffix(s, `\`) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// reservedTags are set by the plugin itself or by Telegraf (host).
var reservedTags = map[string]bool{"host": true, "target": true, "ip": true, "protocol": true, "port": true}

func checkInterval(d time.Duration) string {
	const allowed = "1ms..999ms, or whole seconds 1s..60s"
	switch {
	case d < MinInterval:
		return allowed + " (hping3 cannot receive below 1ms)"
	case d <= MaxSubSecond:
		return ""
	case d > MaxInterval:
		return allowed
	case d%time.Second != 0:
		return allowed + " (hping3 takes only whole seconds from 1s up)"
	}
	return ""
}

// tcpFlagSet is the subset of hping3's TCP flags the plugin lets through;
// X and Y (the ECN bits) are left out.
const tcpFlagSet = "SAFRPU"

func checkTCPFlags(f string) string {
	const allowed = `one or more of S A F R P U, each once, e.g. "S" or "SA"`
	if f == "" {
		return allowed
	}
	for i, c := range f {
		if !strings.ContainsRune(tcpFlagSet, c) || strings.ContainsRune(f[:i], c) {
			return allowed
		}
	}
	return ""
}
