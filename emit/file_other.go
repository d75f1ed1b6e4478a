//go:build !linux

package emit

import (
	"errors"
	"os"
)

// startFileWriteback: only Linux has sync_file_range(2); elsewhere Sync's
// fsync writes everything back.
func startFileWriteback(f *os.File, off, n int64) error {
	return errors.ErrUnsupported
}
