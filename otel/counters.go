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

// totals holds every target's cumulative counts since it was first
// reported: its packets and its RTT samples.
type totals struct {
	// gather is held by a scrape for reading while it gathers, and for
	// writing by add (by take, with the report it takes): a scrape sees
	// each report whole, and never a window both in the totals and in
	// what peek says.
	gather sync.RWMutex
	// peek, when set (the Prometheus mode of a continuous source), says
	// what the window so far holds: a scrape adds it to the totals.
	peek   func() core.Report
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
	// shown is the most of the window so far a scrape added to this
	// series: the next report adds at least as much (take).
	shown shownWindow

	count         uint64
	sum, min, max float64
	noExtrema     bool         // a delta: min and max of the interval unknown
	classic       bucketCounts // per totals.bounds, and +Inf last
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
	c.addLocked(rd)
}

// take takes a report from next and counts it, with no scrape in
// between: one that peeked into the window before sees the window in the
// totals after, never both and never neither.
func (c *totals) take(ctx context.Context, next func(context.Context) core.Report) core.Report {
	c.gather.Lock()
	defer c.gather.Unlock()
	rd := next(ctx)
	c.addLocked(&rd)
	return rd
}

// addLocked is add, with c.gather held. What a scrape showed of a window
// is never taken back, so that a counter never goes down: a series whose
// window this report does not count (it failed, or its target's address
// changed and the window went to the new one) keeps what was shown, and a
// series counts the larger of what the report has for it and what was
// shown (two results of one series, one of which failed).
func (c *totals) addLocked(rd *core.Report) {
	c.mu.Lock()
	defer c.mu.Unlock()
	present := map[attribute.Distinct]bool{}
	counted := map[*series]*shownWindow{}
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
				classic: makeCounts(len(c.bounds)+1, false), exp: expHistogram{capped: c.capped, maxScale: c.maxScale}}
			c.index[attrs.Equivalent()] = s
			c.series = append(c.series, s)
		}
		counted[s] = counted[s].plus(shownOf(res))
	}
	kept := c.series[:0]
	for _, s := range c.series {
		if w := counted[s]; w != nil && w.sent >= s.shown.sent {
			s.add(*w, c.bounds)
		} else if s.shown.sent > 0 {
			s.add(s.shown, c.bounds)
		}
		s.shown = shownWindow{}
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

// shownWindow is a result's packets and RTTs (in ms): a report's, or what
// a scrape showed of a window.
type shownWindow struct {
	packetCounts
	samples []float64
}

func shownOf(res *probe.Result) shownWindow {
	w := shownWindow{packetCounts: packetCounts{int64(res.Transmitted), int64(res.Received), int64(res.Duplicates), int64(res.ICMPErrors)}}
	if res.RTT != nil {
		w.samples = res.RTT.Samples
	}
	return w
}

// plus is w with v's packets and RTTs added (w nil: none yet).
func (w *shownWindow) plus(v shownWindow) *shownWindow {
	if w == nil {
		w = &shownWindow{}
	}
	w.packetCounts.plus(v.packetCounts)
	w.samples = append(w.samples, v.samples...)
	return w
}

// add counts w's packets and RTTs into s.
func (s *series) add(w shownWindow, bounds []float64) {
	s.packetCounts.plus(w.packetCounts)
	for _, v := range w.samples {
		s.record(ms(v), bounds)
	}
}

// view is every series as a scrape shows it: its totals and, when peek
// is set, its packets decided since the last report. Each is a copy that
// neither reports nor other scrapes change; without native, its
// exponential buckets are left out (the text format has none: at 10,000
// targets copying them cost 13 MB a scrape). Called with c.gather held
// for reading.
func (c *totals) view(native bool) []*series {
	var rd core.Report
	if c.peek != nil {
		rd = c.peek()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*series, len(c.series))
	at := make(map[*series]*series, len(c.series))
	for i, s := range c.series {
		out[i] = s.snapshot(native)
		at[s] = out[i]
	}
	peeked := map[*series]*shownWindow{}
	for i := range rd.Results {
		res := &rd.Results[i]
		if res.Code != probe.OK || res.Transmitted == 0 {
			continue // (not counted if it stays so; shown already, kept)
		}
		attrs := attributes(res)
		if s := c.index[attrs.Equivalent()]; s != nil { // (no series until its first report)
			peeked[s] = peeked[s].plus(shownOf(res))
		}
	}
	for s, w := range peeked {
		if w.sent > s.shown.sent {
			// (A scrape that peeked before another and got here after it
			// shows the other's: never less than was shown.)
			s.shown = shownWindow{packetCounts: w.packetCounts, samples: slices.Clone(w.samples)}
		}
	}
	for _, s := range c.series {
		if s.shown.sent > 0 {
			at[s].add(s.shown, c.bounds)
		}
	}
	return out
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
	s.classic.add(sort.SearchFloat64s(bounds, v), 1) // (lower, upper]: le
	s.exp.record(v)
}

// packetCounts are a series' packet counters.
type packetCounts struct{ sent, received, duplicates, icmpErrors int64 }

func (p *packetCounts) plus(q packetCounts) {
	p.sent += q.sent
	p.received += q.received
	p.duplicates += q.duplicates
	p.icmpErrors += q.icmpErrors
}

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
	// scrape, when set, gives the series instead: a protobuf scrape's view.
	scrape func() []*series

	mu     sync.Mutex
	last   map[attribute.Distinct]*series // delta: each series as last collected
	lastAt time.Time
}

var _ sdkmetric.Producer = (*producer)(nil)

// Produce returns the counters and the histogram at this moment.
func (p *producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	c := p.t
	now := time.Now()
	var points []*series
	if p.scrape != nil {
		points = p.scrape()
	} else {
		c.mu.Lock()
		points = make([]*series, len(c.series))
		for i, s := range c.series {
			points[i] = s.snapshot(true)
		}
		c.mu.Unlock()
	}
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
				Count: s.count, Sum: s.sum, Bounds: p.t.bounds, BucketCounts: s.classic.uint64s()}
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

// snapshot is a copy of s that later samples do not change; without exp,
// one without its exponential buckets.
func (s *series) snapshot(exp bool) *series {
	c := *s
	c.classic = s.classic.clone()
	if exp {
		c.exp.counts = s.exp.counts.clone()
	} else {
		c.exp = expHistogram{}
	}
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
		d := cur.snapshot(true)
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
		for k := range d.classic.len() {
			d.classic.sub(k, prev.classic.at(k))
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
		PositiveBucket: metricdata.ExponentialBucket{Offset: h.offset, Counts: h.counts.uint64s()}}
	if s.count > 0 && !s.noExtrema {
		dp.Min, dp.Max = metricdata.NewExtrema(s.min), metricdata.NewExtrema(s.max)
	}
	return dp
}
