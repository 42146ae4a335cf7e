package execd

import (
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// config.TagSafe restates the encoder's rule for tags (tagValue relies on
// it to keep a target's line). These tests hold the copy to the encoder
// itself: TagSafe(s) is true exactly when the encoder takes s as a tag key
// and as a tag value.

// encoderTakes reports whether the encoder accepts s as a tag key and as a
// tag value, each on a line of its own.
func encoderTakes(s string) (asKey, asValue bool) {
	try := func(k, v string) bool {
		var enc lineprotocol.Encoder
		enc.StartLine("m")
		enc.AddTag(k, v)
		enc.AddField("f", lineprotocol.IntValue(1))
		enc.EndLine(time.Unix(0, 0))
		return enc.Err() == nil
	}
	return try(s, "v"), try("k", s)
}

func TestTagSafeIsTheEncodersRule(t *testing.T) {
	cases := []struct {
		s    string
		safe bool // worked out from lineprotocol's AddTag documentation
	}{
		{"", false},
		{"a", true},
		{"par 1", true}, // escaped, not refused
		{"a,b=c", true},
		{`"quoted"`, true},
		{`back\`, false}, // a trailing backslash cannot be round-tripped
		{`\`, false},
		{`a\b`, true},
		{`a\\`, false},
		{"a\tb", false},
		{"new\nline", false},
		{"\x00", false},
		{"\x1f", false},
		{"\x7f", false},
		{"\x20", true},
		{"~", true},
		{"bad\xffutf8", false},
		{"\xc3", false}, // a truncated two-byte sequence
		{"é", true},
		{"\u0085", true}, // a C1 control is printable to both: only ASCII controls are refused
		{"\ufeff", true},
		{"日本", true},
	}
	for _, c := range cases {
		key, value := encoderTakes(c.s)
		if got := config.TagSafe(c.s); got != c.safe || key != c.safe || value != c.safe {
			t.Errorf("%q: TagSafe %v, encoder takes it as key %v, as value %v; want all %v", c.s, got, key, value, c.safe)
		}
	}
}

func FuzzTagSafeIsTheEncodersRule(f *testing.F) {
	for _, s := range []string{"", "a", `a\`, "a\tb", "\x7f", "\xff", "é", "a b,c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		safe := config.TagSafe(s)
		if key, value := encoderTakes(s); key != safe || value != safe {
			t.Errorf("%q: TagSafe %v, but the encoder takes it as key %v, as value %v", s, safe, key, value)
		}
	})
}
