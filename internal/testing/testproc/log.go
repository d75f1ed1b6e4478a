package testproc

import (
	"io"
	"os"
	"strings"
)

// LogSize returns the size of the file at path (0 when it cannot be read):
// where the part of a child's log written by its next launch starts.
func LogSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// LogFrom returns the content of the file at path from offset on, at most
// 1 MiB ("" when it cannot be read).
func LogFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

// TailFile returns the last n lines of the last 64 KiB of the file at path,
// for failure messages.
func TailFile(path string, n int) string {
	return Tail(LogFrom(path, max(LogSize(path)-64<<10, 0)), n)
}

// Tail returns the last n lines of s, without the final newline.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
