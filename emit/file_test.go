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
