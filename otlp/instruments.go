package otlp

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
	"github.com/hping3-plugin/hping3-plugin/plugin/round"
)

// Instrument names and units: the README's "With OpenTelemetry" table
// documents each one; a change here is a change for every dashboard.
const (
	nameSent       = "hping3.packets.sent"
	nameReceived   = "hping3.packets.received"
	nameDuplicates = "hping3.packets.duplicates"
	nameICMPErrors = "hping3.packets.icmp_errors"
	nameLoss       = "hping3.loss.ratio"
	nameRTTMin     = "hping3.rtt.min"
	nameRTTAvg     = "hping3.rtt.avg"
	nameRTTMax     = "hping3.rtt.max"
	nameRTTStdDev  = "hping3.rtt.stddev"
	nameRTTJitter  = "hping3.rtt.jitter"
	nameRTTPct     = "hping3.rtt.percentile"
	nameTTL        = "hping3.reply.ttl"
	nameDNS        = "hping3.dns.duration"
	nameStatus     = "hping3.probe.status"

	// The plugin's own metrics, one point per round, without attributes.
	nameRoundDuration  = "hping3.round.duration"
	nameRoundTargets   = "hping3.round.targets"
	nameRoundProcesses = "hping3.round.processes"
	nameRoundFailures  = "hping3.round.failures"

	unitPacket  = "{packet}"
	unitSeconds = "s"
	unitOne     = "1"
	unitTarget  = "{target}"
	unitProcess = "{process}"
)

// Attribute keys. The first three follow the OpenTelemetry semantic
// conventions; there is no convention for a ping yet, so the probe type goes
// in network.transport (tcp, udp, or icmp, which is not one of the
// convention's well-known values) and the rest carry an hping3. prefix.
const (
	keyServerAddress = "server.address"
	keyPeerAddress   = "network.peer.address"
	keyServerPort    = "server.port"
	keyTransport     = "network.transport"
	keyPercentile    = "hping3.percentile"
	keyPortState     = "hping3.port.state"
)

// recorder holds the instruments and the round they report. The gauges are
// observable: each collection reports exactly the results of the round set
// last, so a target that failed or left the configuration stops reporting
// instead of repeating its last good value, as a synchronous gauge under
// cumulative temporality would.
type recorder struct {
	mu      sync.Mutex
	current round.Round

	sent, received, duplicates, icmpErrors, ttl, status metric.Int64ObservableGauge
	loss, rttMin, rttAvg, rttMax, rttStdDev, rttJitter  metric.Float64ObservableGauge
	rttPct, dns                                         metric.Float64ObservableGauge

	roundTargets, roundProcesses, roundFailures metric.Int64ObservableGauge
	roundDuration                               metric.Float64ObservableGauge
}

