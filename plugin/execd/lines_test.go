package execd_test

import (
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// metric is one decoded line-protocol line.
type metric struct {
	name   string
	tags   map[string]string
	fields map[string]lineprotocol.Value
	time   time.Time
}

// decode parses line protocol strictly: any malformed line fails the test.
func decode(t *testing.T, data []byte) []metric {
	t.Helper()
	var out []metric
	dec := lineprotocol.NewDecoderWithBytes(data)
	for dec.Next() {
		m := metric{tags: map[string]string{}, fields: map[string]lineprotocol.Value{}}
		name, err := dec.Measurement()
		if err != nil {
			t.Fatalf("measurement: %v in %q", err, data)
		}
		m.name = string(name)
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("tag: %v in %q", err, data)
			}
			if k == nil {
				break
			}
			m.tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("field: %v in %q", err, data)
			}
			if k == nil {
				break
			}
			m.fields[string(k)] = v
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil || ts.IsZero() {
			t.Fatalf("time: %v (zero: %v) in %q", err, ts.IsZero(), data)
		}
		m.time = ts
		out = append(out, m)
	}
	return out
}
