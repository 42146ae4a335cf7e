package execd

import (
	"errors"
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

// FlowMeasurement is the name of the per-flow lines of a target whose
// group probes paths over several flows (flows > 1).
const FlowMeasurement = "hping3_flow"

// HopMeasurement is the name of the per-hop lines of a target whose group
// probes its path (path = true): one line per hop and responder.
const HopMeasurement = "hping3_hop"

// AppendResult encodes one result as a line, followed by one hping3_hop line
// per hop and responder of its path when it has one. Field names follow
// Telegraf's inputs.ping where the meaning is the same, so ping dashboards
// carry over.
//
// The encoder refuses a whole line it cannot carry: a group tag that is not
// config.TagSafe (configuration validation refuses those, but a Result may
// be built elsewhere), or a time outside line protocol's 1677..2262. The
// target still gets its line: it is encoded again with every unsafe tag key
// and value Go-quoted, as an unsafe target always is, and without a
// timestamp if the time was the problem (Telegraf then stamps it on
// arrival). Its hop lines carry the same tags at the same time, so they are
// written as the target's line was, quoted and stamped alike, and not at
// all when it was not written. The returned error says what was refused and
// whether the line was written after all. enc is left without an error, so
// each line is checked on its own; it must have none pending when called.
func AppendResult(enc *lineprotocol.Encoder, r *probe.Result, ts time.Time) error {
	quoteTags := false
	appendLine(enc, r, ts, quoteTags)
	refused := enc.Err()
	if refused != nil {
		enc.ClearErr()
		how := "with its unsafe tags quoted"
		if ts.Before(minTime) || ts.After(maxTime) {
			ts, how = time.Time{}, "with its unsafe tags quoted and no timestamp"
		}
		quoteTags = true
		appendLine(enc, r, ts, quoteTags)
		if err := enc.Err(); err != nil {
			enc.ClearErr()
			return fmt.Errorf("line protocol refused the line of target %q, which is not written: %w", r.Target, refused)
		}
		refused = fmt.Errorf("line protocol refused the line of target %q, written instead %s: %w", r.Target, how, refused)
	}
	if p := pathOf(r); p != nil {
		// Only a tag or a time could be refused, and the target's line
		// has just been written with the same ones: this is not
		// expected, but one line of the path must not cost the others.
		kept := func(line string, n int) {
			if err := enc.Err(); err != nil {
				enc.ClearErr()
				refused = errors.Join(refused, fmt.Errorf("line protocol refused the %s %d line of target %q, which is not written: %w", line, n, r.Target, err))
			}
		}
		for i := range p.Hops {
			appendHop(enc, r, &p.Hops[i], ts, quoteTags)
			kept("hop", p.Hops[i].Hop)
		}
		for i := range p.Flows {
			appendFlow(enc, r, &p.Flows[i], ts, quoteTags)
			kept("flow", p.Flows[i].Flow)
		}
	}
	return refused
}

// pathOf is r's path measurement when there is one to report: a probe that
// did not run measured no path either.
func pathOf(r *probe.Result) *probe.Path {
	if r.Code != probe.OK {
		return nil
	}
	return r.Path
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
	own := map[string]string{"target": tagValue(r.Target), "protocol": string(r.Protocol)}
	if r.IP != "" {
		own["ip"] = r.IP
	}
	if r.Port != 0 {
		own["port"] = strconv.Itoa(r.Port)
	}
	addTags(enc, own, r.Tags, nil, quoteTags)
	if r.Code == probe.OK {
		enc.AddField("packets_transmitted", lineprotocol.IntValue(int64(r.Transmitted)))
		enc.AddField("packets_received", lineprotocol.IntValue(int64(r.Received)))
		enc.AddField("percent_packet_loss", floatValue(r.Loss))
		addRTT(enc, r.RTT)
		if r.TTL >= 0 {
			enc.AddField("ttl", lineprotocol.IntValue(int64(r.TTL)))
		}
		enc.AddField("duplicates", lineprotocol.IntValue(int64(r.Duplicates)))
		enc.AddField("icmp_errors", lineprotocol.IntValue(int64(r.ICMPErrors)))
		if r.PortState != "" {
			enc.AddField("port_state", lineprotocol.MustNewValue(r.PortState))
		}
		if p := pathOf(r); p != nil {
			enc.AddField("hop_count", lineprotocol.IntValue(int64(p.HopCount)))
			enc.AddField("path_id", lineprotocol.MustNewValue(p.ID))
			if p.Flows != nil {
				enc.AddField("paths", lineprotocol.IntValue(int64(p.Distinct)))
			}
		}
	}
	if r.IP != "" {
		enc.AddField("dns_ms", floatValue(float64(r.DNS)/float64(time.Millisecond)))
	}
	enc.AddField("result_code", lineprotocol.IntValue(int64(r.Code)))
	enc.EndLine(ts)
}

// addRTT adds the RTT fields of rtt, if any: min/avg/max, and when the
// replies were timed one by one the spread, jitter and percentiles.
func addRTT(enc *lineprotocol.Encoder, rtt *probe.RTT) {
	if rtt == nil {
		return
	}
	enc.AddField("minimum_response_ms", floatValue(rtt.Min))
	enc.AddField("average_response_ms", floatValue(rtt.Avg))
	enc.AddField("maximum_response_ms", floatValue(rtt.Max))
	if !rtt.Detail {
		return
	}
	enc.AddField("standard_deviation_ms", floatValue(rtt.StdDev))
	if rtt.HasJitter {
		enc.AddField("jitter_ms", floatValue(rtt.Jitter))
	}
	for _, p := range rtt.Percentiles {
		enc.AddField("percentile"+strconv.Itoa(p.P)+"_ms", floatValue(p.Value))
	}
}

// hopOnly are the tags a hop line leaves out on purpose, so that no group
// tag fills them in: the target's address is on the target's line, and a
// hop where nothing answered has no hop_ip.
var hopOnly = map[string]bool{"ip": true, "hop_ip": true}

// pathTags are the plugin's own tags of a line of r's path: the target's,
// its address left out, and k with value v (the hop, the flow).
func pathTags(r *probe.Result, k, v string) map[string]string {
	own := map[string]string{"target": tagValue(r.Target), "protocol": string(r.Protocol), k: v}
	if r.Port != 0 {
		own["port"] = strconv.Itoa(r.Port)
	}
	return own
}

// appendHop encodes the line of one hop and responder of r's path. Its tags
// are the target's, its address left out, with the hop number and the
// responder; its fields are the target line's of the same meaning, for the
// packets sent with TTL h.Hop.
func appendHop(enc *lineprotocol.Encoder, r *probe.Result, h *probe.Hop, ts time.Time, quoteTags bool) {
	enc.StartLine(HopMeasurement)
	own := pathTags(r, "hop", strconv.Itoa(h.Hop))
	if h.IP != "" {
		own["hop_ip"] = h.IP
	}
	addTags(enc, own, r.Tags, hopOnly, quoteTags)
	enc.AddField("packets_transmitted", lineprotocol.IntValue(int64(h.Transmitted)))
	enc.AddField("packets_received", lineprotocol.IntValue(int64(h.Received)))
	enc.AddField("percent_packet_loss", floatValue(h.Loss))
	addRTT(enc, h.RTT) // a hop's RTT has no percentiles
	if h.PortState != "" {
		enc.AddField("port_state", lineprotocol.MustNewValue(h.PortState))
	}
	if r.Path.Flows != nil {
		enc.AddField("flows", lineprotocol.IntValue(int64(h.Flows)))
	}
	enc.EndLine(ts)
}

// appendFlow encodes the line of one flow of r's path: the target's tags,
// its address left out, with the flow number; the flow's hop count and
// path id.
func appendFlow(enc *lineprotocol.Encoder, r *probe.Result, f *probe.FlowPath, ts time.Time, quoteTags bool) {
	enc.StartLine(FlowMeasurement)
	addTags(enc, pathTags(r, "flow", strconv.Itoa(f.Flow)), r.Tags, hopOnly, quoteTags)
	enc.AddField("hop_count", lineprotocol.IntValue(int64(f.HopCount)))
	enc.AddField("path_id", lineprotocol.MustNewValue(f.ID))
	enc.EndLine(ts)
}

// addTags adds a line's tags: its own, and the group's constant tags
// (vantage among them) but those that would take the name of one of its own
// or of one in also. Tags must be added in lexical key order. quoteTags
// passes every group tag key and value through tagValue.
func addTags(enc *lineprotocol.Encoder, own, group map[string]string, also map[string]bool, quoteTags bool) {
	tags := maps.Clone(own)
	for k, v := range group {
		if quoteTags {
			k, v = tagValue(k), tagValue(v)
		}
		if _, ours := own[k]; !ours && !also[k] {
			tags[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		enc.AddTag(k, tags[k])
	}
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
