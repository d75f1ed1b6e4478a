package emit

import (
	"context"
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
