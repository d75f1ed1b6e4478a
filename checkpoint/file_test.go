package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/event"
)

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "nested", "dir")
	s, err := NewFileStore(dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load on empty store: %v, want ErrNotFound", err)
	}
	want := &Checkpoint{Pipeline: "main", Position: event.Position{File: "mysql-bin.000007", Offset: 1234},
		GTID: "0-1-99", ServerID: 1, Generation: 2, Timestamp: 1700000000, UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i := range 3 {
		want.Position.Offset += uint64(i)
		if err := s.Save(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("loaded %+v, want %+v", got, want)
		}
	}
	// Only the checkpoint itself is left: no temporary files.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "main.checkpoint.json" {
		t.Fatalf("directory holds %v", entries)
	}
	// A corrupt file is an error that says what to do, not a fresh start.
	if err := os.WriteFile(s.Path(), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Load of corrupt file: %v", err)
	}
}
