//go:build !linux

package bolt

import "os"

// fdatasync flushes f to the disk (fsync: this system has no fdatasync to call).
func fdatasync(f *os.File) error { return f.Sync() }

// adviseRandom does nothing here.
func adviseRandom(*os.File) {}
