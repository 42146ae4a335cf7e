package config

import (
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ProbeFlags are the command-line settings every front end shares, one flag
// per settings-table entry that has one. Flags the user set override the
// same setting in every group of a file (top-level ones the file's value);
// --target adds a group of its own.
type ProbeFlags struct {
	fs     *flag.FlagSet
	values map[string]*flagValue // by flag name
}

// flagValue holds one flag's parsed value until Apply copies it into its
// setting's field. Plain values are held in the flag package's own types,
// so --help shows their kind (int, string, duration) and default as for
// any Go program; lists use listValue.
type flagValue struct {
	setting *Setting
	value   reflect.Value // a pointer to int, bool, string, time.Duration, []int or []string
}

// listValue is a list flag: --target repeats, --percentiles is comma
// separated.
type listValue struct{ v any }

func (l listValue) String() string {
	switch v := l.v.(type) {
	case *[]string:
		if v != nil {
			return strings.Join(*v, ",")
		}
	case *[]int:
		if v != nil {
			return (*intList)(v).String()
		}
	}
	return ""
}

func (l listValue) Set(text string) error {
	switch v := l.v.(type) {
	case *[]string:
		*v = append(*v, text)
		return nil
	case *[]int:
		return (*intList)(v).Set(text)
	}
	return fmt.Errorf("not a list")
}

// RegisterProbeFlags defines a flag for every setting of the table that has
// one on fs, showing the defaults d.
func RegisterProbeFlags(fs *flag.FlagSet, d Settings) *ProbeFlags {
	return register(fs, d, true)
}

// RegisterOneRoundFlags is RegisterProbeFlags for a mode that runs one
// round (Site24x7): settings marked Rounds get no flag.
func RegisterOneRoundFlags(fs *flag.FlagSet, d Settings) *ProbeFlags {
	return register(fs, d, false)
}

func register(fs *flag.FlagSet, d Settings, rounds bool) *ProbeFlags {
	p := &ProbeFlags{fs: fs, values: map[string]*flagValue{}}
	c := &Config{MaxPacketRate: DefaultMaxPacketRate, Engine: EngineAuto}
	g := &Group{Settings: d}
	for _, st := range settingsTable {
		if st.Flag == "" || (st.Rounds && !rounds) {
			continue
		}
		usage := flagUsage(st)
		var held any
		switch def := st.field(c, g).(type) {
		case *int:
			held = fs.Int(st.Flag, *def, usage)
		case *bool:
			held = fs.Bool(st.Flag, *def, usage)
		case *time.Duration:
			held = fs.Duration(st.Flag, *def, usage)
		case *string:
			held = fs.String(st.Flag, *def, usage)
		case *Protocol:
			held = fs.String(st.Flag, string(*def), usage)
		case *Engine:
			held = fs.String(st.Flag, string(*def), usage)
		case *Mode:
			held = fs.String(st.Flag, string(*def), usage)
		case *[]string:
			held = new([]string)
			fs.Var(listValue{held}, st.Flag, usage)
		case *[]int:
			held = new([]int)
			fs.Var(listValue{held}, st.Flag, usage)
		default:
			panic(fmt.Sprintf("setting %s: no flag form for %T", st.Key, def))
		}
		p.values[st.Flag] = &flagValue{setting: st, value: reflect.ValueOf(held)}
	}
	return p
}

// flagUsage is a flag's --help text: its help sentence, what it accepts
// and where it applies; the flag package adds the default, except where
// the table words it.
func flagUsage(st *Setting) string {
	u := st.Help + " (" + st.Allowed
	if st.Applies != "" {
		u += "; " + st.Applies + " only"
	}
	if st.DefaultText != "" && st.Key != "engine" {
		u += "; default: " + st.DefaultText
	}
	return u + ")"
}

// set reports which flags were given on the command line.
func (p *ProbeFlags) set() map[string]bool {
	m := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// Apply overrides s with every group-setting flag the user set.
func (p *ProbeFlags) Apply(s *Settings) {
	g := &Group{Settings: *s}
	p.apply(nil, g)
	*s = g.Settings
}

// apply copies every flag the user set into c (top-level settings, when c
// is not nil) and g (group settings but targets, when g is not nil).
func (p *ProbeFlags) apply(c *Config, g *Group) {
	set := p.set()
	for name, v := range p.values {
		st := v.setting
		if !set[name] || st.Key == "targets" || (st.Top && c == nil) || (!st.Top && g == nil) {
			continue
		}
		dst := reflect.ValueOf(st.field(c, g)).Elem()
		src := v.value.Elem()
		if src.Kind() == reflect.String && dst.Type() != src.Type() {
			// protocol, engine and mode: case-insensitive words
			src = reflect.ValueOf(strings.ToLower(src.String()))
		}
		dst.Set(src.Convert(dst.Type()))
	}
}

// Targets returns the targets given with --target.
func (p *ProbeFlags) Targets() []string {
	v := p.values["target"]
	if v == nil {
		return nil
	}
	return append([]string(nil), *v.value.Interface().(*[]string)...)
}

// Build returns the configuration from an optional file and the flags, with
// base as the settings a --target group starts from (front ends differ:
// Site24x7 defaults to the old plugin's TCP SYN probe). It reads the
// tables' targets_file files and validates; a file's error is returned as
// any other configuration error.
func (p *ProbeFlags) Build(file string, base Settings) (*Config, error) {
	c := &Config{MaxPacketRate: DefaultMaxPacketRate}
	if file != "" {
		var err error
		if c, err = LoadFile(file); err != nil {
			return nil, err
		}
	}
	p.apply(c, nil)
	for i := range c.Groups {
		p.apply(nil, &c.Groups[i])
	}
	if targets := p.Targets(); len(targets) > 0 {
		g := Group{Targets: targets, Settings: base, Table: len(c.Groups)}
		p.apply(nil, &g)
		c.Groups = append(c.Groups, g)
	}
	// After the flags: they change a table's settings, which its
	// targets_file's groups copy; a host:port there keeps its port.
	if err := c.ReadTargetsFiles(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

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
