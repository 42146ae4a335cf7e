package otel

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
)

// Prometheus names and labels as the text format writes them, the same
// for the text exposition, the totals' series (which render their labels
// once) and the native buckets' key.

// metricNamer and labelNamer are the exporter's (otelprom.New with
// UnderscoreEscapingWithSuffixes): dots to underscores, unit and _total
// suffixes.
var (
	metricNamer = otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	labelNamer  = otlptranslator.LabelNamer{}
)

// renderLabels is a label set as the text format writes it between braces,
// named and ordered as the exporter does: keys through the label namer,
// sorted; the values of keys that become one name joined by ";", sorted.
// A key the namer refuses (only underscores) makes it badLabels: the
// exporter drops such a series, and so does the exposition.
func renderLabels(s attribute.Set) string {
	type label struct{ name, value string }
	var ls []label
	for it := s.Iter(); it.Next(); {
		kv := it.Attribute()
		name, err := labelNamer.Build(string(kv.Key))
		if err != nil {
			return badLabels
		}
		ls = append(ls, label{name, kv.Value.String()})
	}
	slices.SortFunc(ls, func(a, b label) int { return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.value, b.value)) })
	var b strings.Builder
	for i, l := range ls {
		if i > 0 && l.name == ls[i-1].name {
			b.WriteByte(';')
			writeEscaped(&b, l.value)
			continue
		}
		if i > 0 {
			b.WriteString(`",`)
		}
		b.WriteString(l.name)
		b.WriteString(`="`)
		writeEscaped(&b, l.value)
	}
	if len(ls) > 0 {
		b.WriteByte('"')
	}
	return b.String()
}

// promName is the Prometheus name of an instrument, as the exporter builds
// it.
func promName(name, unit string, typ otlptranslator.MetricType) string {
	n, err := metricNamer.Build(otlptranslator.Metric{Name: name, Unit: unit, Type: typ})
	if err != nil {
		return name // (a constant of the plugin: its test would fail first)
	}
	return n
}

// labelCache renders each label set once for as long as scrapes see it,
// and notes where the scrape under way put the set's points. One scrape at
// a time uses it.
type labelCache struct {
	sets    map[attribute.Distinct]*cachedLabels
	scrape  uint64 // which scrape this is: a set unused by it is forgotten
	dropped int    // points of this scrape left out: a label name Prometheus cannot have
}

// cachedLabels is a label set, rendered, and where this scrape put its
// points.
type cachedLabels struct {
	text string
	seen uint64
	at   []placed
}

// placed is where a scrape put a point: which of its family's series.
type placed struct {
	family, index int
}

// begin starts a scrape.
func (c *labelCache) begin() {
	if c.sets == nil {
		c.sets = map[attribute.Distinct]*cachedLabels{}
	}
	c.scrape++
	c.dropped = 0
}

// of is s rendered, with where this scrape put its points so far.
func (c *labelCache) of(s attribute.Set) *cachedLabels {
	k := s.Equivalent()
	l := c.sets[k]
	if l == nil {
		l = &cachedLabels{text: renderLabels(s)}
		c.sets[k] = l
	}
	if l.seen != c.scrape {
		l.seen, l.at = c.scrape, l.at[:0]
	}
	return l
}

// end forgets the sets this scrape did not use.
func (c *labelCache) end() {
	for k, l := range c.sets {
		if l.seen != c.scrape {
			delete(c.sets, k)
		}
	}
}

// badLabels stands for a label set the text format cannot carry (no
// rendering has a NUL byte: values are escaped, names checked).
const badLabels = "\x00"

// writeEscaped writes a label value as the text format quotes it.
func writeEscaped(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}

func braced(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

// leLabels are the le="..." labels of bounds and +Inf, as the text format
// writes them.
func leLabels(bounds []float64) []string {
	out := make([]string, 0, len(bounds)+1)
	for _, b := range bounds {
		out = append(out, `le="`+strconv.FormatFloat(b, 'g', -1, 64)+`"`)
	}
	return append(out, `le="+Inf"`)
}
