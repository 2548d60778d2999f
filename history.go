package maskservice

import (
	"context"
	"fmt"
	"math"
	"time"
)

// HistoryLog is the durable record of every reading, kept on the device for the retention
// period. Implementation: store/bolt.DB.
type HistoryLog interface {
	// ScanHistory calls fn with the readings of sensorID whose Time lies in [start, end),
	// in the order they were taken (oldest first while the clock did not jump), until fn
	// returns false. It sees what has been committed: the newest commit interval of readings
	// may not be there yet. Logged readings have millisecond times and the unit given.
	ScanHistory(ctx context.Context, sensorID, unit string, start, end time.Time, fn func(Reading) bool) error
}

// ScanHistory calls fn with the readings of sensor s whose Time lies in [start, end], oldest
// first, until fn returns false: from the log for the part before the oldest reading the RAM
// ring holds, and from the ring from then on, so that the newest readings (not yet committed)
// are there and no reading comes twice or goes missing at the seam. log may be nil: then only
// the ring answers.
//
// The log keeps millisecond times, so the seam is the ring's oldest reading cut to the
// millisecond (its logged copy then falls on the ring's side), and the log is read from
// start's millisecond on. If the ring moves on
// while the log is read (a long scan), the log is read again up to the ring's new oldest
// reading, so that the readings that left the ring meanwhile are not lost.
func ScanHistory(ctx context.Context, recent RecentReadings, log HistoryLog, s Sensor, start, end time.Time, fn func(Reading) bool) error {
	if end.Before(start) {
		return nil
	}
	after := end.Add(time.Nanosecond) // the log's ranges exclude their end
	// The log keeps milliseconds: a reading at start's millisecond is in the range.
	from := start.Truncate(time.Millisecond)
	for pass := 0; ; pass++ {
		oldest, inRing := recent.Oldest(s.ID)
		cut := after
		if inRing {
			cut = minTime(oldest.Truncate(time.Millisecond), after)
		}
		if log != nil && from.Before(cut) {
			more := true
			err := log.ScanHistory(ctx, s.ID, s.Unit, from, cut, func(r Reading) bool {
				more = fn(r)
				return more
			})
			if err != nil {
				return fmt.Errorf("read history of %s: %w", s.ID, err)
			}
			if !more {
				return nil
			}
		}
		from = maxTime(from, cut)
		if !inRing || !cut.Before(after) {
			return ctx.Err()
		}
		now, ok := recent.Oldest(s.ID)
		if !ok || now.Truncate(time.Millisecond).Equal(cut) || log == nil || pass == 4 {
			break // the ring did not move while the log was read (or keeps moving: give up)
		}
	}
	for _, r := range recent.Range(s.ID, maxTime(from, start), end, nil) {
		if !fn(r) {
			break
		}
	}
	return ctx.Err()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Bucket is the summary of the readings that fall into one slice of time of a downsampled
// range.
type Bucket struct {
	Start    time.Time // the bucket's start; it lasts Bucketer.Width
	Count    int       // readings in the bucket
	Values   int       // of them, readings with a measured value
	Min, Max float64   // the lowest and highest value (NaN when Values is 0)
	MinAt    time.Time // when Min was read
	MaxAt    time.Time // when Max was read
	Sum      float64   // the sum of the values, for the mean
	Status   Status    // the worst status of the bucket's readings
	Bad      int       // readings of bad quality
	Fault    string    // the fault of the last bad reading, "" if none was bad
}

// Mean returns the mean of the bucket's values, NaN if it has none.
func (b *Bucket) Mean() float64 {
	if b.Values == 0 {
		return math.NaN()
	}
	return b.Sum / float64(b.Values)
}

// Bucketer downsamples a stream of readings in time order to at most MaxPoints points as they
// arrive, without holding more than MaxPoints readings: while the stream has at most
// MaxPoints readings they are kept as they are; beyond, the range is cut into MaxPoints
// buckets of equal width, each summarized by its min, max, mean, worst status and faults.
// Create it with NewBucketer; feed it with Add; read the result with Readings or Buckets.
type Bucketer struct {
	start     time.Time
	width     time.Duration
	maxPoints int

	raw     []Reading // while not Aggregated
	buckets []Bucket  // once Aggregated; only the buckets that got readings, in order
}

// NewBucketer returns a Bucketer for the range [start, end] and at most maxPoints points
// (at least 1).
func NewBucketer(start, end time.Time, maxPoints int) *Bucketer {
	maxPoints = max(maxPoints, 1)
	// Whole milliseconds, rounded up: the buckets cover the range, and their width reads
	// well (an hour into 3 points is 20 minutes, not 20 minutes and a nanosecond).
	span := end.Sub(start)
	width := time.Duration(math.Ceil(float64(span)/float64(maxPoints)/float64(time.Millisecond))) * time.Millisecond
	width = max(width, time.Millisecond)
	return &Bucketer{start: start, width: width, maxPoints: maxPoints}
}

// Width returns the duration of one bucket.
func (b *Bucketer) Width() time.Duration { return b.width }

// Aggregated reports whether the stream outgrew MaxPoints, so that Buckets holds the result.
func (b *Bucketer) Aggregated() bool { return b.buckets != nil }

// Add takes the next reading. Readings out of time order (after a clock jump) never reopen
// an earlier bucket: they join the current one, so there are never more than MaxPoints
// buckets.
func (b *Bucketer) Add(r Reading) {
	if b.buckets == nil {
		if len(b.raw) < b.maxPoints {
			b.raw = append(b.raw, r)
			return
		}
		b.buckets = make([]Bucket, 0, b.maxPoints)
		for _, old := range b.raw {
			b.aggregate(old)
		}
		b.raw = nil
	}
	b.aggregate(r)
}

func (b *Bucketer) aggregate(r Reading) {
	i := int(r.Time.Sub(b.start) / b.width)
	if r.Time.Before(b.start) {
		i = 0
	}
	i = min(max(i, 0), b.maxPoints-1)
	n := len(b.buckets)
	if n == 0 || i > b.index(n-1) {
		b.buckets = append(b.buckets, Bucket{Start: b.start.Add(time.Duration(i) * b.width), Min: math.NaN(), Max: math.NaN()})
		n++
	}
	bk := &b.buckets[n-1]
	bk.Count++
	bk.Status = max(bk.Status, r.Status)
	if r.Quality != QualityGood {
		bk.Bad++
		bk.Fault = r.Fault
	}
	if !r.HasValue() {
		return
	}
	bk.Values++
	bk.Sum += r.Value
	if bk.Values == 1 || r.Value < bk.Min {
		bk.Min, bk.MinAt = r.Value, r.Time
	}
	if bk.Values == 1 || r.Value > bk.Max {
		bk.Max, bk.MaxAt = r.Value, r.Time
	}
}

// index returns the bucket number of the bucket at position k of b.buckets.
func (b *Bucketer) index(k int) int {
	return int(b.buckets[k].Start.Sub(b.start) / b.width)
}

// Readings returns the readings as they came, when the stream was not aggregated.
func (b *Bucketer) Readings() []Reading { return b.raw }

// Buckets returns the buckets that got readings, oldest first, when the stream was
// aggregated.
func (b *Bucketer) Buckets() []Bucket { return b.buckets }

// StorageStatus is the health of the history log, for the device status: a full disk must be
// seen, since readings then wait in RAM and are lost beyond a bound or on a power cut.
type StorageStatus struct {
	State         string    // OK, DISK_FULL or ERROR
	Pending       int       // readings in RAM not yet committed
	Dropped       uint64    // readings dropped because commits failed for too long
	DroppedRounds uint64    // poll rounds lost because the writer's queue overflowed (a disk too slow)
	LastCommit    time.Time // zero before the first commit
	LastError     string    // "" while commits succeed
	FileBytes     int64     // the database file's size
	UsedBytes     int64     // of it, pages in use (the rest is free and reused)
	MaxBytes      int64     // the configured size limit
}
