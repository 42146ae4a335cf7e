package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// LoadFile reads a TOML file of [[inputs.hping3]] tables. The result is not
// yet validated: flags may still change it. The tables' targets_file files
// are not read yet either (ReadTargetsFiles, which Build calls after the
// flags); their relative paths start at path's directory.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseFile(path, string(data))
}

func parseFile(path, text string) (*Config, error) {
	c, unknown, err := decodeFile(text)
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
		msg := err.Error()
		if strings.Contains(msg, "invalid duration") || strings.Contains(msg, "time: ") {
			msg += ` (a duration such as "200ms", "1s" or "1m")`
		}
		return nil, fmt.Errorf("config %s: %s", path, msg)
	}
	if len(unknown) > 0 {
		var errs []error
		for _, k := range unknown {
			errs = append(errs, unknownKey(path, text, k))
		}
		return nil, errors.Join(errs...)
	}
	c.path, c.dir = path, filepath.Dir(path)
	return c, nil
}

// decodeFile decodes text key by key through the settings table: a key
// the table lacks is an unknown key, and each value is decoded into the
// field its entry points at, so its type comes from there.
func decodeFile(text string) (*Config, []toml.Key, error) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(text, &top)
	if err != nil {
		return nil, nil, err
	}
	c := &Config{MaxPacketRate: DefaultMaxPacketRate}
	var unknown []toml.Key
	decode := func(st *Setting, g *Group, key toml.Key, p toml.Primitive) error {
		v := st.field(c, g)
		if err := md.PrimitiveDecode(p, v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		switch v := v.(type) {
		case *Protocol:
			*v = Protocol(strings.ToLower(string(*v)))
		case *Engine:
			*v = Engine(strings.ToLower(string(*v)))
		case *Mode:
			*v = Mode(strings.ToLower(string(*v)))
		}
		return nil
	}
	for _, k := range sortedKeys(top) {
		if k == "inputs" {
			continue
		}
		st := lookup(k, true)
		if st == nil {
			unknown = append(unknown, toml.Key{k})
			continue
		}
		if err := decode(st, nil, toml.Key{k}, top[k]); err != nil {
			return nil, nil, err
		}
	}
	if p, ok := top["inputs"]; ok {
		var inputs map[string]toml.Primitive
		if err := md.PrimitiveDecode(p, &inputs); err != nil {
			return nil, nil, fmt.Errorf("inputs: %w", err)
		}
		for _, k := range sortedKeys(inputs) {
			if k != "hping3" {
				unknown = append(unknown, toml.Key{"inputs", k})
				continue
			}
			var tables []map[string]toml.Primitive
			if err := md.PrimitiveDecode(inputs[k], &tables); err != nil {
				return nil, nil, fmt.Errorf("inputs.hping3: %w (want [[inputs.hping3]] tables)", err)
			}
			for _, t := range tables {
				g := Group{Settings: DefaultSettings(), Table: len(c.Groups)}
				for _, key := range sortedKeys(t) {
					st := lookup(key, false)
					if st == nil {
						unknown = append(unknown, toml.Key{"inputs", "hping3", key})
						continue
					}
					if err := decode(st, &g, toml.Key{"inputs", "hping3", key}, t[key]); err != nil {
						return nil, nil, err
					}
				}
				c.Groups = append(c.Groups, g)
			}
		}
	}
	return c, unknown, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// unknownKey names the key, the line it is on and the closest valid key.
func unknownKey(path string, text string, k toml.Key) error {
	name := k[len(k)-1]
	valid := keys(true)
	if len(k) >= 3 && k[0] == "inputs" && k[1] == "hping3" {
		valid = keys(false)
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
