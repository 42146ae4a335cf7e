package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// fileConfig mirrors the TOML file. Pointers tell a key that was set from one
// that was left out, so defaults apply only to the latter.
type fileConfig struct {
	PollInterval  *time.Duration `toml:"poll_interval"`
	MaxPacketRate *int           `toml:"max_packet_rate"`
	Engine        *string        `toml:"engine"`
	Inputs        struct {
		HPing3 []fileGroup `toml:"hping3"`
	} `toml:"inputs"`
}

type fileGroup struct {
	Targets     []string          `toml:"targets"`
	Protocol    *string           `toml:"protocol"`
	Port        *int              `toml:"port"`
	TCPFlags    *string           `toml:"tcp_flags"`
	Count       *int              `toml:"count"`
	Interval    *time.Duration    `toml:"interval"`
	Timeout     *time.Duration    `toml:"timeout"`
	DataSize    *int              `toml:"data_size"`
	TTL         *int              `toml:"ttl"`
	TOS         *int              `toml:"tos"`
	Interface   *string           `toml:"interface"`
	DNSTimeout  *time.Duration    `toml:"dns_timeout"`
	Concurrency *int              `toml:"concurrency"`
	HPing3      *string           `toml:"hping3"`
	Percentiles []int             `toml:"percentiles"`
	Tags        map[string]string `toml:"tags"`
}

// groupKeys and topKeys are the keys a file may use, for "did you mean".
var (
	groupKeys = []string{"targets", "protocol", "port", "tcp_flags", "count", "interval", "timeout",
		"data_size", "ttl", "tos", "interface", "dns_timeout", "concurrency", "hping3", "percentiles", "tags"}
	topKeys = []string{"poll_interval", "max_packet_rate", "engine", "inputs"}
)

// LoadFile reads a TOML file of [[inputs.hping3]] tables. The result is not
// yet validated: flags may still change it.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseFile(path, string(data))
}

func parseFile(path, text string) (*Config, error) {
	var fc fileConfig
	md, err := toml.Decode(text, &fc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// Name the key: a bad value's message alone ("invalid
			// duration") does not say which setting it was.
			msg := pe.Message
			if pe.LastKey != "" {
				msg = fmt.Sprintf("%s: %s", pe.LastKey, msg)
			}
			if strings.HasPrefix(pe.Message, "invalid duration") {
				msg += ` (a duration such as "200ms", "1s" or "1m")`
			}
			return nil, fmt.Errorf("config %s: line %d: %s", path, pe.Position.Line, msg)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		for _, k := range und {
			errs = append(errs, unknownKey(path, text, k))
		}
		return nil, errors.Join(errs...)
	}
	c := &Config{MaxPacketRate: DefaultMaxPacketRate}
	if fc.PollInterval != nil {
		c.PollInterval = *fc.PollInterval
	}
	if fc.MaxPacketRate != nil {
		c.MaxPacketRate = *fc.MaxPacketRate
	}
	if fc.Engine != nil {
		c.Engine = Engine(strings.ToLower(*fc.Engine))
	}
	for _, fg := range fc.Inputs.HPing3 {
		c.Groups = append(c.Groups, fg.group())
	}
	return c, nil
}

func (fg fileGroup) group() Group {
	s := DefaultSettings()
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setInt := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setDur := func(dst *time.Duration, src *time.Duration) {
		if src != nil {
			*dst = *src
		}
	}
	if fg.Protocol != nil {
		s.Protocol = Protocol(strings.ToLower(*fg.Protocol))
	}
	setInt(&s.Port, fg.Port)
	set(&s.TCPFlags, fg.TCPFlags)
	setInt(&s.Count, fg.Count)
	setDur(&s.Interval, fg.Interval)
	setDur(&s.Timeout, fg.Timeout)
	setInt(&s.DataSize, fg.DataSize)
	setInt(&s.TTL, fg.TTL)
	setInt(&s.TOS, fg.TOS)
	set(&s.Interface, fg.Interface)
	setDur(&s.DNSTimeout, fg.DNSTimeout)
	setInt(&s.Concurrency, fg.Concurrency)
	set(&s.HPing3, fg.HPing3)
	if fg.Percentiles != nil {
		s.Percentiles = fg.Percentiles
	}
	return Group{Targets: fg.Targets, Settings: s, Tags: fg.Tags}
}

// unknownKey names the key, the line it is on and the closest valid key.
func unknownKey(path string, text string, k toml.Key) error {
	name := k[len(k)-1]
	valid := topKeys
	if len(k) >= 3 && k[0] == "inputs" && k[1] == "hping3" {
		valid = groupKeys
	}
	msg := fmt.Sprintf("config %s", path)
	if line := findKeyLine(text, name); line > 0 {
		msg += fmt.Sprintf(": line %d", line)
	}
	msg += fmt.Sprintf(": unknown key %q", k.String())
	if s := closest(name, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return errors.New(msg)
}

func findKeyLine(text, key string) int {
	re := regexp.MustCompile(`^\s*("?)` + regexp.QuoteMeta(key) + `("?)\s*=`)
	for i, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

// closest returns the valid key nearest to name by edit distance, if it is
// near enough to be a typo.
func closest(name string, valid []string) string {
	best, bestD := "", 1<<30
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	for _, v := range sorted {
		if d := editDistance(strings.ToLower(name), v); d < bestD {
			best, bestD = v, d
		}
	}
	if bestD > len(best)/2+1 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
