package emit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFileSinkCutsTornLine(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ before, after string }{
		{"", ""},
		{"{\"a\":1}\n", "{\"a\":1}\n"},
		{"{\"a\":1}\n{\"b\":", "{\"a\":1}\n"},
		{"{\"torn", ""},
	} {
		path := filepath.Join(t.TempDir(), "sub", "events.jsonl")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(c.before), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b := &Batch{Seq: 7, Data: []byte("{\"c\":3}\n")}
		b.Hold(1, nil)
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		seq, err := s.Sync(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if seq != 7 {
			t.Fatalf("durable seq %d, want 7", seq)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := c.after + "{\"c\":3}\n"; string(got) != want {
			t.Fatalf("file %q after reopen+write, want %q", got, want)
		}
	}
}

// TestFileSinkOneWriter: while a sink holds the file, a second OpenFile of
// it fails with ErrFileInUse; and the sink's writes land at the end of the
// file even when something else appended meanwhile (O_APPEND), instead of
// overwriting it from a stale offset.
func TestFileSinkOneWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, err := OpenFile(path); !errors.Is(err, ErrFileInUse) {
		t.Fatalf("second open of a held file: %v, want ErrFileInUse", err)
	}
	write := func(seq uint64, line string) {
		b := &Batch{Seq: seq, Data: []byte(line)}
		b.Hold(1, nil)
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sync(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "{\"a\":1}\n")
	other, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteString("{\"other\":1}\n"); err != nil {
		t.Fatal(err)
	}
	_ = other.Close()
	write(2, "{\"b\":2}\n")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"a\":1}\n{\"other\":1}\n{\"b\":2}\n"; string(got) != want {
		t.Fatalf("file %q, want %q", got, want)
	}
}

// TestFileSinkStartsWriteback: every writebackEvery bytes written, the sink
// writes out its buffer and starts the writeback of exactly what was
// appended since the last start (from the file's end at open), so the
// ranges cover the new bytes once, in order, and are in the file when it
// starts; a refusal (a file system without it) turns it off, and the
// writes go on.
func TestFileSinkStartsWriteback(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	const before = "{\"old\":1}\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	type span struct{ off, n, size int64 }
	var spans []span
	refuse := false
	real := startWriteback
	startWriteback = func(f *os.File, off, n int64) error {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		spans = append(spans, span{off, n, st.Size()})
		if refuse {
			return errors.ErrUnsupported
		}
		return real(f, off, n) // the real system call takes it here
	}
	t.Cleanup(func() { startWriteback = real })
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// 700 KiB batches, less than the sink's 1 MiB buffer: a start comes
	// after 12 of them (8.2 MiB), with some of it still buffered.
	const size = 700 << 10
	line := make([]byte, size)
	for i := range line {
		line[i] = 'x'
	}
	line[len(line)-1] = '\n'
	written := int64(len(before))
	write := func(n int) {
		for range n {
			b := &Batch{Seq: 1, Data: line}
			b.Hold(1, nil)
			if err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			written += size
		}
	}
	write(30)
	want := []span{
		{int64(len(before)), 12 * size, int64(len(before)) + 12*size},
		{int64(len(before)) + 12*size, 12 * size, int64(len(before)) + 24*size},
	}
	if len(spans) != len(want) || spans[0] != want[0] || spans[1] != want[1] {
		t.Fatalf("writeback started over %+v, want %+v", spans, want)
	}
	refuse = true
	write(6)
	if len(spans) != 3 || spans[2] != (span{int64(len(before)) + 24*size, 12 * size, written}) {
		t.Fatalf("writeback started over %+v after %d bytes, want a third start over the last 12 batches", spans, written)
	}
	write(30) // off after the refusal: never asked again
	if len(spans) != 3 {
		t.Fatalf("writeback asked for again after it was refused: %+v", spans)
	}
	if _, err := s.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != written {
		t.Fatalf("file of %d bytes, want %d", st.Size(), written)
	}
}
