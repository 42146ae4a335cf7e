package execd

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Measurement is the name of the per-target lines.
const Measurement = "hping3"

// AppendResult encodes one result as a line. Field names follow Telegraf's
// inputs.ping where the meaning is the same, so ping dashboards carry over.
//
// The encoder refuses a whole line it cannot carry: a group tag that is not
// config.TagSafe (configuration validation refuses those, but a Result may
// be built elsewhere), or a time outside line protocol's 1677..2262. The
// target still gets its line: it is encoded again with every unsafe tag key
// and value Go-quoted, as an unsafe target always is, and without a
// timestamp if the time was the problem (Telegraf then stamps it on
// arrival). The returned error says what was refused and whether the line
// was written after all. enc is left without an error, so each line is
// checked on its own; it must have none pending when called.
func AppendResult(enc *lineprotocol.Encoder, r *probe.Result, ts time.Time) error {
	appendLine(enc, r, ts, false)
	refused := enc.Err()
	if refused == nil {
		return nil
	}
	enc.ClearErr()
	how := "with its unsafe tags quoted"
	if ts.Before(minTime) || ts.After(maxTime) {
		ts, how = time.Time{}, "with its unsafe tags quoted and no timestamp"
	}
	appendLine(enc, r, ts, true)
	if err := enc.Err(); err != nil {
		enc.ClearErr()
		return fmt.Errorf("line protocol refused the line of target %q, which is not written: %w", r.Target, refused)
	}
	return fmt.Errorf("line protocol refused the line of target %q, written instead %s: %w", r.Target, how, refused)
}

// The times line protocol can carry: nanoseconds since 1970 in an int64.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// appendLine encodes r's line; quoteTags passes every tag key and value
// through tagValue, not only the target.
func appendLine(enc *lineprotocol.Encoder, r *probe.Result, ts time.Time, quoteTags bool) {
	enc.StartLine(Measurement)
	// Tags must be added in lexical key order; the group's constant tags
	// are merged into ours.
	tags := map[string]string{"target": tagValue(r.Target), "protocol": string(r.Protocol)}
	if r.IP != "" {
		tags["ip"] = r.IP
	}
	if r.Port != 0 {
		tags["port"] = strconv.Itoa(r.Port)
	}
	for k, v := range r.Tags {
		if quoteTags {
			k, v = tagValue(k), tagValue(v)
		}
		if _, ours := tags[k]; !ours {
			tags[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		enc.AddTag(k, tags[k])
	}
	if r.Code == probe.OK {
		enc.AddField("packets_transmitted", lineprotocol.IntValue(int64(r.Transmitted)))
		enc.AddField("packets_received", lineprotocol.IntValue(int64(r.Received)))
		enc.AddField("percent_packet_loss", floatValue(r.Loss))
		if rtt := r.RTT; rtt != nil {
			enc.AddField("minimum_response_ms", floatValue(rtt.Min))
			enc.AddField("average_response_ms", floatValue(rtt.Avg))
			enc.AddField("maximum_response_ms", floatValue(rtt.Max))
			if rtt.Detail {
				enc.AddField("standard_deviation_ms", floatValue(rtt.StdDev))
				if rtt.HasJitter {
					enc.AddField("jitter_ms", floatValue(rtt.Jitter))
				}
				for _, p := range rtt.Percentiles {
					enc.AddField("percentile"+strconv.Itoa(p.P)+"_ms", floatValue(p.Value))
				}
			}
		}
		if r.TTL >= 0 {
			enc.AddField("ttl", lineprotocol.IntValue(int64(r.TTL)))
		}
		enc.AddField("duplicates", lineprotocol.IntValue(int64(r.Duplicates)))
		enc.AddField("icmp_errors", lineprotocol.IntValue(int64(r.ICMPErrors)))
		if r.PortState != "" {
			enc.AddField("port_state", lineprotocol.MustNewValue(r.PortState))
		}
	}
	if r.IP != "" {
		enc.AddField("dns_ms", floatValue(float64(r.DNS)/float64(time.Millisecond)))
	}
	enc.AddField("result_code", lineprotocol.IntValue(int64(r.Code)))
	enc.EndLine(ts)
}

// tagValue writes a target the line protocol cannot carry as it is (see
// config.TagSafe: an empty name, a control character, a trailing backslash)
// in its Go-quoted form, so the target still gets its line and its
// result_code; as it is, the encoder would drop the line. tagsafe_test.go
// holds config.TagSafe to the encoder's own rule.
func tagValue(s string) string {
	if config.TagSafe(s) {
		return s
	}
	return strconv.QuoteToASCII(s)
}

func floatValue(f float64) lineprotocol.Value {
	v, ok := lineprotocol.FloatValue(f)
	if !ok { // NaN or Inf: never produced by the statistics, but never encode one
		v, _ = lineprotocol.FloatValue(0)
	}
	return v
}
