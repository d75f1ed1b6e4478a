package compact_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
)

// syncBuffer collects a compactor's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tableDump renders an Iceberg table whole: its columns with their types,
// and every row (the _sluice_dedupe_key column included), sorted.
func tableDump(t *testing.T, cfg compact.Config, db, tbl string) (schema string, rows []string) {
	t.Helper()
	ctx := context.Background()
	cat, err := compact.OpenCatalog(ctx, cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	it, err := cat.LoadTable(ctx, compact.Identifier(cfg.Namespace, db, tbl))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, f := range it.Schema().Fields() {
		fields = append(fields, f.Name+":"+f.Type.String())
	}
	_, recs, err := it.Scan().ToArrowRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range recs {
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			var b strings.Builder
			for i, f := range rec.Schema().Fields() {
				fmt.Fprintf(&b, "%s=%s ", f.Name, cellText(rec.Column(i), r))
			}
			rows = append(rows, b.String())
		}
		rec.Release()
	}
	slices.Sort(rows)
	return strings.Join(fields, " "), rows
}

func cellText(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "NULL"
	}
	if s, ok := col.(*array.String); ok {
		return fmt.Sprintf("%q", s.Value(i))
	}
	return col.ValueStr(i)
}

// TestCompactAlterOrdered: runs holding ALTER TABLEs (columns added with
// and without defaults, renamed, dropped, added again under an old name,
// widened) and a primary key change are replayed in binlog order through
// the external sort. They write the same tables as the in-memory path
// they replace (kept internally for this comparison), with the default
// budget and with a budget so small that every sort spills, and they
// never hold the table in memory.
func TestCompactAlterOrdered(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS co", "CREATE DATABASE co", "USE co",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), n INT, gone INT)",
		"CREATE TABLE p (id INT PRIMARY KEY, g INT, v VARCHAR(10))")
	var stmts []string
	for i := 1; i <= 300; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO t VALUES (%d, 'a%d', %d, %d)", i, i, i*3, i%7),
			fmt.Sprintf("INSERT INTO p VALUES (%d, NULL, 'v%d')", i, i))
	}
	srv.Exec(t, append([]string{"USE co"}, stmts...)...)
	lake.CatchUp()

	type run struct {
		name string
		cfg  compact.Config
		log  *syncBuffer
	}
	var runs []*run
	for _, name := range []string{"in-memory", "ordered", "ordered-spilling"} {
		r := &run{name: name, cfg: compactConfig(lake, t.TempDir(), "co.t", "co.p"), log: &syncBuffer{}}
		r.cfg.Logger = slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
		switch name {
		case "in-memory":
			compact.SetHoldTable(&r.cfg, true)
		case "ordered-spilling":
			compact.SetSortBudget(&r.cfg, 1<<10)
		}
		runs = append(runs, r)
	}
	compare := func(step string) {
		t.Helper()
		for _, tbl := range []string{"t", "p"} {
			wantSchema, want := tableDump(t, runs[0].cfg, "co", tbl)
			if len(want) == 0 {
				t.Fatalf("%s: co.%s is empty", step, tbl)
			}
			for _, r := range runs[1:] {
				schema, got := tableDump(t, r.cfg, "co", tbl)
				if schema != wantSchema {
					t.Errorf("%s: co.%s %s: columns %s, in memory %s", step, tbl, r.name, schema, wantSchema)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: co.%s %s: %d rows differ from the in-memory path's %d", step, tbl, r.name, len(got), len(want))
					for i := 0; i < len(got) && i < len(want); i++ {
						if got[i] != want[i] {
							t.Errorf("first difference:\n  %s\n  %s (in memory)", got[i], want[i])
							break
						}
					}
				}
			}
		}
		for _, r := range runs {
			checkEqual(t, r.cfg, "co.t", "id")
			checkEqual(t, r.cfg, "co.p", "g", "id")
		}
	}
	compactAll := func(step string) {
		t.Helper()
		for _, r := range runs {
			rep := runCompaction(t, lake, r.cfg)
			for _, tr := range rep.Tables {
				if tr.Status != compact.StatusCompacted {
					t.Fatalf("%s %s: %+v", step, r.name, tr)
				}
				if r.name == "ordered-spilling" && step == "alter" && tr.Spilled == 0 {
					t.Errorf("%s %s: %s spilled nothing with a 1 KiB budget", step, r.name, tr.Table)
				}
			}
		}
	}
	compactAll("first")

	srv.Exec(t, "USE co",
		"UPDATE t SET n = n + 1 WHERE id % 3 = 0",
		"ALTER TABLE t ADD COLUMN flag INT NOT NULL DEFAULT 42 AFTER id",
		"ALTER TABLE t ADD COLUMN plain VARCHAR(5)",
		"UPDATE t SET flag = 1, plain = 'p' WHERE id % 4 = 0",
		"ALTER TABLE t RENAME COLUMN a TO title",
		"INSERT INTO t (id, title, n, gone) VALUES (500, 'new', 1, 1)",
		"ALTER TABLE t DROP COLUMN gone",
		"ALTER TABLE t MODIFY n BIGINT",
		"UPDATE t SET n = 9000000000 WHERE id % 5 = 0",
		// Old names again: a new column's values, not the old ones.
		"ALTER TABLE t ADD COLUMN a VARCHAR(5) NOT NULL DEFAULT 'z'",
		"DELETE FROM t WHERE id % 7 = 0",
		"ALTER TABLE t ADD COLUMN gone INT DEFAULT 3",
		"UPDATE t SET id = id + 1000 WHERE id % 11 = 0",
		"DELETE FROM p WHERE id % 13 = 0",
		"UPDATE p SET g = id % 4",
		"ALTER TABLE p DROP PRIMARY KEY, ADD PRIMARY KEY (g, id)",
		"INSERT INTO p VALUES (1000, 1, 'new')",
		"UPDATE p SET v = 'upd' WHERE id % 3 = 0",
		"DELETE FROM p WHERE id % 17 = 0")
	lake.CatchUp()
	compactAll("alter")
	compare("after the ALTERs")

	// Row changes on top: the tables and their state carry on alike.
	srv.Exec(t, "USE co",
		"UPDATE t SET title = 'again' WHERE id % 6 = 0",
		"DELETE FROM t WHERE id % 10 = 1",
		"INSERT INTO p VALUES (2000, 2, 'more')",
		"DELETE FROM p WHERE id % 19 = 0")
	lake.CatchUp()
	compactAll("after")
	compare("after more changes")

	const holds = "run holds the table in memory"
	for _, r := range runs {
		got := strings.Contains(r.log.String(), holds)
		if want := r.name == "in-memory"; got != want {
			t.Errorf("%s: log says %q: %v, want %v; log:\n%s", r.name, holds, got, want, r.log.String())
		}
	}
}

