// A table's targets_file: more targets in Prometheus' file_sd format, read
// into groups of their own so that each carries its labels as tags.

package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"
)

// maxFileProblems bounds the problems one targets_file reports: a generated
// file gone wrong would otherwise flood the log.
const maxFileProblems = 10

// TargetsFiles returns the files the tables' targets_file keys name, as
// absolute paths, each once, in table order: the files to watch. It is
// empty until ReadTargetsFiles (Build) has run.
func (c *Config) TargetsFiles() []string {
	return slices.Clone(c.targetsFiles)
}

// ReadTargetsFiles reads the targets_file of every table into groups of
// their own, placed after the table's own group (which keeps the table's
// targets, and is left out when it has none): one group per distinct port
// and labels, in the order they first appear in the file, each with a copy
// of the table's settings (the port replaced when the entry gives one) and
// the table's tags plus the labels. A file without targets is allowed while
// the configuration has other targets. Build calls it after applying the
// flags; it does nothing when called again. A file's problems come back as
// one error each, naming the configuration file, the table, the file, the
// entry and the problem.
func (c *Config) ReadTargetsFiles() error {
	if c.read {
		return nil
	}
	var (
		out, empty []Group
		files      []string
		errs       []error
		contents   = map[string][]byte{} // a file two tables name is read once
	)
	for i := range c.Groups {
		g := c.Groups[i]
		g.Table = i
		if g.TargetsFile == "" {
			out = append(out, g)
			continue
		}
		path, err := c.targetsFilePath(g.TargetsFile)
		if err != nil {
			errs = append(errs, c.fileError(i, g.TargetsFile, err.Error()))
			continue
		}
		if !slices.Contains(files, path) {
			files = append(files, path)
		}
		derived, problems := c.readTargetsFile(g, path, contents)
		for _, p := range problems {
			errs = append(errs, c.fileError(i, path, p))
		}
		if len(problems) > 0 {
			continue
		}
		if len(g.Targets) > 0 {
			out = append(out, g)
		} else if len(derived) == 0 {
			empty = append(empty, g)
		}
		out = append(out, derived...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if !slices.ContainsFunc(out, func(g Group) bool { return len(g.Targets) > 0 }) {
		for _, g := range empty {
			path, _ := c.targetsFilePath(g.TargetsFile)
			errs = append(errs, c.fileError(g.Table, path, "no targets, and the configuration has no other target"))
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
	c.tables = len(c.Groups)
	c.Groups, c.emptyTables, c.targetsFiles, c.read = out, empty, files, true
	return nil
}

// targetsFilePath makes a targets_file absolute: a relative one starts at
// the configuration file's directory.
func (c *Config) targetsFilePath(name string) (string, error) {
	if !filepath.IsAbs(name) {
		name = filepath.Join(c.dir, name)
	}
	return filepath.Abs(name)
}

// fileError words a targets_file problem:
// "config C: inputs.hping3[T].targets_file F: PROBLEM".
func (c *Config) fileError(table int, file, problem string) error {
	msg := fmt.Sprintf("inputs.hping3[%d].targets_file %s: %s", table, file, problem)
	if c.path != "" {
		msg = fmt.Sprintf("config %s: %s", c.path, msg)
	}
	return errors.New(msg)
}

// targetsFileFormat returns "json" or "yaml" by name's extension, or "".
func targetsFileFormat(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "json"
	case ".yml", ".yaml":
		return "yaml"
	}
	return ""
}

// readTargetsFile reads table g's file at path into derived groups, or
// returns its problems (each "entry N: ..." when an entry is at fault).
func (c *Config) readTargetsFile(g Group, path string, contents map[string][]byte) ([]Group, []string) {
	format := targetsFileFormat(path)
	if format == "" {
		return nil, []string{"not a .json, .yml or .yaml file (Prometheus file_sd format, JSON or YAML by extension)"}
	}
	data, ok := contents[path]
	if !ok {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, []string{fmt.Sprintf("cannot read it: %v", err)}
		}
		contents[path] = data
	}
	entries, problem := fileEntries(data, format)
	if problem != "" {
		return nil, []string{problem}
	}

	type derived struct {
		group   Group
		entries []int
	}
	var (
		groups   []*derived
		byKey    = map[string]*derived{}
		problems []string
		more     int
	)
	report := func(entry int, format string, args ...any) {
		if len(problems) < maxFileProblems {
			problems = append(problems, fmt.Sprintf("entry %d: ", entry)+fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	for n, raw := range entries {
		targets, labels, why := decodeEntry(raw)
		if why != "" {
			report(n, "%s", why)
			continue
		}
		bad := false
		for _, name := range sortedKeys(labels) {
			if why := c.labelProblem(name, labels[name], g.Settings, g.Tags); why != "" {
				report(n, "%s", why)
				bad = true
			}
		}
		for _, t := range targets {
			host, port, why := splitTarget(t, g.Settings)
			if why != "" {
				report(n, "target %q: %s", t, why)
				bad = true
				continue
			}
			if bad {
				continue
			}
			if port == g.Settings.Port {
				port = 0 // the table's own: one group with its other targets
			}
			key := fmt.Sprintf("%d", port)
			for _, name := range sortedKeys(labels) {
				key += "\x00" + name + "\x00" + labels[name]
			}
			d := byKey[key]
			if d == nil {
				d = &derived{group: derivedGroup(g, port, labels)}
				byKey[key] = d
				groups = append(groups, d)
			}
			d.group.Targets = append(d.group.Targets, host)
			if !slices.Contains(d.entries, n) {
				d.entries = append(d.entries, n)
			}
		}
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("%d more problems", more))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	out := make([]Group, len(groups))
	for i, d := range groups {
		d.group.From = fmt.Sprintf("targets_file %s %s", path, entryList(d.entries))
		out[i] = d.group
	}
	return out, nil
}

// derivedGroup is table g's group for the targets of one port (0: the
// table's) and one set of labels.
func derivedGroup(g Group, port int, labels map[string]string) Group {
	d := Group{Settings: g.Settings, Table: g.Table}
	d.Settings.Percentiles = slices.Clone(g.Settings.Percentiles)
	if port != 0 {
		d.Settings.Port = port
	}
	if len(g.Tags)+len(labels) > 0 {
		d.Tags = make(map[string]string, len(g.Tags)+len(labels))
		for k, v := range g.Tags {
			d.Tags[k] = v
		}
		for k, v := range labels {
			d.Tags[k] = v
		}
	}
	return d
}

// entryList words the entries a derived group gathers: "entry 3",
// "entries 0, 3", "entries 0, 1, 2, 3 and 5 more".
func entryList(entries []int) string {
	if len(entries) == 1 {
		return fmt.Sprintf("entry %d", entries[0])
	}
	const shown = 4
	var s []string
	for _, e := range entries[:min(len(entries), shown)] {
		s = append(s, strconv.Itoa(e))
	}
	out := "entries " + strings.Join(s, ", ")
	if len(entries) > shown {
		out += fmt.Sprintf(" and %d more", len(entries)-shown)
	}
	return out
}

// fileEntries splits a file_sd file into its entries, or says why it
// cannot. YAML is turned into JSON first; an empty YAML file, like a JSON
// or YAML null, has no entries.
func fileEntries(data []byte, format string) ([]json.RawMessage, string) {
	if format == "yaml" {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, "not valid YAML: " + strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		}
		data = j
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			return nil, fmt.Sprintf("not valid JSON: line %d: %v", line, err)
		}
		return nil, fmt.Sprintf("%s, not a list of target groups %s", jsonKind(data), entryShape)
	}
	return entries, ""
}

const entryShape = `[{"targets": [...], "labels": {...}}, ...]`

// decodeEntry returns one entry's targets and labels, or why it cannot.
// An entry may leave either out.
func decodeEntry(raw json.RawMessage) ([]string, map[string]string, string) {
	var fields map[string]json.RawMessage
	if kind := jsonKind(raw); kind != "an object" {
		return nil, nil, fmt.Sprintf(`%s, not an object {"targets": [...], "labels": {...}}`, kind)
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, nil, err.Error()
	}
	for _, k := range sortedKeys(fields) {
		if k != "targets" && k != "labels" {
			return nil, nil, fmt.Sprintf(`unknown key %q (an entry has "targets" and "labels")`, k)
		}
	}
	var targets []string
	if raw, ok := fields["targets"]; ok {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil, nil, fmt.Sprintf(`"targets" is %s, not a list of strings`, jsonKind(raw))
		}
		for i, t := range list {
			var s string
			if json.Unmarshal(t, &s) != nil {
				return nil, nil, fmt.Sprintf(`target %d is %s, not a string "HOST" or "HOST:PORT"`, i, jsonKind(t))
			}
			targets = append(targets, s)
		}
	}
	labels := map[string]string{}
	if raw, ok := fields["labels"]; ok {
		var m map[string]json.RawMessage
		if jsonKind(raw) != "an object" || json.Unmarshal(raw, &m) != nil {
			return nil, nil, fmt.Sprintf(`"labels" is %s, not an object of strings`, jsonKind(raw))
		}
		for _, k := range sortedKeys(m) {
			var s string
			if json.Unmarshal(m[k], &s) != nil {
				return nil, nil, fmt.Sprintf("label %q: the value is %s, not a string (quote it)", k, jsonKind(m[k]))
			}
			labels[k] = s
		}
	}
	return targets, labels, ""
}

// jsonKind names the kind of a JSON value, for messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// labelName is Prometheus' rule for a label name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// PrometheusOwn says why name cannot be a label a scrape carries as it is
// (Prometheus sets job and instance itself and reserves names starting
// with __; a name without a letter or digit becomes only underscores,
// which is no label name), or returns "".
func PrometheusOwn(name string) string {
	switch {
	case strings.HasPrefix(name, "__"):
		return "names starting with __ are Prometheus' own"
	case name == "job" || name == "instance":
		return "job and instance are Prometheus' own"
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0:
		return "a name without a letter or digit is no Prometheus label name (it becomes only underscores)"
	}
	return ""
}

// labelProblem returns why a label cannot be a tag of a table with tags,
// or "".
func (c *Config) labelProblem(name, value string, s Settings, tags map[string]string) string {
	own := PrometheusOwn(name)
	switch {
	case !labelName.MatchString(name):
		return fmt.Sprintf("label %q: not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", name)
	case own != "":
		return fmt.Sprintf("label %q: %s", name, own)
	case c.reserved(name, s):
		return fmt.Sprintf("label %q: a tag the plugin sets itself (%s)", name, reservedText)
	}
	if v, ok := tags[name]; ok {
		return fmt.Sprintf("label %s=%q: the table's tags already have %s = %q", name, value, name, v)
	}
	if !TagSafe(value) {
		return fmt.Sprintf("label %q: value %q: not empty, printable UTF-8, not ending in a backslash", name, value)
	}
	return ""
}

// splitTarget splits a file entry's "HOST" or "HOST:PORT" and checks both
// for a table with settings s: it returns the host, the port (0: the
// table's) or why the entry cannot be probed.
func splitTarget(t string, s Settings) (string, int, string) {
	host, port := t, 0
	if _, err := netip.ParseAddr(t); err != nil && strings.Contains(t, ":") {
		h, p, err := net.SplitHostPort(t)
		if err != nil {
			return "", 0, `not "HOST" or "HOST:PORT"`
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return "", 0, fmt.Sprintf("port %q: 1..65535", p)
		}
		host, port = h, int(n)
	}
	if why := CheckHost(host); why != "" {
		return "", 0, why
	}
	switch {
	case port != 0 && s.Protocol != TCP && s.Protocol != UDP:
		return "", 0, fmt.Sprintf("a port only in a tcp or udp table, and this table's protocol is %s", s.Protocol)
	case port == 0 && (s.Protocol == TCP || s.Protocol == UDP) && s.Port == 0:
		return "", 0, fmt.Sprintf("no port, and the table has none: protocol %s needs HOST:PORT or the table's port", s.Protocol)
	}
	return host, port, ""
}

// CheckHost returns why host cannot be a target, or "": an IPv4 literal or
// a DNS host name (letters, digits, '-' and '_' in labels of at most 63
// characters, at most MaxTargetLength in all, not beginning with '-'), the
// rules the probe applies to every target before resolving it.
func CheckHost(host string) string {
	if addr, err := netip.ParseAddr(host); err == nil {
		if !addr.Unmap().Is4() {
			return "an IPv6 address: hping3 probes IPv4 only"
		}
		return ""
	}
	why := ""
	switch {
	case host == "":
		why = "empty"
	case len(host) > MaxTargetLength:
		why = fmt.Sprintf("%d characters, more than %d", len(host), MaxTargetLength)
	case host[0] == '-':
		why = "begins with '-'"
	}
	label := 0
	for i := 0; why == "" && i < len(host); i++ {
		switch ch := host[i]; {
		case ch == '.':
			if label == 0 {
				why = "empty label"
			}
			label = 0
			continue
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_':
		default:
			why = fmt.Sprintf("character %q is not allowed", ch)
		}
		label++
		if why == "" && label > 63 {
			why = "a label is longer than 63 characters"
		}
	}
	if why != "" {
		return fmt.Sprintf("not a valid host name (%s)", why)
	}
	return ""
}
