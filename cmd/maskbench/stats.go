package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted, or 0 when
// sorted is empty. Nearest rank never interpolates, so p99 of 20 samples is the largest one:
// with few frames the report errs on the pessimistic side.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// summary is the usual three figures of a latency distribution.
type summary struct {
	P50, P99, Max time.Duration
	N             int
}

// summarize sorts d in place and returns its p50, p99 and max.
func summarize(d []time.Duration) summary {
	d = slices.Clone(d) // the caller's order (by seq, beside Earliest) stays
	slices.Sort(d)
	s := summary{N: len(d), P50: percentile(d, 50), P99: percentile(d, 99)}
	if len(d) > 0 {
		s.Max = d[len(d)-1]
	}
	return s
}

// recv is one frame as one client received it.
type recv struct {
	seq  int64
	at   time.Time // when the client had the whole frame
	sent float64   // the frame's ts: server send time, Unix seconds
}

// frameStats is what the receive logs of all clients say about the frames first..last.
type frameStats struct {
	Spreads   []time.Duration // per seq received by anyone: latest minus earliest receive
	Earliest  []time.Time     // per entry of Spreads: when its frame first arrived
	Latencies []time.Duration // per (client, seq): receive time minus the frame's ts
	Missing   int             // (client, seq) pairs not received, over seqs that someone got
	Gaps      int             // seqs in first..last that no client received
}

// computeFrames reduces per-client receive logs to spreads and missing counts for the seqs
// first..last inclusive. Records outside the range are ignored, and a duplicate seq at one
// client counts once, at its first arrival.
func computeFrames(logs [][]recv, first, last int64) frameStats {
	var st frameStats
	if last < first {
		return st
	}
	n := int(last - first + 1)
	earliest := make([]time.Time, n)
	latest := make([]time.Time, n)
	count := make([]int, n)
	seen := make([]bool, n)
	for _, log := range logs {
		clear(seen)
		for _, r := range log {
			if r.seq < first || r.seq > last {
				continue
			}
			k := int(r.seq - first)
			if seen[k] {
				continue
			}
			seen[k] = true
			count[k]++
			if earliest[k].IsZero() || r.at.Before(earliest[k]) {
				earliest[k] = r.at
			}
			if r.at.After(latest[k]) {
				latest[k] = r.at
			}
			if r.sent > 0 {
				sent := time.Unix(0, int64(r.sent*1e9))
				st.Latencies = append(st.Latencies, r.at.Sub(sent))
			}
		}
	}
	for k := range n {
		if count[k] == 0 {
			st.Gaps++
			continue
		}
		st.Missing += len(logs) - count[k]
		st.Spreads = append(st.Spreads, latest[k].Sub(earliest[k]))
		st.Earliest = append(st.Earliest, earliest[k])
	}
	return st
}
