package site24x7

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Keys of the plugin JSON. status, msg and units are reserved by the agent;
// host, plugin_version, heartbeat_required, the three packet counts and rt
// min/avg/max are the original plugin's, and existing monitors key on them;
// the rest are new (docs/metrics.md).
const (
	keyHost        = "host"
	keyVersion     = "plugin_version"
	keyHeartbeat   = "heartbeat_required"
	keyStatus      = "status" // reserved: 0 marks the monitor Down
	keyMsg         = "msg"    // reserved: shown while the monitor is Down
	keyUnits       = "units"  // reserved: {key: unit}
	keySent        = "packets transmitted"
	keyReceived    = "packets received"
	keyLoss        = "packets loss"
	keyRTTMin      = "rt min"
	keyRTTAvg      = "rt avg"
	keyRTTMax      = "rt max"
	keyRTTStdDev   = "rt stddev"
	keyRTTJitter   = "rt jitter"
	keyTTL         = "ttl"
	keyDuplicates  = "packets duplicate"
	keyLate        = "packets late"
	keyICMPErrors  = "icmp errors"
	keyIP          = "ip"
	keyProtocol    = "protocol"
	keyPort        = "port"
	keyPortState   = "port state"
	keyTOS         = "tos"            // --tos
	keyDSCP        = "dscp"           // --dscp
	keySource      = "source address" // --source-address
	keyDNS         = "dns time"
	keyHopCount    = "hop count"    // path = true
	keyPathChanged = "path changed" // path = true: 1 when not the previous run's path
	percentileKeyF = "rt p%d"
)

// statusDown is the reserved status value that marks the monitor Down.
const statusDown = 0

// header starts every object with the keys the agent needs.
func header(h Header) object {
	var o object
	o.add(keyHost, h.Host)
	o.add(keyVersion, h.PluginVersion)
	o.add(keyHeartbeat, h.Heartbeat)
	return o
}

// down is the object for a run that measured nothing.
func down(h Header, msg string) object {
	o := header(h)
	o.add(keyStatus, statusDown)
	o.add(keyMsg, msg)
	return o
}

// render turns the outcome of one run into the plugin JSON. results are the
// round's results (one for the one host), stop is the run context's error
// (nil when the round ended on its own) and deadline the bound it ran under.
// pathChanged says whether the result's path is not the previous run's.
func render(h Header, results []probe.Result, stop error, deadline time.Duration, pathChanged bool) object {
	if len(results) == 0 {
		if stop != nil {
			return down(h, stopMsg(h.Host, stop, deadline))
		}
		return down(h, "internal error: the probe returned no result; run the command by hand with --debug and report it")
	}
	r := &results[0]
	switch {
	case r.Code == probe.OK:
		return measured(h, r, pathChanged)
	case stop != nil && (r.Code == probe.Failed || errors.Is(r.Err, context.DeadlineExceeded)):
		return down(h, stopMsg(h.Host, stop, deadline))
	default:
		return down(h, failureMsg(r))
	}
}

