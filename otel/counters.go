package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// The cumulative instruments: the packet counters and the RTT histogram sum
// every report the pipeline is offered (a tally holds those not yet
// counted), so a report replaced before its export still reaches them. The
// gauges, which show only the report exported, are in instruments.go.

// rttHistogram is the aggregation of hping3.rtt.duration: base-2
// exponential buckets need no bounds chosen in advance, and at the SDK's
// default size and scale they keep loopback's 0.05 ms and a satellite
// link's 600 ms apart at a few percent relative error.
var rttHistogram = sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}

// views makes hping3.rtt.duration exponential whatever the exporter's
// default histogram aggregation (explicit buckets, unless
// OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION says otherwise).
func views() []sdkmetric.View {
	return []sdkmetric.View{sdkmetric.NewView(
		sdkmetric.Instrument{Name: nameRTTHistogram},
		sdkmetric.Stream{Aggregation: rttHistogram})}
}

// count adds what t tallied to the counters and the histogram.
func (r *recorder) count(t *tally) {
	ctx := context.Background()
	for i := range t.series {
		s := &t.series[i]
		set := metric.WithAttributeSet(s.attrs)
		// Add(0) too: a target's counters exist from its first report
		// on, so rate() and increase() start from 0, not from the first
		// reply.
		r.countSent.Add(ctx, s.sent, set)
		r.countReceived.Add(ctx, s.received, set)
		r.countDuplicates.Add(ctx, s.duplicates, set)
		r.countICMPErrors.Add(ctx, s.icmpErrors, set)
		for _, v := range s.rtts {
			r.rtt.Record(ctx, v, set)
		}
	}
}

// tally sums the packets and collects the RTT samples of rounds not yet
// counted, per target (attribute set): the rounds the pipeline replaced
// before their export still reach the counters.
type tally struct {
	index  map[attribute.Distinct]int
	series []series
}

type series struct {
	attrs                                  attribute.Set
	sent, received, duplicates, icmpErrors int64
	rtts                                   []float64 // seconds
}

// add tallies rd's results. A probe that could not run is left out, as
// from the gauges: its counts would say nothing about the network.
func (t *tally) add(rd *core.Report) {
	if t.index == nil {
		t.index = map[attribute.Distinct]int{}
	}
	for i := range rd.Results {
		res := &rd.Results[i]
		if res.Code != probe.OK {
			continue
		}
		attrs := attributes(res)
		k, ok := t.index[attrs.Equivalent()]
		if !ok {
			k = len(t.series)
			t.index[attrs.Equivalent()] = k
			t.series = append(t.series, series{attrs: attrs})
		}
		s := &t.series[k]
		s.sent += int64(res.Transmitted)
		s.received += int64(res.Received)
		s.duplicates += int64(res.Duplicates)
		s.icmpErrors += int64(res.ICMPErrors)
		if res.RTT != nil {
			for _, v := range res.RTT.Samples {
				s.rtts = append(s.rtts, ms(v))
			}
		}
	}
}

func (t *tally) empty() bool { return len(t.series) == 0 }
