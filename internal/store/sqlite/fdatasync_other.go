//go:build !linux

package sqlite

import "os"

// fdatasync is fsync where the system has no fdatasync call.
func fdatasync(f *os.File) error { return f.Sync() }
