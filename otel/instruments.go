package otel

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Instrument names and units: docs/metrics.md documents each one; a change
// here is a change for every dashboard.
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

	// A path (path = true): the gauges of each hop and responder, named as
	// the target's own inside the hping3.hop namespace, and the target's
	// distance, whose hping3.path.id attribute makes a changed path a new
	// series.
	nameHopSent      = "hping3.hop.packets.sent"
	nameHopReceived  = "hping3.hop.packets.received"
	nameHopLoss      = "hping3.hop.loss.ratio"
	nameHopRTTMin    = "hping3.hop.rtt.min"
	nameHopRTTAvg    = "hping3.hop.rtt.avg"
	nameHopRTTMax    = "hping3.hop.rtt.max"
	nameHopRTTStdDev = "hping3.hop.rtt.stddev"
	nameHopRTTJitter = "hping3.hop.rtt.jitter"
	namePathHops     = "hping3.path.hops"
	// With flows > 1: how many flows a hop's responder answered, how many
	// different paths the flows took, and each flow's distance, whose
	// hping3.flow attribute says which flow and hping3.path.id its path.
	nameHopFlows     = "hping3.hop.flows"
	namePathDistinct = "hping3.path.distinct"
	nameFlowHops     = "hping3.flow.hops"

	// Cumulative, monotonic counters of every packet since the plugin
	// started, summed over the reports (rounds or continuous windows
	// partition the packets, so nothing is counted twice): a missed export
	// or a restarted Collector loses nothing, and rate() works. The names
	// follow the semantic conventions' naming rules: a singular namespace
	// (hping3.packet, as system.network.packet.dropped) and no _total
	// suffix, which a Prometheus exporter adds to a monotonic sum itself.
	// They cannot be confused by a backend with the gauges of one report
	// (hping3.packets.*): every name belongs to one instrument type.
	nameCountSent       = "hping3.packet.sent"
	nameCountReceived   = "hping3.packet.received"
	nameCountDuplicates = "hping3.packet.duplicate"
	nameCountICMPErrors = "hping3.packet.icmp_error"
	// Every RTT sample, as an exponential histogram in seconds. Named
	// {entity}.duration as the conventions' duration histograms are
	// (http.client.request.duration, dns.lookup.duration), inside the
	// hping3.rtt namespace of the gauges; "hping3.rtt" alone would be a
	// metric and a namespace of other metrics at once.
	nameRTTHistogram = "hping3.rtt.duration"

	// The plugin's own metrics, one point per round, without attributes.
	nameRoundDuration  = "hping3.round.duration"
	nameRoundTargets   = "hping3.round.targets"
	nameRoundProcesses = "hping3.round.processes"
	nameRoundFailures  = "hping3.round.failures"
	nameRoundPackets   = "hping3.round.packets"
	nameRoundRestarts  = "hping3.round.engine_restarts" // continuous windows only
	nameRoundStamped   = "hping3.round.stamped"         // by hping3.clock
	nameRoundDrops     = "hping3.round.capture_drops"
	// attrClock says whose stamps timed packets: kernel, hping3-send or
	// hping3 (docs/engines.md#clocks).
	attrClock = "hping3.clock"

	unitPacket  = "{packet}"
	unitSeconds = "s"
	unitOne     = "1"
	// A TTL counts hops, and a status is a code, not a ratio: with unit
	// "1" a Prometheus exporter would call them hping3_reply_ttl_ratio and
	// hping3_probe_status_ratio.
	unitCode    = ""
	unitTarget  = "{target}"
	unitProcess = "{process}"
	unitRestart = "{restart}"
	unitHop     = "{hop}"
	unitFlow    = "{flow}"
	unitPath    = "{path}"
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
	// A hop's number and responder. Not hping3.hop and hping3.hop.ip: a
	// name is never also a namespace, and hping3.hop is the namespace of
	// the hop gauges; address as in network.peer.address.
	keyHopNumber  = "hping3.hop.number"
	keyHopAddress = "hping3.hop.address"
	keyPathID     = "hping3.path.id"
	keyFlow       = "hping3.flow"
)

