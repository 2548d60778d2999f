package bolt

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data, and only the metadata needed to read it back, to the disk.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// adviseRandom turns read-ahead off for f: recovery reads a few records, not the whole file,
// and pages read ahead would come into the page cache as large folios, which a one-page
// append then dirties (and /proc/self/io counts) whole.
func adviseRandom(f *os.File) { _ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM) }
