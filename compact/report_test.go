package compact

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestReportRender(t *testing.T) {
	rep := &Report{Manifests: 3, ManifestsRead: 2, Tables: []TableReport{
		{Table: "shop.orders", Status: StatusCompacted, Mode: ModeMergeOnRead, Objects: 2, Events: 10, Applied: 8, Duplicates: 2, Nulled: 3, Rows: 7, Position: "1:mysql-bin.000001:4:0",
			Freshness: time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC), Lag: 90 * time.Second},
		{Table: "shop.items", Status: StatusCompacted, Mode: ModeCopyOnWrite, ModeWhy: "table-truncate event"},
		{Table: "shop.logs", Status: StatusSkipped, Err: errNoPrimaryKey},
		{Table: "shop.bad", Status: StatusFailed, Err: errors.New("boom")},
	}}
	var b bytes.Buffer
	if err := rep.Render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"shop.orders  compacted  merge-on-read  2", "NULLED", "2           3       7", "2026-12-05T04:00:00Z  1m30s", "no primary key", "boom", "rewritten: table-truncate event.", "3 manifests in the lake, 2 read"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !rep.Failed() {
		t.Error("Failed() = false with a failed table")
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, 4, "objects")
	for range 4 {
		p.add(1)
	}
	p.finish()
	if b.Len() == 0 {
		t.Error("no progress drawn on a writer")
	}
	newProgress(nil, 4, "objects").add(1) // no writer: no bar, no panic
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if TerminalProgress(f) != nil {
		t.Error("a file is not a terminal: want no progress writer")
	}
}
