package hub

import "time"

// MessageBucket is msgBucket, for the tests of the message rate without a connection.
type MessageBucket = msgBucket

// NewMessageBucket returns a full bucket at now.
func NewMessageBucket(now time.Time) *MessageBucket {
	b := newMsgBucket(now)
	return &b
}

// Take spends one token at now and reports whether there was one.
func (b *msgBucket) Take(now time.Time) bool { return b.take(now) }
