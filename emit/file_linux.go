package emit

import (
	"os"

	"golang.org/x/sys/unix"
)

// startFileWriteback starts the writeback of f's dirty pages in [off,
// off+n) and returns without waiting for it.
func startFileWriteback(f *os.File, off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