// TestCompactTombstoneFile: deleted keys are kept in a tombstone file the
// state names, not in the state file, and every kind of run carries them
// on: merge on read adds its deletions, a copy-on-write run (a batch
// streamed into the sort with a small budget, a replay of the whole lake)
// streams them through the sort and writes them again.
func TestCompactTombstoneFile(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	start := lake.Checkpoint()
	srv.Exec(t, "DROP DATABASE IF EXISTS ctf", "CREATE DATABASE ctf", "USE ctf",
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	var stmts []string
	for i := 1; i <= 60; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO t VALUES (%d, 'v%d')", i, i))
	}
	srv.Exec(t, append([]string{"USE ctf"}, stmts...)...)
	lake.CatchUp()
	cfg := compactConfig(lake, t.TempDir(), "ctf.t")
	small := compactConfig(lake, t.TempDir(), "ctf.t")
	compact.SetSortBudget(&small, 1<<10)
	for _, c := range []compact.Config{cfg, small} {
		runCompaction(t, lake, c)
	}
	tombs := func(c compact.Config, step string, want int) {
		t.Helper()
		ctx := context.Background()
		cat, err := compact.OpenCatalog(ctx, c.Catalog)
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		tbl, err := cat.LoadTable(ctx, compact.Identifier(c.Namespace, "ctf", "t"))
		if err != nil {
			t.Fatal(err)
		}
		inline, file, keys, err := compact.Tombstones(ctx, tbl)
		if err != nil {
			t.Fatal(err)
		}
		if inline != 0 || len(keys) != want || want > 0 && file == "" {
			t.Errorf("%s: %d tombstones inline, %d in file %q: want 0 inline, %d in a file", step, inline, len(keys), file, want)
		}
		checkEqual(t, c, "ctf.t", "id")
	}
	srv.Exec(t, "DELETE FROM ctf.t WHERE id <= 20")
	lake.CatchUp()
	// Merged on read with the default budget; streamed into the sort
	// (copy on write) with the small one.
	for i, c := range []compact.Config{cfg, small} {
		want := []string{compact.ModeMergeOnRead, compact.ModeCopyOnWrite}[i]
		if tr := tableReport(t, runCompaction(t, lake, c), "ctf.t"); tr.Mode != want {
			t.Errorf("deletes: %+v: want %s", tr, want)
		}
		tombs(c, "after the deletes", 20)
	}
	srv.Exec(t, "DELETE FROM ctf.t WHERE id > 50", "INSERT INTO ctf.t VALUES (5, 'back')")
	lake.CatchUp()
	for _, c := range []compact.Config{cfg, small} {
		runCompaction(t, lake, c)
		tombs(c, "after more deletes", 29) // 1..20 and 51..60 but 5
	}
	// No delete: merged on read, the file kept as it is (15's tombstone
	// is older than its new row, which wins).
	srv.Exec(t, "INSERT INTO ctf.t VALUES (15, 'again')", "UPDATE ctf.t SET v = 'u' WHERE id = 30")
	lake.CatchUp()
	for _, c := range []compact.Config{cfg, small} {
		if tr := tableReport(t, runCompaction(t, lake, c), "ctf.t"); tr.Mode != compact.ModeMergeOnRead {
			t.Errorf("no delete: %+v: want merge on read", tr)
		}
		tombs(c, "after a run without deletes", 29)
	}
	// The whole lake again: every change is at or before the table's
	// position, so the table is rewritten through the sort.
	lake.Rewind(start)
	lake.S3.RollBytes = 2 << 10
	lake.CatchUp()
	for _, c := range []compact.Config{cfg, small} {
		tr := tableReport(t, runCompaction(t, lake, c), "ctf.t")
		if tr.Mode != compact.ModeCopyOnWrite {
			t.Errorf("replay: %+v: want copy on write", tr)
		}
		tombs(c, "after a copy-on-write run", 28) // 15 has a row again
	}
}
