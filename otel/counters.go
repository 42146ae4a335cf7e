package otel

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// The cumulative metrics: the packet counters and the RTT histogram. The
// plugin holds them itself (totals) rather than in synchronous SDK
// instruments, for three reasons:
//   - every reader (OTLP's and Prometheus') sees the same totals at any
//     moment, whatever report each last took;
//   - a target that leaves the configuration (a reload, a targets file)
//     leaves the output too, which an SDK instrument under cumulative
//     temporality never does;
//   - each reader gets the histogram its backend reads best: exponential
//     buckets for OTLP, classic buckets for a Prometheus scrape, which
//     histogram_quantile reads in every Prometheus (an exponential
//     histogram reaches Prometheus only as a native one).
// A producer (sdkmetric.Producer) hands them to each reader at collection.
// The gauges, which show only the latest report, are in instruments.go.

// rttExpMaxSize and rttExpMaxScale are the exponential histogram's limits
// (the SDK's default size, and its finest scale): they keep loopback's
// 0.05 ms and a satellite link's 600 ms apart at a few percent relative
// error.
const (
	rttExpMaxSize  = 160
	rttExpMaxScale = 20
)

// totals holds every target's cumulative counts since it was first
// reported: its packets and its RTT samples.
type totals struct {
	// gather is held by a scrape for reading while it gathers, and by add
	// for writing: a scrape sees each report whole (native.go).
	gather sync.RWMutex
	mu     sync.Mutex
	index  map[attribute.Distinct]*series
	series []*series // in the order targets first reported

	bounds []float64 // the classic buckets' upper bounds
	le     []string  // their le labels, and +Inf's
	// capped, maxScale: the exponential buckets' finest scale, when
	// Histogram.NativeFactor sets one.
	capped   bool
	maxScale int32
}

// staleReports is how many reports a series of a configured target may
// go without a result of its own (its target's name resolves elsewhere
// now, or not at all) before it is dropped: a name whose address rotates
// must not grow the output for ever.
const staleReports = 10

// series is one target's totals (one attribute set).
type series struct {
	attrs attribute.Set
	// born is when its counting began (the start of the report that
	// created it): its cumulative points' start time, and its identity,
	// so that a series dropped and created again is a reset for every
	// reader, not a counter that went down.
	born time.Time
	// unseen counts the reports since one had a result with its attributes.
	unseen int
	// target identifies the configured target apart from its address: a
	// name that resolves elsewhere, or not at all for a while, keeps its
	// other series until the target itself leaves.
	target attribute.Distinct
	// labels are attrs as the text exposition writes them, rendered once.
	labels string
	packetCounts

	count         uint64
	sum, min, max float64
	noExtrema     bool     // a delta: min and max of the interval unknown
	classic       []uint64 // per totals.bounds, and +Inf last
	exp           expHistogram
}

func newTotals(h Histogram) *totals {
	t := &totals{index: map[attribute.Distinct]*series{}, bounds: h.Buckets}
	if t.bounds == nil {
		t.bounds = DefaultBuckets
	}
	t.le = leLabels(t.bounds)
	if h.NativeFactor > 1 {
		t.capped, t.maxScale = true, scaleFor(h.NativeFactor)
	}
	return t
}

