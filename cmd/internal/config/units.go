package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("300ms", "1h30m"), with one
// addition for retention periods: a whole number of days ("400d"). Parse refuses a bare
// number, which go-toml would otherwise store as nanoseconds.
type Duration time.Duration

// UnmarshalText parses a Go duration or "<n>d".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > 100*365 {
			return fmt.Errorf("invalid duration %q: days must be a whole number up to 36500", s)
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a Go duration such as \"300ms\", \"5s\", \"1h\" or days such as \"400d\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a number of bytes written with an optional unit: "1GiB", "512MiB", "100MB", "4096".
type Size int64

// sizeUnits are the accepted suffixes, longest first so that "MiB" wins over "B".
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// UnmarshalText parses a size.
func (z *Size) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	num, factor := s, int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	// !(n >= 0) also refuses NaN, which converts to an int64 differently on each architecture.
	if err != nil || !(n >= 0) || n*float64(factor) > 1<<50 {
		return fmt.Errorf("invalid size %q: want bytes with a unit such as \"512MiB\" or \"1GiB\"", s)
	}
	*z = Size(n * float64(factor))
	return nil
}

// MarshalText writes the size in bytes.
func (z Size) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(z), 10) + "B"), nil
}
