package otel

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// promRTTHistogram is hping3.rtt.duration's name on the scrape endpoint.
const promRTTHistogram = "hping3_rtt_duration_seconds"

// maxNativeSchema is the finest resolution a Prometheus native histogram
// has (schema 8: 2^(1/256) per bucket).
const maxNativeSchema = 8

// nativeGatherer serves the RTT histogram both ways, as client_golang's
// own histograms can: classic buckets, which every Prometheus reads and
// the text format carries, and the native (sparse, exponential) buckets
// of the same samples, which a Prometheus with native histograms turned
// on asks for in the protobuf format. The OpenTelemetry exporter writes
// one or the other, so the native buckets are added to its classic ones
// here, from one view of the totals that both read, so both forms (and
// the count and sum) are of the same samples.
type nativeGatherer struct {
	reg prometheus.Gatherer
	t   *totals
	v   *scrapeView
}

// scrapeView is the totals' view one protobuf scrape shows: taken once,
// then read by the exporter's producer (the classic buckets, count and
// sum) and by natives (the native buckets). One such scrape at a time.
type scrapeView struct {
	mu     sync.Mutex
	series []*series
}

func (g nativeGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.v.mu.Lock()
	defer g.v.mu.Unlock()
	g.t.gather.RLock()
	g.v.series = g.t.view(true)
	g.t.gather.RUnlock()
	defer func() { g.v.series = nil }()
	mfs, err := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != promRTTHistogram || mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		natives := g.natives()
		for _, m := range mf.Metric {
			if h := natives[labelKey(m.Label)]; h != nil && m.Histogram != nil {
				setNative(m.Histogram, h)
			}
		}
	}
	return mfs, err
}

// natives are the view's exponential buckets, by the labels each series
// rendered when it was created.
func (g nativeGatherer) natives() map[string]*expHistogram {
	out := make(map[string]*expHistogram, len(g.v.series))
	for _, s := range g.v.series {
		out[s.labels] = &s.exp
	}
	return out
}

// labelKey is a metric's labels as renderLabels writes them: by name
// (client_golang sorts a metric's labels), quoted as the text format does.
func labelKey(ls []*dto.LabelPair) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.GetName())
		b.WriteString(`="`)
		writeEscaped(&b, l.GetValue())
		b.WriteByte('"')
	}
	return b.String()
}

// setNative gives h the native buckets of e. Prometheus' bucket i is
// (base^(i-1), base^i], OpenTelemetry's (base^i, base^(i+1)]: the index
// moves up by one. One span holds every bucket, empty ones as zero.
func setNative(h *dto.Histogram, e *expHistogram) {
	if !e.started {
		return
	}
	if shift := e.scale - maxNativeSchema; shift > 0 {
		e.downscale(shift)
	}
	h.Schema = proto.Int32(e.scale)
	h.ZeroThreshold = proto.Float64(0)
	h.ZeroCount = proto.Uint64(e.zero)
	if e.counts.len() == 0 {
		return
	}
	h.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(e.offset + 1), Length: proto.Uint32(uint32(e.counts.len()))}}
	deltas := make([]int64, e.counts.len())
	prev := int64(0)
	for i := range deltas {
		n := int64(e.counts.at(i))
		deltas[i] = n - prev
		prev = n
	}
	h.PositiveDelta = deltas
}
