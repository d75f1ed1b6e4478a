package emit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// FileSink appends events as JSON lines to a file, fsyncing on Sync.
type FileSink struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	written uint64 // Seq of the last batch written

	// The kernel's writeback of what was written is started every
	// writebackEvery bytes, from wbFrom (the file's end when it was last
	// started); wbOff when the file system refuses it.
	sinceWB int
	wbFrom  int64
	wbOff   bool
}

// writebackEvery is how many bytes the file sink writes between starts of
// the kernel's writeback of them (sync_file_range(2) on Linux, as RocksDB's
// bytes_per_sync): the disk writes them while the next ones are written,
// so the fsync of a Sync after a large write (a big transaction's) waits
// for the last few MiB, not for all of it. Nothing is made durable by it;
// Sync still is what does.
const writebackEvery = 8 << 20

// startWriteback starts writing back n bytes of f from off; a variable
// for tests.
var startWriteback = startFileWriteback

var _ Sink = (*FileSink)(nil)

// ErrFileInUse: another process has the file sink's file open as a sink.
var ErrFileInUse = errors.New("the file is being written by another sluice")

// OpenFile opens (creating) a JSON-lines file for appending. A torn last line
// left by a crash is cut off first, so the file holds only whole events.
//
// The sink is the file's one writer: it holds an flock on it until Close,
// and OpenFile fails with ErrFileInUse while another process holds it (a
// live pipeline, when a replay names its file). Writes use O_APPEND, so
// they land at the end even if something else appended meanwhile.
func OpenFile(path string) (*FileSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open file sink: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("file sink %s: %w (the live pipeline?): stop it, or write to another file", path, ErrFileInUse)
		}
		return nil, fmt.Errorf("file sink %s: lock: %w", path, err)
	}
	if err := truncateTornLine(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("file sink %s: %w", path, err)
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("file sink %s: %w", path, err)
	}
	return &FileSink{f: f, w: bufio.NewWriterSize(f, 1<<20), wbFrom: end}, nil
}

// truncateTornLine cuts the file after its last '\n' and seeks to the end.
func truncateTornLine(f *os.File) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return err
	}
	const chunk = 64 << 10
	end := size
	buf := make([]byte, chunk)
	for end > 0 {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		end = start
	}
	if end == size {
		return nil
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	_, err = f.Seek(end, io.SeekStart)
	return err
}

// Write implements Sink.
func (s *FileSink) Write(ctx context.Context, b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b.Data); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.written = b.Seq
	b.Release()
	s.sinceWB += len(b.Data)
	if s.sinceWB >= writebackEvery && !s.wbOff {
		return s.writeback()
	}
	return nil
}

// writeback writes out the buffer and starts the kernel's writeback of
// everything written since it last did. Callers hold s.mu.
func (s *FileSink) writeback() error {
	s.sinceWB = 0
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	// O_APPEND: the offset is the end of what this sink wrote last.
	end, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if end > s.wbFrom {
		if startWriteback(s.f, s.wbFrom, end-s.wbFrom) != nil {
			s.wbOff = true // not here: Sync's fsync does it all
		}
	}
	s.wbFrom = end
	return nil
}

// Sync implements Sink: flush and fsync everything written. The fsync runs
// outside the lock so writes go on meanwhile; it covers every batch written
// before it started.
func (s *FileSink) Sync(ctx context.Context, force bool) (uint64, error) {
	s.mu.Lock()
	err := s.w.Flush()
	written := s.written
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("file sink: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return 0, fmt.Errorf("file sink: fsync: %w", err)
	}
	return written, nil
}

// Close implements Sink.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// WriterSink writes events as JSON lines to a stream such as stdout. A
// stream cannot be made durable: Sync flushes and acknowledges.
type WriterSink struct {
	mu      sync.Mutex
	w       *bufio.Writer
	written uint64
}

var _ Sink = (*WriterSink)(nil)

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer) *WriterSink {
	return &WriterSink{w: bufio.NewWriterSize(w, 256<<10)}
}

// Write implements Sink.
func (s *WriterSink) Write(ctx context.Context, b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b.Data); err != nil {
		return fmt.Errorf("stdout sink: %w", err)
	}
	s.written = b.Seq
	b.Release()
	return nil
}

// Sync implements Sink.
func (s *WriterSink) Sync(ctx context.Context, force bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Flush(); err != nil {
		return 0, fmt.Errorf("stdout sink: %w", err)
	}
	return s.written, nil
}

// Close implements Sink.
func (s *WriterSink) Close() error { return nil }
