package otel

import "math"

// bucketCounts are a histogram's bucket counts: 32 bits each until one
// would pass what 32 bits hold, then 64 bits each for good. A series holds
// its classic buckets (38 by default, +Inf among them) and up to rttExpMaxSize
// exponential ones (rttExpMaxSize), and a busy one fills them: at 10,000 series 64-bit
// counts held about 16 MB, more than anything else the Prometheus mode
// keeps per target.
type bucketCounts struct {
	narrow []uint32
	wide   []uint64 // in use once a count passed math.MaxUint32 (narrow is then nil)
}

// makeCounts is n empty buckets, 64 bits each when wide is set.
func makeCounts(n int, wide bool) bucketCounts {
	if wide {
		return bucketCounts{wide: make([]uint64, n)}
	}
	return bucketCounts{narrow: make([]uint32, n)}
}

func (c *bucketCounts) len() int {
	if c.wide != nil {
		return len(c.wide)
	}
	return len(c.narrow)
}

func (c *bucketCounts) at(i int) uint64 {
	if c.wide != nil {
		return c.wide[i]
	}
	return uint64(c.narrow[i])
}

// add adds n to bucket i, widening every bucket first when 32 bits would
// not hold the sum.
func (c *bucketCounts) add(i int, n uint64) {
	if c.wide == nil {
		if v := uint64(c.narrow[i]) + n; v <= math.MaxUint32 {
			c.narrow[i] = uint32(v)
			return
		}
		c.widen()
	}
	c.wide[i] += n
}

// sub takes n, at most what it holds, from bucket i.
func (c *bucketCounts) sub(i int, n uint64) {
	if c.wide != nil {
		c.wide[i] -= n
		return
	}
	c.narrow[i] -= uint32(n)
}

func (c *bucketCounts) widen() {
	c.wide = make([]uint64, len(c.narrow), max(cap(c.narrow), 1))
	for i, v := range c.narrow {
		c.wide[i] = uint64(v)
	}
	c.narrow = nil
}

// extend adds front empty buckets before the first and back after the
// last. Its room never passes most (the buckets a histogram may hold),
// where append's doubling would reach 256 buckets for 160.
func (c *bucketCounts) extend(front, back, most int) {
	old := c.len()
	n := front + old + back
	if front == 0 && n <= c.room() {
		if c.wide != nil {
			c.wide = c.wide[:n]
			clear(c.wide[old:])
		} else {
			c.narrow = c.narrow[:n]
			clear(c.narrow[old:])
		}
		return
	}
	room := max(n, min(2*n, most))
	if front > 0 {
		room = n // the buckets grow at the front only as far as they must
	}
	if c.wide != nil {
		grown := make([]uint64, n, room)
		copy(grown[front:], c.wide)
		c.wide = grown
		return
	}
	grown := make([]uint32, n, room)
	copy(grown[front:], c.narrow)
	c.narrow = grown
}

// room is how many buckets c holds without a new array.
func (c *bucketCounts) room() int {
	if c.wide != nil {
		return cap(c.wide)
	}
	return cap(c.narrow)
}

func (c bucketCounts) clone() bucketCounts {
	if c.wide != nil {
		return bucketCounts{wide: append([]uint64(nil), c.wide...)}
	}
	if c.narrow == nil {
		return bucketCounts{}
	}
	return bucketCounts{narrow: append([]uint32(nil), c.narrow...)}
}

// uint64s is a copy of the counts, as the SDK's data points hold them.
func (c *bucketCounts) uint64s() []uint64 {
	out := make([]uint64, c.len())
	for i := range out {
		out[i] = c.at(i)
	}
	return out
}
