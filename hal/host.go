package hal

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mask.services/maskservice"
)

// Host reads the facts of the machine from procfs. It implements maskservice.Host.
// The zero value reads the real /proc; tests point Proc at a fixture tree.
type Host struct {
	// Proc is the root of procfs; "" means "/proc".
	Proc string
}

var _ maskservice.Host = Host{}

// Info reads the uptime from <Proc>/uptime, MemTotal and MemAvailable from <Proc>/meminfo and
// the process's resident set (VmRSS) from <Proc>/self/status, converting kB to bytes. It reads
// the files anew on every call. An unreadable file gives an error that wraps the os error
// ("read /proc/meminfo: ..."); a file without the expected fields gives a "parse" error that
// names the file and the field.
func (h Host) Info() (maskservice.HostInfo, error) {
	var info maskservice.HostInfo
	var err error
	if info.Uptime, err = readUptime(h.path("uptime")); err != nil {
		return maskservice.HostInfo{}, err
	}
	mem, err := readKB(h.path("meminfo"), "MemTotal", "MemAvailable")
	if err != nil {
		return maskservice.HostInfo{}, err
	}
	info.MemTotal, info.MemAvailable = mem[0], mem[1]
	rss, err := readKB(h.path("self", "status"), "VmRSS")
	if err != nil {
		return maskservice.HostInfo{}, err
	}
	info.ProcessRSS = rss[0]
	return info, nil
}

func (h Host) path(elem ...string) string {
	root := h.Proc
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// readUptime parses the first field of /proc/uptime: seconds since boot, as a decimal.
func readUptime(path string) (time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, fmt.Errorf("parse %s: empty file", path)
	}
	sec, err := strconv.ParseFloat(fields[0], 64)
	// The upper bound keeps the conversion to nanoseconds from overflowing.
	if err != nil || math.IsNaN(sec) || sec < 0 || sec > math.MaxInt64/1e9 {
		return 0, fmt.Errorf("parse %s: uptime %q is not a number of seconds", path, fields[0])
	}
	return time.Duration(sec * float64(time.Second)), nil
}

// readKB reads a procfs file of "Key: value kB" lines and returns the values of keys, in
// bytes, in the order of keys. Every key must be present with the unit kB.
func readKB(path string, keys ...string) ([]uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	values := make([]uint64, len(keys))
	found := make([]bool, len(keys))
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for i, k := range keys {
			if key != k {
				continue
			}
			fields := strings.Fields(rest)
			if len(fields) != 2 || fields[1] != "kB" {
				return nil, fmt.Errorf("parse %s: %s: want \"<number> kB\", got %q", path, k, strings.TrimSpace(rest))
			}
			n, err := strconv.ParseUint(fields[0], 10, 64)
			if err != nil || n > math.MaxUint64/1024 {
				return nil, fmt.Errorf("parse %s: %s: %q is not a number of kB", path, k, fields[0])
			}
			values[i], found[i] = n*1024, true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for i, k := range keys {
		if !found[i] {
			return nil, fmt.Errorf("parse %s: no %s line", path, k)
		}
	}
	return values, nil
}
