// Package wire spells the values that the REST answers and the WebSocket frames share, in one
// place so that the two cannot drift apart: a client that parses a reading from one parses it
// from the other.
//
// A timestamp is RFC 3339 in UTC with exactly three fractional digits (TimestampLayout), the
// format every browser's Date parses and fine enough for readings taken at most every 10 ms.
// A number is the shortest decimal that reads back as the same float64, as encoding/json
// writes it, or null when JSON cannot represent it (NaN marks a failed read).
package wire

import (
	"math"
	"strconv"
	"time"
)

// TimestampLayout is the time.Layout of every timestamp the API writes.
const TimestampLayout = "2006-01-02T15:04:05.000Z07:00"

// AppendTimestamp appends t, in UTC and TimestampLayout, to dst as a JSON string. The layout
// yields only digits, '-', ':', '.', 'T' and 'Z': nothing to escape. It allocates only when
// dst must grow.
func AppendTimestamp(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, TimestampLayout)
	return append(dst, '"')
}

// AppendNumber appends v to dst as a JSON number, or null when v is NaN or infinite.
func AppendNumber(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	// Like encoding/json: plain decimals, exponent form only for very small or large values.
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, v, format, -1, 64)
}