func newRecorder(m metric.Meter) (*recorder, error) {
	r := &recorder{}
	var err error
	i64 := func(name, unit, desc string) metric.Int64ObservableGauge {
		if err != nil {
			return nil
		}
		var g metric.Int64ObservableGauge
		g, err = m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return g
	}
	f64 := func(name, unit, desc string) metric.Float64ObservableGauge {
		if err != nil {
			return nil
		}
		var g metric.Float64ObservableGauge
		g, err = m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return g
	}
	r.sent = i64(nameSent, unitPacket, "Probe packets hping3 sent to the target in the round.")
	r.received = i64(nameReceived, unitPacket, "Unique, in-time replies from the target (duplicates and ICMP errors excluded).")
	r.duplicates = i64(nameDuplicates, unitPacket, "Replies to a sequence number already answered.")
	r.icmpErrors = i64(nameICMPErrors, unitPacket, "ICMP errors received instead of the expected reply (e.g. host unreachable).")
	r.loss = f64(nameLoss, unitOne, "Fraction of probe packets without a reply, 0 to 1.")
	r.rttMin = f64(nameRTTMin, unitSeconds, "Shortest round-trip time.")
	r.rttAvg = f64(nameRTTAvg, unitSeconds, "Mean round-trip time.")
	r.rttMax = f64(nameRTTMax, unitSeconds, "Longest round-trip time.")
	r.rttStdDev = f64(nameRTTStdDev, unitSeconds, "Population standard deviation of the round-trip times.")
	r.rttJitter = f64(nameRTTJitter, unitSeconds, "Mean absolute difference of consecutive round-trip times.")
	r.rttPct = f64(nameRTTPct, unitSeconds, "Configured round-trip time percentile; the hping3.percentile attribute says which.")
	r.ttl = i64(nameTTL, unitOne, "IP TTL of the first valid reply.")
	r.dns = f64(nameDNS, unitSeconds, "Time taken to resolve the target name.")
	r.status = i64(nameStatus, unitOne, "Probe result code: 0 ran (loss may still be 100%), 1 no such host, 2 the probe could not run.")
	r.roundDuration = f64(nameRoundDuration, unitSeconds, "Wall time of the round that probed every target once.")
	r.roundTargets = i64(nameRoundTargets, unitTarget, "Targets probed in the round.")
	r.roundProcesses = i64(nameRoundProcesses, unitProcess, "hping3 processes the round started.")
	r.roundFailures = i64(nameRoundFailures, unitTarget, "Targets whose probe did not run (status not 0) in the round.")
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(r.observe,
		r.sent, r.received, r.duplicates, r.icmpErrors, r.loss,
		r.rttMin, r.rttAvg, r.rttMax, r.rttStdDev, r.rttJitter, r.rttPct,
		r.ttl, r.dns, r.status,
		r.roundDuration, r.roundTargets, r.roundProcesses, r.roundFailures)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// set makes rd the round the next collection reports.
func (r *recorder) set(rd round.Round) {
	r.mu.Lock()
	r.current = rd
	r.mu.Unlock()
}

func (r *recorder) observe(_ context.Context, o metric.Observer) error {
	r.mu.Lock()
	rd := r.current
	r.mu.Unlock()
	if len(rd.Results) == 0 {
		return nil
	}
	for i := range rd.Results {
		r.observeResult(o, &rd.Results[i])
	}
	o.ObserveFloat64(r.roundDuration, seconds(rd.Duration))
	o.ObserveInt64(r.roundTargets, int64(len(rd.Results)))
	o.ObserveInt64(r.roundProcesses, int64(rd.Processes))
	o.ObserveInt64(r.roundFailures, int64(rd.Failures))
	return nil
}

func (r *recorder) observeResult(o metric.Observer, res *probe.Result) {
	attrs := attributes(res)
	set := metric.WithAttributeSet(attrs)

	// Same presence rules as the line protocol fields (README "Metrics").
	statusSet := set
	if res.Code == probe.OK && res.PortState != "" {
		statusSet = metric.WithAttributeSet(with(attrs, attribute.String(keyPortState, res.PortState)))
	}
	o.ObserveInt64(r.status, int64(res.Code), statusSet)
	if res.IP != "" { // resolved: the lookup time, 0 for an IPv4 literal
		o.ObserveFloat64(r.dns, seconds(res.DNS), set)
	}
	// A probe that could not run measured nothing: reporting 100% loss for
	// it would blame the network for a local failure. Its status says why.
	if res.Code != probe.OK {
		return
	}
	o.ObserveInt64(r.sent, int64(res.Transmitted), set)
	o.ObserveInt64(r.received, int64(res.Received), set)
	o.ObserveInt64(r.duplicates, int64(res.Duplicates), set)
	o.ObserveInt64(r.icmpErrors, int64(res.ICMPErrors), set)
	o.ObserveFloat64(r.loss, res.Loss/100, set)
	if res.TTL >= 0 {
		o.ObserveInt64(r.ttl, int64(res.TTL), set)
	}
	rtt := res.RTT
	if rtt == nil { // nothing received: no round-trip time, not a 0 s one
		return
	}
	o.ObserveFloat64(r.rttMin, ms(rtt.Min), set)
	o.ObserveFloat64(r.rttAvg, ms(rtt.Avg), set)
	o.ObserveFloat64(r.rttMax, ms(rtt.Max), set)
	if !rtt.Detail { // hping3 gave no per-reply times (UDP)
		return
	}
	o.ObserveFloat64(r.rttStdDev, ms(rtt.StdDev), set)
	if rtt.HasJitter {
		o.ObserveFloat64(r.rttJitter, ms(rtt.Jitter), set)
	}
	for _, p := range rtt.Percentiles {
		o.ObserveFloat64(r.rttPct, ms(p.Value), metric.WithAttributeSet(with(attrs, attribute.Int(keyPercentile, p.P))))
	}
}

// attributes identifies one result: the group's constant tags, then the
// target's own attributes, which win over a tag of the same name.
func attributes(res *probe.Result) attribute.Set {
	kvs := make([]attribute.KeyValue, 0, len(res.Tags)+4)
	for k, v := range res.Tags {
		kvs = append(kvs, attribute.String(k, v))
	}
	kvs = append(kvs,
		attribute.String(keyServerAddress, res.Target),
		attribute.String(keyTransport, string(res.Protocol)))
	if res.IP != "" {
		kvs = append(kvs, attribute.String(keyPeerAddress, res.IP))
	}
	if res.Protocol != config.ICMP {
		kvs = append(kvs, attribute.Int(keyServerPort, res.Port))
	}
	return attribute.NewSet(kvs...) // the last of duplicate keys wins
}

func with(s attribute.Set, kv attribute.KeyValue) attribute.Set {
	return attribute.NewSet(append(s.ToSlice(), kv)...)
}

func ms(v float64) float64 { return v / 1000 }

func seconds(d time.Duration) float64 { return d.Seconds() }