// recorder holds the gauges and the round they report. The gauges are
// observable: each collection reports exactly the results of the round set
// last, so a target that failed or left the configuration stops reporting
// instead of repeating its last good value, as a synchronous gauge under
// cumulative temporality would. The counters and the histogram are the
// totals' (counters.go).
type recorder struct {
	mu      sync.Mutex
	current core.Report

	sent, received, duplicates, icmpErrors, ttl, status metric.Int64ObservableGauge
	loss, rttMin, rttAvg, rttMax, rttStdDev, rttJitter  metric.Float64ObservableGauge
	rttPct, dns                                         metric.Float64ObservableGauge

	hopSent, hopReceived, pathHops, hopFlows, pathDistinct, flowHops     metric.Int64ObservableGauge
	hopLoss, hopRTTMin, hopRTTAvg, hopRTTMax, hopRTTStdDev, hopRTTJitter metric.Float64ObservableGauge

	roundTargets, roundProcesses, roundFailures, roundPackets, roundRestarts metric.Int64ObservableGauge
	roundStamped, roundDrops                                                 metric.Int64ObservableGauge
	roundDuration                                                            metric.Float64ObservableGauge
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
	r.ttl = i64(nameTTL, unitHop, "IP TTL of the first valid reply.")
	r.dns = f64(nameDNS, unitSeconds, "Time taken to resolve the target name.")
	r.status = i64(nameStatus, unitCode, "Probe result code: 0 ran (loss may still be 100%), 1 no such host, 2 the probe could not run.")
	r.hopSent = i64(nameHopSent, unitPacket, "Path probe packets sent with the hop's TTL in the round that are this responder's: those it answered and its flows' lost ones.")
	r.hopReceived = i64(nameHopReceived, unitPacket, "The hop's packets this responder answered first, in time.")
	r.hopLoss = f64(nameHopLoss, unitOne, "Fraction of this responder's packets of the hop that were lost, 0 to 1.")
	r.hopRTTMin = f64(nameHopRTTMin, unitSeconds, "Shortest round-trip time to this responder at this hop.")
	r.hopRTTAvg = f64(nameHopRTTAvg, unitSeconds, "Mean round-trip time to this responder at this hop.")
	r.hopRTTMax = f64(nameHopRTTMax, unitSeconds, "Longest round-trip time to this responder at this hop.")
	r.hopRTTStdDev = f64(nameHopRTTStdDev, unitSeconds, "Population standard deviation of the round-trip times to this responder at this hop.")
	r.hopRTTJitter = f64(nameHopRTTJitter, unitSeconds, "Mean absolute difference of consecutive round-trip times to this responder at this hop.")
	r.pathHops = i64(namePathHops, unitHop, "Hops to where the path ends: the lowest TTL the target answered at (or a router said it is unreachable), else the highest any router answered at; hping3.path.id names the path.")
	r.hopFlows = i64(nameHopFlows, unitFlow, "Flows whose packets of the hop this responder answered (flows > 1).")
	r.pathDistinct = i64(namePathDistinct, unitPath, "Different paths the target's flows took (flows > 1).")
	r.flowHops = i64(nameFlowHops, unitHop, "Hops to where one flow's path ends (flows > 1); hping3.flow says which flow, hping3.path.id names its path.")
	r.roundDuration = f64(nameRoundDuration, unitSeconds, "Wall time of the round that probed every target once.")
	r.roundTargets = i64(nameRoundTargets, unitTarget, "Targets probed in the round.")
	r.roundProcesses = i64(nameRoundProcesses, unitProcess, "hping3 processes the round started.")
	r.roundFailures = i64(nameRoundFailures, unitTarget, "Targets whose probe did not run (status not 0) in the round.")
	r.roundPackets = i64(nameRoundPackets, unitPacket, "Probe packets the round's (window's) results count as sent.")
	r.roundRestarts = i64(nameRoundRestarts, unitRestart, "Restarts of the continuous engine in the window (after a crash or a hang).")
	r.roundStamped = i64(nameRoundStamped, unitPacket, "Packets the round's (window's) results count as sent, by the clock that timed them (hping3.clock): kernel, hping3-send (the plugin's capture missed the probe leaving) or hping3 (hping3 captured).")
	r.roundDrops = i64(nameRoundDrops, unitPacket, "Packets the kernel dropped from the plugin's own captures in the round (window): their rings were full.")
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(r.observe,
		r.sent, r.received, r.duplicates, r.icmpErrors, r.loss,
		r.rttMin, r.rttAvg, r.rttMax, r.rttStdDev, r.rttJitter, r.rttPct,
		r.ttl, r.dns, r.status,
		r.hopSent, r.hopReceived, r.hopLoss, r.hopRTTMin, r.hopRTTAvg, r.hopRTTMax, r.hopRTTStdDev, r.hopRTTJitter, r.pathHops,
		r.hopFlows, r.pathDistinct, r.flowHops,
		r.roundDuration, r.roundTargets, r.roundProcesses, r.roundFailures, r.roundPackets, r.roundRestarts,
		r.roundStamped, r.roundDrops)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// vantage is the vantage of the report the gauges show ("" before one).
func (r *recorder) vantage() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current.Vantage
}

