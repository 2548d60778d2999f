package hub

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"mask.services/maskservice"
	"mask.services/maskservice/web/internal/wire"
)

// AppendSensorsFrame appends the JSON sensors frame of round r to dst and returns the extended
// slice:
//
//	{"type":"sensors","seq":N,"ts":1712345678.123456,"P1":{"value":5.02,"raw_value":5020,
//	"unit":"bar","status":"normal","quality":"good","fault":"","timestamp":"2024-04-05T19:34:38.120Z"},...}
//
// ts is the server send time as Unix seconds with microsecond precision. There is one key per
// sensor of r.Current, in that order. Timestamps and numbers are spelled as in the REST
// answers (package wire): a value or raw value that is NaN or infinite (a failed read) is
// written as null. Strings are escaped so that the frame is valid JSON whatever text
// they hold (invalid UTF-8 becomes U+FFFD). Sensor ids never collide with "type", "seq" or
// "ts" because maskservice.ValidateSensors reserves them. A nil r gives a frame with seq 0
// and no sensors. It allocates only when dst must grow.
func AppendSensorsFrame(dst []byte, r *maskservice.Round, ts time.Time) []byte {
	var seq uint64
	if r != nil {
		seq = r.Seq
	}
	dst = append(dst, `{"type":"sensors","seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = appendUnixSeconds(dst, ts.UnixMicro())
	if r != nil {
		for i := range r.Current {
			dst = appendReading(dst, &r.Current[i])
		}
	}
	return append(dst, '}')
}

// appendReading appends `,"ID":{...}` for one reading.
func appendReading(dst []byte, rd *maskservice.Reading) []byte {
	dst = append(dst, ',')
	dst = appendString(dst, rd.SensorID)
	dst = append(dst, `:{"value":`...)
	dst = wire.AppendNumber(dst, rd.Value)
	dst = append(dst, `,"raw_value":`...)
	dst = wire.AppendNumber(dst, rd.Raw)
	dst = append(dst, `,"unit":`...)
	dst = appendString(dst, rd.Unit)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, rd.Status.String())
	dst = append(dst, `,"quality":`...)
	dst = appendString(dst, rd.Quality.String())
	dst = append(dst, `,"fault":`...)
	dst = appendString(dst, rd.Fault)
	dst = append(dst, `,"timestamp":`...)
	dst = wire.AppendTimestamp(dst, rd.Time)
	return append(dst, '}')
}

// appendUnixSeconds appends us microseconds as decimal seconds with six decimals. It works in
// integers: a float64 would lose the last microsecond for dates after the year 2255.
func appendUnixSeconds(dst []byte, us int64) []byte {
	u := uint64(us)
	if us < 0 {
		dst = append(dst, '-')
		u = -u // two's complement: right even for the most negative int64
	}
	dst = strconv.AppendUint(dst, u/1e6, 10)
	frac := u % 1e6
	dst = append(dst, '.', 0, 0, 0, 0, 0, 0)
	for i := len(dst) - 1; i >= len(dst)-6; i-- {
		dst[i] = byte('0' + frac%10)
		frac /= 10
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Control characters, quotes and backslashes are
// escaped, invalid UTF-8 bytes become \ufffd (as encoding/json does), and U+2028/U+2029 are
// escaped so the frame is also safe to evaluate as JavaScript.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendAlertFrame appends the JSON frame that tells clients an alert changed to dst and
// returns the extended slice: {"type":"alert","ts":1712345678.123456,"alert":{…}}, ts in Unix
// seconds as in the sensors frames, the alert spelled as GET /api/alerts/{id} answers it
// (package wire).
func AppendAlertFrame(dst []byte, a maskservice.Alert, ts time.Time) []byte {
	body, err := json.Marshal(wire.NewAlert(a))
	if err != nil {
		panic("hub: encode alert frame: " + err.Error()) // plain fields only: a bug
	}
	dst = append(dst, `{"type":"alert","ts":`...)
	dst = appendUnixSeconds(dst, ts.UnixMicro())
	dst = append(dst, `,"alert":`...)
	dst = append(dst, body...)
	return append(dst, '}')
}