// add counts rd's results and forgets the series of targets rd no longer
// has: each report carries every configured target, failed or not. A
// probe that could not run is left out of the counts, as from the gauges:
// its counts would say nothing about the network.
func (c *totals) add(rd *core.Report) {
	c.gather.Lock()
	defer c.gather.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	present := map[attribute.Distinct]bool{}
	for i := range rd.Results {
		res := &rd.Results[i]
		attrs := attributes(res)
		target := targetOf(attrs)
		present[target] = true
		s := c.index[attrs.Equivalent()]
		if s != nil {
			s.unseen = -1 // (the loop below makes it 0)
		}
		if res.Code != probe.OK {
			continue
		}
		if s == nil {
			s = &series{attrs: attrs, target: target, labels: renderLabels(attrs), born: rd.Start, unseen: -1,
				classic: make([]uint64, len(c.bounds)+1), exp: expHistogram{capped: c.capped, maxScale: c.maxScale}}
			c.index[attrs.Equivalent()] = s
			c.series = append(c.series, s)
		}
		s.sent += int64(res.Transmitted)
		s.received += int64(res.Received)
		s.duplicates += int64(res.Duplicates)
		s.icmpErrors += int64(res.ICMPErrors)
		if res.RTT != nil {
			for _, v := range res.RTT.Samples {
				s.record(ms(v), c.bounds)
			}
		}
	}
	kept := c.series[:0]
	for _, s := range c.series {
		s.unseen++
		if present[s.target] && s.unseen <= staleReports {
			kept = append(kept, s)
		} else {
			delete(c.index, s.attrs.Equivalent())
		}
	}
	clear(c.series[len(kept):])
	c.series = kept
}

// targetOf is what identifies a target's series across its addresses.
func targetOf(attrs attribute.Set) attribute.Distinct {
	s, _ := attrs.Filter(func(kv attribute.KeyValue) bool { return kv.Key != keyPeerAddress })
	return s.Equivalent()
}

func (s *series) record(v float64, bounds []float64) {
	if s.count == 0 || v < s.min {
		s.min = v
	}
	if s.count == 0 || v > s.max {
		s.max = v
	}
	s.count++
	s.sum += v
	s.classic[sort.SearchFloat64s(bounds, v)]++ // (lower, upper]: le
	s.exp.record(v)
}

// packetCounts are a series' packet counters.
type packetCounts struct{ sent, received, duplicates, icmpErrors int64 }

// counterMetrics are the packet counters of the totals, in the order
// they are written.
var counterMetrics = []struct {
	name, description string
	total             func(*packetCounts) int64
}{
	{nameCountSent, "Probe packets sent to the target since the plugin started.",
		func(p *packetCounts) int64 { return p.sent }},
	{nameCountReceived, "Unique, in-time replies from the target since the plugin started (duplicates and ICMP errors excluded).",
		func(p *packetCounts) int64 { return p.received }},
	{nameCountDuplicates, "Replies to a sequence number already answered, since the plugin started.",
		func(p *packetCounts) int64 { return p.duplicates }},
	{nameCountICMPErrors, "ICMP errors received instead of the expected reply, since the plugin started.",
		func(p *packetCounts) int64 { return p.icmpErrors }},
}

const descriptionRTTHistogram = "Round-trip time of every timed reply."

// producer hands the totals to one reader: with exponential set, the
// histogram as an exponential one (OTLP), else with classic buckets; with
// delta set (OTLP under a delta temporality preference), each collection
// gets what was added since the previous one.
type producer struct {
	t           *totals
	exponential bool
	delta       bool

	mu     sync.Mutex
	last   map[attribute.Distinct]*series // delta: each series as last collected
	lastAt time.Time
}

var _ sdkmetric.Producer = (*producer)(nil)

