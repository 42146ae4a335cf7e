package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Validate checks one group's settings on their own (hping3's argument
// builder re-checks them); field names are prefixed with prefix (e.g.
// "inputs.hping3[0].") so the message points at the table at fault.
func (s Settings) Validate(prefix string) error {
	g := &Group{Targets: []string{"-"}, Settings: s}
	var errs []error
	for _, st := range settingsTable {
		if !st.Top && st.Key != "targets" && st.Key != "tags" {
			errs = append(errs, st.validate(nil, g, prefix))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the whole configuration: every setting of the table,
// top-level and per group, then the tags. The groups a targets_file adds
// carry their table's settings, so their errors name the table and are
// said once.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	add := func(err error) {
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			errs = append(errs, err)
		}
	}
	if len(c.Groups) == 0 {
		add(&FieldError{Field: "targets", Value: "[]", Allowed: "at least one target (--target HOST, or targets or targets_file in an [[inputs.hping3]] table)"})
	}
	for _, st := range settingsTable {
		if st.Top {
			add(st.validate(c, nil, ""))
		}
	}
	tables := len(c.Groups)
	if c.tables > 0 {
		tables = c.tables
	}
	prefix := func(i int, g *Group) string {
		if c.tables > 0 {
			i = g.Table
		}
		if tables > 1 {
			return fmt.Sprintf("inputs.hping3[%d].", i)
		}
		return ""
	}
	check := func(g *Group, prefix string) {
		for _, st := range settingsTable {
			if !st.Top {
				add(st.validate(c, g, prefix))
			}
		}
		for _, k := range sortedKeys(g.Tags) {
			v := g.Tags[k]
			if !TagSafe(k) || !TagSafe(v) {
				add(&FieldError{Field: prefix + "tags", Value: fmt.Sprintf("%q=%q", k, v), Allowed: "non-empty keys and values of printable UTF-8, not ending in a backslash"})
			}
			if c.reserved(k, g.Settings) {
				add(&FieldError{Field: prefix + "tags." + k, Value: fmt.Sprintf("%q", v), Allowed: "a key other than " + reservedText})
			}
		}
	}
	for i := range c.Groups {
		check(&c.Groups[i], prefix(i, &c.Groups[i]))
	}
	for i := range c.emptyTables {
		check(&c.emptyTables[i], prefix(0, &c.emptyTables[i]))
	}
	c.resolveDefaults()
	return errors.Join(errs...)
}

// resolveDefaults gives an unset mode and engine their defaults, once, so
// that nothing after Validate meets "". A mode left to its default is not
// refused with engine "cli", as one asked for would be (modeDefaulted,
// also when Validate runs again): the core probes it in rounds, with a W!
// (core.NewSource).
func (c *Config) resolveDefaults() {
	if c.Mode == "" {
		c.Mode, c.modeDefaulted = ModeContinuous, true
	}
	if c.Engine == "" {
		c.Engine = EngineAuto
	}
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
var reservedTags = map[string]bool{"host": true, "target": true, "ip": true, "protocol": true, "port": true, "hop": true, "hop_ip": true, "flow": true}

// reservedText lists the tag names the plugin sets, for errors.
const reservedText = "host, target, ip, protocol, port, hop, hop_ip, flow, vantage (when the top-level vantage is set), tos, dscp, source_address (when the table sets them)"

// reserved reports whether a table with settings s may not have the tag
// (or targets_file label) k: the plugin sets it on the table's lines.
func (c *Config) reserved(k string, s Settings) bool {
	_, own := s.SettingTags()[k]
	return reservedTags[k] || own || (k == VantageTag && c.Vantage != "")
}

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

// flowPorts counts the source ports the TCP and UDP targets hold at once
// at most, by protocol: one per flow of each target (flows with path
// probes, else one). Targets share a port where their flows' hashes meet,
// so fewer are reserved.
func flowPorts(c *Config) map[Protocol]int {
	n := map[Protocol]int{}
	for _, g := range c.Groups {
		s := g.Settings
		if s.Protocol == ICMP {
			continue
		}
		n[s.Protocol] += len(g.Targets) * s.TargetFlows()
	}
	return n
}

// validate checks one setting's value in g (nil for a top-level one) and
// returns the error, or nil.
func (s *Setting) validate(c *Config, g *Group, prefix string) error {
	v := s.field(c, g)
	shown := shownValue(v)
	if s.max > s.min {
		var n int64
		switch v := v.(type) {
		case *int:
			n = int64(*v)
		case *time.Duration:
			n = int64(*v)
		}
		if n < s.min || n > s.max {
			return &FieldError{Field: prefix + s.Key, Value: shown, Allowed: s.Allowed}
		}
	}
	if p, ok := v.(*[]int); ok { // percentiles
		for i, x := range *p {
			if x < 1 || x > 99 || slices.Contains((*p)[:i], x) {
				return &FieldError{Field: prefix + s.Key, Value: x, Allowed: s.Allowed}
			}
		}
	}
	if s.check != nil {
		if why := s.check(c, g); why != "" {
			return &FieldError{Field: prefix + s.Key, Value: shown, Allowed: why}
		}
	}
	return nil
}

// shownValue is a value as an error message quotes it: strings quoted.
func shownValue(v any) any {
	switch v := v.(type) {
	case *string:
		return fmt.Sprintf("%q", *v)
	case *Protocol:
		return fmt.Sprintf("%q", *v)
	case *Engine:
		return fmt.Sprintf("%q", *v)
	case *Mode:
		return fmt.Sprintf("%q", *v)
	case *int:
		return *v
	case *time.Duration:
		return *v
	case *[]string:
		return fmt.Sprintf("%q", *v)
	}
	return v
}
