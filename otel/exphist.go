package otel

import "math"

// rttExpMaxSize and rttExpMaxScale are the exponential histogram's limits
// (the SDK's default size, and its finest scale): they keep loopback's
// 0.05 ms and a satellite link's 600 ms apart at a few percent relative
// error.
const (
	rttExpMaxSize  = 160
	rttExpMaxScale = 20
)

// expHistogram is a base-2 exponential histogram of positive values, as the
// OpenTelemetry data model defines it: bucket i at scale s holds the values
// in (2^(i/2^s), 2^((i+1)/2^s)]. It starts at the finest scale and halves
// its resolution (scale-1) whenever its buckets would span more than
// rttExpMaxSize, as the SDK's aggregation does.
type expHistogram struct {
	started bool
	// capped: it starts at maxScale, not rttExpMaxScale, when finer
	// buckets are not wanted (Histogram.NativeFactor).
	capped   bool
	maxScale int32
	scale    int32
	offset   int32        // index of counts' first
	counts   bucketCounts // contiguous buckets from offset
	zero     uint64       // values of exactly 0
}

func (h *expHistogram) record(v float64) {
	if !h.started {
		h.started, h.scale = true, rttExpMaxScale
		if h.capped && h.maxScale < rttExpMaxScale {
			h.scale = h.maxScale
		}
	}
	if v <= 0 {
		h.zero++
		return
	}
	i := bucketIndex(v, h.scale)
	if h.counts.len() == 0 {
		h.offset, h.counts = i, makeCounts(1, false)
		h.counts.add(0, 1)
		return
	}
	lo, hi := min(h.offset, i), max(h.offset+int32(h.counts.len())-1, i)
	shift := int32(0)
	for (hi>>shift)-(lo>>shift)+1 > rttExpMaxSize {
		shift++
	}
	if shift > 0 {
		h.downscale(shift)
		i >>= shift
	}
	if i < h.offset {
		h.counts.extend(int(h.offset-i), 0, rttExpMaxSize)
		h.offset = i
	}
	if n := int(i-h.offset) + 1; n > h.counts.len() {
		h.counts.extend(0, n-h.counts.len(), rttExpMaxSize)
	}
	h.counts.add(int(i-h.offset), 1)
}

// downscale lowers the scale by shift: each bucket merges with its
// neighbours into the bucket of index >> shift.
func (h *expHistogram) downscale(shift int32) {
	h.scale -= shift
	newOff := h.offset >> shift
	last := (h.offset + int32(h.counts.len()) - 1) >> shift
	merged := makeCounts(int(last-newOff+1), h.counts.wide != nil)
	for k := range h.counts.len() {
		merged.add(int(((h.offset+int32(k))>>shift)-newOff), h.counts.at(k))
	}
	h.offset, h.counts = newOff, merged
}

// bucketIndex is the index of v's bucket at scale, the upper bound
// inclusive: as the OpenTelemetry Go SDK computes it, exact at powers of 2.
func bucketIndex(v float64, scale int32) int32 {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if scale <= 0 {
		correction := int32(1)
		if frac == 0.5 { // an exact power of two: the bucket below
			correction = 2
		}
		return (int32(exp) - correction) >> -scale
	}
	return int32(exp)<<scale + int32(math.Log(frac)*math.Ldexp(math.Log2E, int(scale))) - 1
}

// subtract takes prev, an earlier state of h, out of h: what was recorded
// since. It reports false, leaving h unchanged, when prev cannot be an
// earlier state of h (a finer scale, buckets h does not hold, more in a
// bucket).
func (h *expHistogram) subtract(prev *expHistogram) bool {
	if prev.zero > h.zero || (prev.counts.len() > 0 && prev.scale < h.scale) {
		return false
	}
	p := expHistogram{scale: prev.scale, offset: prev.offset, counts: prev.counts.clone()}
	if shift := p.scale - h.scale; shift > 0 && p.counts.len() > 0 {
		p.downscale(shift)
	}
	for k := range p.counts.len() {
		i := int(p.offset) + k - int(h.offset)
		if i < 0 || i >= h.counts.len() || h.counts.at(i) < p.counts.at(k) {
			return false
		}
	}
	for k := range p.counts.len() {
		h.counts.sub(int(p.offset)+k-int(h.offset), p.counts.at(k))
	}
	h.zero -= prev.zero
	return true
}