// Produce returns the counters and the histogram at this moment.
func (p *producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	c := p.t
	c.mu.Lock()
	now := time.Now()
	points := make([]*series, len(c.series))
	for i, s := range c.series {
		points[i] = s.snapshot()
	}
	c.mu.Unlock()
	temporality := metricdata.CumulativeTemporality
	var previous time.Time // delta: the previous collection
	if p.delta {
		temporality = metricdata.DeltaTemporality
		p.mu.Lock()
		previous = p.lastAt
		points = p.deltas(points, now)
		p.mu.Unlock()
	}

	// A cumulative point starts when its series did; a delta when the
	// previous collection was (or its series began, if later).
	startOf := func(s *series) time.Time {
		if previous.After(s.born) {
			return previous
		}
		return s.born
	}
	sum := func(pick func(*series) int64) metricdata.Sum[int64] {
		d := metricdata.Sum[int64]{Temporality: temporality, IsMonotonic: true,
			DataPoints: make([]metricdata.DataPoint[int64], 0, len(points))}
		for _, s := range points {
			d.DataPoints = append(d.DataPoints, metricdata.DataPoint[int64]{Attributes: s.attrs, StartTime: startOf(s), Time: now, Value: pick(s)})
		}
		return d
	}
	ms := make([]metricdata.Metrics, 0, len(counterMetrics)+1)
	for _, c := range counterMetrics {
		ms = append(ms, metricdata.Metrics{Name: c.name, Unit: unitPacket, Description: c.description,
			Data: sum(func(s *series) int64 { return c.total(&s.packetCounts) })})
	}
	hist := metricdata.Metrics{Name: nameRTTHistogram, Unit: unitSeconds, Description: descriptionRTTHistogram}
	if p.exponential {
		d := metricdata.ExponentialHistogram[float64]{Temporality: temporality,
			DataPoints: make([]metricdata.ExponentialHistogramDataPoint[float64], 0, len(points))}
		for _, s := range points {
			d.DataPoints = append(d.DataPoints, s.exponential(startOf(s), now))
		}
		hist.Data = d
	} else {
		d := metricdata.Histogram[float64]{Temporality: temporality,
			DataPoints: make([]metricdata.HistogramDataPoint[float64], 0, len(points))}
		for _, s := range points {
			dp := metricdata.HistogramDataPoint[float64]{Attributes: s.attrs, StartTime: startOf(s), Time: now,
				Count: s.count, Sum: s.sum, Bounds: p.t.bounds, BucketCounts: s.classic}
			if s.count > 0 && !s.noExtrema {
				dp.Min, dp.Max = metricdata.NewExtrema(s.min), metricdata.NewExtrema(s.max)
			}
			d.DataPoints = append(d.DataPoints, dp)
		}
		hist.Data = d
	}
	ms = append(ms, hist)
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: scopeName}, Metrics: ms}}, nil
}

// snapshot is a copy of s that later samples do not change.
func (s *series) snapshot() *series {
	c := *s
	c.classic = slices.Clone(s.classic)
	c.exp.counts = slices.Clone(s.exp.counts)
	return &c
}

// deltas turns snapshots into what was added since the previous
// collection, and keeps them for the next. A series new since then is
// whole; the minimum and maximum of an interval are not known, and left
// out. Called with p.mu held.
func (p *producer) deltas(points []*series, now time.Time) []*series {
	next := make(map[attribute.Distinct]*series, len(points))
	out := make([]*series, len(points))
	for i, cur := range points {
		next[cur.attrs.Equivalent()] = cur
		prev := p.last[cur.attrs.Equivalent()]
		if prev == nil || !prev.born.Equal(cur.born) {
			out[i] = cur // new since, or dropped and created again: whole
			continue
		}
		d := cur.snapshot()
		if cur.sent < prev.sent || cur.received < prev.received || cur.duplicates < prev.duplicates ||
			cur.icmpErrors < prev.icmpErrors || cur.count < prev.count || !d.exp.subtract(&prev.exp) {
			out[i] = cur // not an earlier state of it: whole
			continue
		}
		d.sent -= prev.sent
		d.received -= prev.received
		d.duplicates -= prev.duplicates
		d.icmpErrors -= prev.icmpErrors
		d.count -= prev.count
		d.sum -= prev.sum
		d.noExtrema = true
		for k := range d.classic {
			d.classic[k] -= prev.classic[k]
		}
		out[i] = d
	}
	p.last, p.lastAt = next, now
	return out
}

func (s *series) exponential(since, now time.Time) metricdata.ExponentialHistogramDataPoint[float64] {
	h := &s.exp
	dp := metricdata.ExponentialHistogramDataPoint[float64]{Attributes: s.attrs, StartTime: since, Time: now,
		Count: s.count, Sum: s.sum, Scale: h.scale, ZeroCount: h.zero,
		PositiveBucket: metricdata.ExponentialBucket{Offset: h.offset, Counts: append([]uint64(nil), h.counts...)}}
	if s.count > 0 && !s.noExtrema {
		dp.Min, dp.Max = metricdata.NewExtrema(s.min), metricdata.NewExtrema(s.max)
	}
	return dp
}
