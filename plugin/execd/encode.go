// Package execd is the Telegraf front end: it writes each round as influx line
// protocol on stdout and runs rounds when Telegraf's inputs.execd asks.
package execd

import (
	"maps"
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
func AppendResult(enc *lineprotocol.Encoder, r *probe.Result, ts time.Time) {
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
// result_code; as it is, the encoder would drop the line.
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
