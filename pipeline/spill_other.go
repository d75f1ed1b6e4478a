//go:build !linux

package pipeline

import (
	"errors"
	"os"
)

// freeSpilled would free n bytes of f from off; only Linux's fallocate
// does here: elsewhere the spill file is freed when it is truncated.
func freeSpilled(f *os.File, off, n int64) error {
	return errors.ErrUnsupported
}