// measured is the object of a probe that ran. At 100% loss the monitor goes
// Down with the reason, and the counts stay so loss thresholds still see them.
func measured(h Header, r *probe.Result, pathChanged bool) object {
	o := header(h)
	if r.Received == 0 {
		o.add(keyStatus, statusDown)
		o.add(keyMsg, noReplyMsg(r))
	}
	units := object{}
	o.add(keySent, r.Transmitted)
	o.add(keyReceived, r.Received)
	o.add(keyLoss, round2(r.Loss))
	units.add(keyLoss, "%")
	// No RTT keys without replies: the old plugin's 0.0 at 100% loss read as
	// a perfect host.
	if rt := r.RTT; rt != nil {
		ms := func(k string, v float64) {
			o.add(k, round3(v))
			units.add(k, "ms")
		}
		ms(keyRTTMin, rt.Min)
		ms(keyRTTAvg, rt.Avg)
		ms(keyRTTMax, rt.Max)
		if rt.Detail {
			ms(keyRTTStdDev, rt.StdDev)
		}
		if rt.HasJitter {
			ms(keyRTTJitter, rt.Jitter)
		}
		for _, p := range rt.Percentiles {
			ms(fmt.Sprintf(percentileKeyF, p.P), p.Value)
		}
	}
	if r.TTL >= 0 && r.Received > 0 {
		o.add(keyTTL, r.TTL)
	}
	o.add(keyDuplicates, r.Duplicates)
	o.add(keyLate, r.Late)
	o.add(keyICMPErrors, r.ICMPErrors)
	if r.IP != "" {
		o.add(keyIP, r.IP)
	}
	o.add(keyProtocol, string(r.Protocol))
	if r.Port != 0 {
		o.add(keyPort, r.Port)
	}
	if r.PortState != "" {
		o.add(keyPortState, r.PortState)
	}
	// What --tos, --dscp and --source-address put on the probes, as the
	// other front ends' tags say it: the monitor shows what it measured.
	for _, k := range [][2]string{{config.TOSTag, keyTOS}, {config.DSCPTag, keyDSCP}, {config.SourceTag, keySource}} {
		if v, ok := r.Tags[k[0]]; ok {
			o.add(k[1], v)
		}
	}
	if r.DNS > 0 {
		o.add(keyDNS, round3(float64(r.DNS)/float64(time.Millisecond)))
		units.add(keyDNS, "ms")
	}
	// Of a path, only what a monitor can alert on: its length, and
	// whether it changed since the previous run (the mode keeps no
	// series the hops could go in).
	if p := r.Path; p != nil {
		o.add(keyHopCount, p.HopCount)
		changed := 0
		if pathChanged {
			changed = 1
		}
		o.add(keyPathChanged, changed)
	}
	o.add(keyUnits, units)
	return o
}

// noReplyMsg explains 100% loss and what to check.
func noReplyMsg(r *probe.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "no reply from %s", target(r))
	if r.Port != 0 {
		fmt.Fprintf(&b, " on %s port %d", r.Protocol, r.Port)
	} else {
		b.WriteString(" to ICMP echo requests")
	}
	fmt.Fprintf(&b, ": %d of %d packets lost", r.Transmitted-r.Received, r.Transmitted)
	if r.ICMPErrors > 0 {
		fmt.Fprintf(&b, ", %d ICMP errors came back instead (e.g. host unreachable from a router)", r.ICMPErrors)
	}
	if r.Late > 0 {
		fmt.Fprintf(&b, ", %d replies came after the timeout (raise --timeout, at most 1s)", r.Late)
	}
	b.WriteString("; check that the host is up and that no firewall drops the probe")
	return b.String()
}

func target(r *probe.Result) string {
	if r.IP != "" && r.IP != r.Target {
		return fmt.Sprintf("%s (%s)", r.Target, r.IP)
	}
	return r.Target
}

// failureMsg is the reason a probe did not run. The engines and package
// probe word their errors for the user with the fix; the code alone is a
// fallback.
func failureMsg(r *probe.Result) string {
	if r.Err != nil {
		if r.Code == probe.NoSuchHost {
			return r.Err.Error() + `; check the host="..." value in hping3.cfg`
		}
		return r.Err.Error()
	}
	if r.Code == probe.NoSuchHost {
		return fmt.Sprintf("host %q did not resolve: check the host= value in hping3.cfg and the machine's DNS", r.Target)
	}
	return fmt.Sprintf("the probe of %q failed without a reason: run the command by hand with --debug", r.Target)
}

// stopMsg explains a run cut short by the deadline or by a signal.
func stopMsg(host string, stop error, deadline time.Duration) string {
	if errors.Is(stop, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out: the probe of %q did not finish within the %v deadline; "+
			"raise --deadline (deadline=\"...\" in hping3.cfg, below the agent's script timeout) or lower --count or --interval", host, deadline)
	}
	return fmt.Sprintf("interrupted: the probe of %q was stopped before it finished (%v)", host, stop)
}

// JSON numbers: loss to 0.01 %, times to 0.001 ms (hping3 reports 0.1 ms).
func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
