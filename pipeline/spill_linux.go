package pipeline

import (
	"os"
	"syscall"
)

// Linux fallocate(2) modes.
const (
	fallocKeepSize  = 0x01
	fallocPunchHole = 0x02
)

// freeSpilled frees the pages and blocks of n bytes of f from off (a
// hole is punched; the file keeps its size). It fails on file systems
// without hole punching.
func freeSpilled(f *os.File, off, n int64) error {
	return syscall.Fallocate(int(f.Fd()), fallocPunchHole|fallocKeepSize, off, n)
}