// set makes rd the round the next collection reports.
func (r *recorder) set(rd core.Report) {
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
	// The round's own points carry the vantage, as every probe point
	// does (as a group tag), so that many plugins' round metrics stay apart.
	var set []metric.ObserveOption
	if rd.Vantage != "" {
		set = append(set, metric.WithAttributes(attribute.String(config.VantageTag, rd.Vantage)))
	}
	o.ObserveFloat64(r.roundDuration, seconds(rd.Duration), set...)
	o.ObserveInt64(r.roundTargets, int64(len(rd.Results)), set...)
	o.ObserveInt64(r.roundProcesses, int64(rd.Processes), set...)
	o.ObserveInt64(r.roundFailures, int64(rd.Failures), set...)
	o.ObserveInt64(r.roundPackets, int64(rd.Packets), set...)
	if rd.Window {
		o.ObserveInt64(r.roundRestarts, int64(rd.Restarts), set...)
	}
	o.ObserveInt64(r.roundDrops, int64(rd.CaptureDrops), set...)
	for _, c := range []struct {
		name string
		n    int
	}{{"kernel", rd.Stamps.Kernel}, {"hping3-send", rd.Stamps.Fallback}, {"hping3", rd.Stamps.Engine}} {
		attrs := []attribute.KeyValue{attribute.String(attrClock, c.name)}
		if rd.Vantage != "" {
			attrs = append(attrs, attribute.String(config.VantageTag, rd.Vantage))
		}
		o.ObserveInt64(r.roundStamped, int64(c.n), metric.WithAttributes(attrs...))
	}
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
	if res.Path != nil {
		r.observePath(o, attrs, res.Path)
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

// observePath observes the path of a target whose attributes are attrs: the
// gauges of each hop and responder, with the presence rules of the
// target's own, and the target's distance.
func (r *recorder) observePath(o metric.Observer, attrs attribute.Set, p *probe.Path) {
	o.ObserveInt64(r.pathHops, int64(p.HopCount), metric.WithAttributeSet(with(attrs, attribute.String(keyPathID, p.ID))))
	if p.Flows != nil {
		o.ObserveInt64(r.pathDistinct, int64(p.Distinct), metric.WithAttributeSet(attrs))
		for _, f := range p.Flows {
			o.ObserveInt64(r.flowHops, int64(f.HopCount), metric.WithAttributeSet(with(with(attrs, attribute.Int(keyFlow, f.Flow)), attribute.String(keyPathID, f.ID))))
		}
	}
	// A hop nobody answered has no responder, and no group tag may give
	// it one.
	base := slices.Clip(slices.DeleteFunc(attrs.ToSlice(), func(kv attribute.KeyValue) bool { return kv.Key == keyHopAddress }))
	for i := range p.Hops {
		h := &p.Hops[i]
		kvs := append(base, attribute.Int(keyHopNumber, h.Hop))
		if h.IP != "" {
			kvs = append(kvs, attribute.String(keyHopAddress, h.IP))
		}
		set := metric.WithAttributeSet(attribute.NewSet(kvs...))
		o.ObserveInt64(r.hopSent, int64(h.Transmitted), set)
		o.ObserveInt64(r.hopReceived, int64(h.Received), set)
		o.ObserveFloat64(r.hopLoss, h.Loss/100, set)
		if p.Flows != nil {
			o.ObserveInt64(r.hopFlows, int64(h.Flows), set)
		}
		rtt := h.RTT
		if rtt == nil {
			continue
		}
		o.ObserveFloat64(r.hopRTTMin, ms(rtt.Min), set)
		o.ObserveFloat64(r.hopRTTAvg, ms(rtt.Avg), set)
		o.ObserveFloat64(r.hopRTTMax, ms(rtt.Max), set)
		if !rtt.Detail {
			continue
		}
		o.ObserveFloat64(r.hopRTTStdDev, ms(rtt.StdDev), set)
		if rtt.HasJitter {
			o.ObserveFloat64(r.hopRTTJitter, ms(rtt.Jitter), set)
		}
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
