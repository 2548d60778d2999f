package web

import (
	"container/list"
	"sync"
	"time"
)

// The sign-in rate limit: a client address may try 10 sign-ins at once, then one every 6 s.
// The account lockout stops guessing at one account; this stops a client from trying many.
const (
	loginBurst = 10
	loginEvery = 6 * time.Second
	// maxLimited bounds the addresses remembered; past it the least recently seen is
	// forgotten (and starts again with a full bucket), so memory stays bounded whatever the
	// number of clients.
	maxLimited = 10000
)

// limiter is a token bucket per client address, in memory. It is safe for concurrent use.
type limiter struct {
	burst float64
	every time.Duration
	max   int
	now   func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *bucket, the most recently used at the front
	byKey map[string]*list.Element
}

type bucket struct {
	key     string
	tokens  float64
	at      time.Time // when tokens was last brought up to date
	refused bool      // the last take was refused
}

func newLimiter(burst int, every time.Duration, max int, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), every: every, max: max, now: now, lru: list.New(), byKey: map[string]*list.Element{}}
}

// take spends one token of key's bucket. When there is none it reports false, how long until
// there is one, and whether this is the first refusal since the last allowed take: a client
// that keeps trying is worth one line of the audit log, not one per request.
func (l *limiter) take(key string) (ok bool, retry time.Duration, firstRefusal bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e := l.byKey[key]; e != nil {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
		if elapsed := now.Sub(b.at); elapsed > 0 {
			b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		}
		// A clock set back (a board that booted at 1970, then NTP) must not freeze the bucket
		// until the old time comes round again.
		b.at = now
	} else {
		b = &bucket{key: key, tokens: l.burst, at: now}
		l.byKey[key] = l.lru.PushFront(b)
		for l.lru.Len() > l.max {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.byKey, oldest.Value.(*bucket).key)
		}
	}
	if b.tokens >= 1 {
		b.tokens--
		b.refused = false
		return true, 0, false
	}
	first := !b.refused
	b.refused = true
	return false, time.Duration((1 - b.tokens) * float64(l.every)), first
}

// len returns the number of addresses remembered.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}
