// Package ring keeps the recent readings of each sensor in RAM: a fixed-capacity ring per
// sensor (by default the last hour at one reading a second) that answers "latest", "last n"
// and time-range queries without touching the disk.
//
// Nothing here survives a restart or a power cut; the bolt log is the durable history.
package ring

import (
	"math"
	"slices"
	"sync"
	"time"

	"mask.services/maskservice"
)

// DefaultCapacity is the number of readings a ring holds when New is given no capacity: one
// hour at the default poll interval of one second.
const DefaultCapacity = 3600

// Ring is a fixed-capacity ring of one sensor's readings. When full, a push overwrites the
// oldest reading. Its memory is allocated once by New; Push never allocates.
//
// A Ring is safe for concurrent use by any number of readers and writers.
//
// Range finds its window by binary search on the readings' times, which is valid while the
// ring holds them in time order, as the monitor pushes them. A device clock can jump
// backwards (a board booting at 1970 and then setting its clock by NTP, or NTP correcting
// a fast clock), so Push counts the adjacent pairs that are out of time order: one is
// added when a reading is older than the newest, one leaves when the older reading of such
// a pair is overwritten. While the count is not zero Range scans linearly, so it stays
// correct, only slower; once the out-of-order readings have aged out of the ring (within
// one capacity of pushes) it is back to binary search.
type Ring struct {
	mu sync.RWMutex
	// buf holds the readings, keys their times as wall-clock Unix nanoseconds at the same
	// index. The keys keep binary search in one small cache-friendly array, and compare wall
	// clocks only: time.Time comparisons would use the monotonic reading when both sides have
	// one, which hides a wall-clock jump from the order check but not from callers whose
	// bounds were parsed from a query.
	buf        []maskservice.Reading
	keys       []int64
	start      int // index of the oldest reading
	n          int // number of readings held
	inversions int // adjacent pairs (older push, newer push) whose times are out of order
}

// New returns an empty ring that holds up to capacity readings. A capacity below 1 means
// DefaultCapacity.
func New(capacity int) *Ring {
	if capacity < 1 {
		capacity = DefaultCapacity
	}
	return &Ring{
		buf:  make([]maskservice.Reading, capacity),
		keys: make([]int64, capacity),
	}
}

// Cap returns the number of readings the ring holds when full.
func (r *Ring) Cap() int { return len(r.buf) }

// Len returns the number of readings held.
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}

// Push appends rd as the newest reading, overwriting the oldest when the ring is full. rd
// may be older than the newest reading (a clock jump); see Ring for what that costs.
func (r *Ring) Push(rd maskservice.Reading) {
	k := key(rd.Time)
	r.mu.Lock()
	defer r.mu.Unlock()
	c := len(r.buf)
	if r.n == c {
		// The oldest reading leaves, and with it the pair it forms with the second oldest.
		if c > 1 && r.keys[r.wrap(r.start+1)] < r.keys[r.start] {
			r.inversions--
		}
		r.start = r.wrap(r.start + 1)
		r.n--
	}
	if r.n > 0 && k < r.keys[r.wrap(r.start+r.n-1)] {
		r.inversions++
	}
	i := r.wrap(r.start + r.n)
	r.buf[i], r.keys[i] = rd, k
	r.n++
}

// Latest returns the newest pushed reading, and false if the ring is empty.
func (r *Ring) Latest() (maskservice.Reading, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return maskservice.Reading{}, false
	}
	return r.buf[r.wrap(r.start+r.n-1)], true
}

// Oldest returns the oldest reading still held (the first pushed of those not yet
// overwritten), and false if the ring is empty. Every reading pushed after it is in the ring.
func (r *Ring) Oldest() (maskservice.Reading, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.n == 0 {
		return maskservice.Reading{}, false
	}
	return r.buf[r.start], true
}

// Last appends the n newest readings (all of them if the ring holds fewer) to dst, oldest
// first, and returns the extended slice. n <= 0 appends nothing.
func (r *Ring) Last(n int, dst []maskservice.Reading) []maskservice.Reading {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n = min(n, r.n)
	if n <= 0 {
		return dst
	}
	return r.appendSpan(dst, r.n-n, r.n)
}

// Range appends the readings whose Time lies in [start, end] to dst, oldest first, and
// returns the extended slice. An empty window (end before start) appends nothing. While
// out-of-order readings are in the ring (see Ring), the matching readings come in the order
// they were pushed.
func (r *Ring) Range(start, end time.Time, dst []maskservice.Reading) []maskservice.Reading {
	lo, hi := key(start), key(end)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if lo > hi || r.n == 0 {
		return dst
	}
	if r.inversions > 0 {
		for i := range r.n {
			j := r.wrap(r.start + i)
			if k := r.keys[j]; k >= lo && k <= hi {
				dst = append(dst, r.buf[j])
			}
		}
		return dst
	}
	first, last := r.lowerBound(lo), r.n
	if hi < math.MaxInt64 {
		last = r.lowerBound(hi + 1)
	}
	if first >= last {
		return dst
	}
	return r.appendSpan(dst, first, last)
}

// lowerBound returns the smallest logical index (0 = oldest) whose key is >= k, or r.n if
// there is none. The keys must be in order.
func (r *Ring) lowerBound(k int64) int {
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.keys[r.wrap(r.start+mid)] >= k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// appendSpan appends the readings at logical indexes [from, to) to dst with one growth at
// most; the span occupies at most two contiguous pieces of buf.
func (r *Ring) appendSpan(dst []maskservice.Reading, from, to int) []maskservice.Reading {
	dst = slices.Grow(dst, to-from)
	a := r.wrap(r.start + from)
	b := a + (to - from)
	if b <= len(r.buf) {
		return append(dst, r.buf[a:b]...)
	}
	dst = append(dst, r.buf[a:]...)
	return append(dst, r.buf[:b-len(r.buf)]...)
}

// wrap maps i in [0, 2*cap) onto an index of buf, cheaper than i % cap.
func (r *Ring) wrap(i int) int {
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return i
}

// maxKeySec is the largest whole second whose Unix nanoseconds fit an int64 (in 2262).
const maxKeySec = math.MaxInt64 / int64(time.Second)

// key returns t as wall-clock Unix nanoseconds, clamped to the int64 range (about the years
// 1678 to 2262) so that a zero time.Time works as "from the beginning".
func key(t time.Time) int64 {
	switch sec := t.Unix(); {
	case sec >= maxKeySec:
		return math.MaxInt64
	case sec <= -maxKeySec:
		return math.MinInt64
	}
	return t.UnixNano()
}
