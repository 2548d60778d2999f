package maskservice

import "time"

// Downsample reduces readings (sorted by Time, all within [start, end]) to at most maxPoints
// readings that keep the shape of the curve: the span is cut into maxPoints/2 equal buckets,
// and each bucket keeps its lowest and its highest reading, in time order. A bucket with no
// measured value keeps its first reading, so a fault stays visible as a gap. If there are no
// more than maxPoints readings, or maxPoints < 2, readings is returned as it is.
//
// Readings out of time order (the ring hands them over in push order after the device clock
// jumped back) never reopen an earlier bucket: they join the current one, so the result
// still holds at most maxPoints readings.
func Downsample(readings []Reading, start, end time.Time, maxPoints int) []Reading {
	if len(readings) <= maxPoints || maxPoints < 2 {
		return readings
	}
	buckets := maxPoints / 2
	span := end.Sub(start)
	if span <= 0 {
		span = 1
	}
	out := make([]Reading, 0, maxPoints)
	lo, hi, first := -1, -1, -1 // indexes into readings of the current bucket
	bucket := -1
	flush := func() {
		switch {
		case lo < 0 && first >= 0:
			out = append(out, readings[first])
		case lo == hi:
			out = append(out, readings[lo])
		case lo < hi:
			out = append(out, readings[lo], readings[hi])
		default:
			out = append(out, readings[hi], readings[lo])
		}
	}
	for i, r := range readings {
		// In float64: nanoseconds times buckets overflows int64 for spans of months.
		b := int(float64(r.Time.Sub(start)) / float64(span) * float64(buckets))
		b = min(max(b, bucket, 0), buckets-1)
		if b != bucket {
			if bucket >= 0 {
				flush()
			}
			bucket, lo, hi, first = b, -1, -1, i
		}
		if !r.HasValue() {
			continue
		}
		if lo < 0 || r.Value < readings[lo].Value {
			lo = i
		}
		if hi < 0 || r.Value > readings[hi].Value {
			hi = i
		}
	}
	if bucket >= 0 {
		flush()
	}
	return out
}
