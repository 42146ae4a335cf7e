package otel

import (
	"math"
	"slices"
	"testing"
)

// Bucket counts are held in 32 bits until one passes them: then every
// bucket is 64 bits, and no count is cut, whether the sum comes from a
// sample, from merging buckets (a lower scale) or is taken apart again
// (a delta).
func TestBucketCountsWiden(t *testing.T) {
	c := makeCounts(3, false)
	c.add(0, 7)
	c.add(1, math.MaxUint32)
	c.add(2, 1)
	if c.wide != nil {
		t.Fatal("widened before a count passed 32 bits")
	}
	before := c.clone()
	c.add(1, 1)
	if got, want := c.uint64s(), []uint64{7, 1 << 32, 1}; !slices.Equal(got, want) {
		t.Fatalf("counts %v: want %v", got, want)
	}
	if c.wide == nil || c.narrow != nil {
		t.Fatal("not held in 64 bits after passing 32")
	}
	if got := before.uint64s(); !slices.Equal(got, []uint64{7, math.MaxUint32, 1}) {
		t.Errorf("a copy taken before changed: %v", got)
	}
	c.extend(2, 1, rttExpMaxSize)
	if got, want := c.uint64s(), []uint64{0, 0, 7, 1 << 32, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("extended: %v, want %v", got, want)
	}
	c.sub(3, math.MaxUint32)
	if got := c.at(3); got != 1 {
		t.Errorf("after taking 2^32-1 from 2^32: %d", got)
	}

	// Two buckets of 3 billion merge into one of 6 billion.
	h := expHistogram{started: true, scale: 1, offset: 4, counts: makeCounts(2, false)}
	h.counts.add(0, 3e9)
	h.counts.add(1, 3e9)
	h.downscale(1)
	if got := h.counts.uint64s(); h.offset != 2 || !slices.Equal(got, []uint64{6e9}) {
		t.Errorf("merged: offset %d counts %v, want offset 2 counts [6000000000]", h.offset, got)
	}
}
