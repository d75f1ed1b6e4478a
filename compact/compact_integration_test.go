package compact_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

var (
	srv *mysqltest.Server
	env *awstest.Env
)

func TestMain(m *testing.M) {
	laketest.Main(m, func(s *mysqltest.Server, e *awstest.Env) { srv, env = s, e })
}

// compactConfig compacts lake into a SQLite catalog under dir.
func compactConfig(lake *laketest.Lake, dir string, tables ...string) compact.Config {
	cfg := compact.DefaultConfig()
	cfg.Bucket, cfg.Prefix = lake.Bucket, lake.Prefix
	cfg.Catalog.URI = filepath.Join(dir, "catalog.db")
	cfg.Catalog.Warehouse = filepath.Join(dir, "warehouse")
	cfg.Tables = tables
	cfg.Logger = laketest.Logger(lake.T())
	return cfg
}

func runCompaction(t *testing.T, lake *laketest.Lake, cfg compact.Config) *compact.Report {
	t.Helper()
	ctx := context.Background()
	c, err := compact.New(ctx, env.S3Client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	rep, err := c.Run(ctx)
	if rep != nil {
		var b bytes.Buffer
		_ = rep.Render(&b)
		t.Logf("compaction:\n%s", b.String())
	}
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return rep
}

func tableReport(t *testing.T, rep *compact.Report, name string) compact.TableReport {
	t.Helper()
	for _, tr := range rep.Tables {
		if tr.Table == name {
			return tr
		}
	}
	t.Fatalf("no report for %s in %+v", name, rep.Tables)
	return compact.TableReport{}
}

// checkEqual compares the snapshot of db.table with SELECT * of the source.
func checkEqual(t *testing.T, cfg compact.Config, qualified string, pk ...string) {
	t.Helper()
	cat, err := compact.OpenCatalog(context.Background(), cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	db, tbl, _ := strings.Cut(qualified, ".")
	snap := laketest.ReadSnapshot(t, cat, compact.Identifier(cfg.Namespace, db, tbl))
	src := laketest.ReadSource(t, srv.DB(t), qualified)
	if !slices.Equal(snap.Columns, src.Columns) {
		t.Errorf("%s: snapshot columns %v, source %v", qualified, snap.Columns, src.Columns)
	}
	if d := laketest.Diff(snap, src, pk); len(d) > 0 {
		t.Errorf("%s: snapshot differs from the source:\n  %s", qualified, strings.Join(d, "\n  "))
	} else {
		t.Logf("%s: %d rows equal", qualified, len(src.Rows))
	}
}

// lakeEvents counts the events in the lake's objects and the distinct
// dedupe keys among them.
func lakeEvents(t *testing.T, lake *laketest.Lake) (events, distinct int) {
	t.Helper()
	keys := map[string]bool{}
	for _, k := range lake.Objects() {
		lines, err := emit.DecodeObject(k, lake.Get(k))
		if err != nil {
			t.Fatal(err)
		}
		b := bytes.NewBuffer(lines)
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			i := strings.Index(line, `"dedupe_key":"`)
			if i < 0 {
				t.Fatalf("event without dedupe_key: %s", line)
			}
			rest := line[i+len(`"dedupe_key":"`):]
			keys[rest[:strings.IndexByte(rest, '"')]] = true
			events++
		}
	}
	return events, len(keys)
}

// TestCompactMatchesSource streams inserts, updates (some changing the
// primary key), deletes, an ALTER ADD COLUMN and a truncate into a lake,
// delivers everything a second time cut differently (as after a crash),
// compacts, and compares the Iceberg tables, read by iceberg-go's scan,
// with SELECT * of the source.
func TestCompactMatchesSource(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	start := lake.Checkpoint()
	stmts := []string{
		"DROP DATABASE IF EXISTS cm", "CREATE DATABASE cm", "USE cm",
		"CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2), created DATETIME(3), note TEXT)",
		"CREATE TABLE items (order_id INT, line INT, sku VARCHAR(16), qty INT, PRIMARY KEY (order_id, line))",
		"CREATE TABLE scratch (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(10))",
	}
	for i := 1; i <= 120; i++ {
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO orders VALUES (%d, 'cust-%d', %d.%02d, '2024-11-24 06:%02d:%02d.%03d', %s)",
				i, i%17, i*3, i%100, i%60, (i*7)%60, i, map[bool]string{true: "NULL", false: fmt.Sprintf("'n%d'", i)}[i%5 == 0]),
			fmt.Sprintf("INSERT INTO items VALUES (%d, 1, 'sku-%d', %d), (%d, 2, 'sku-%d', %d)", i, i, i%7, i, i+1, i%3))
	}
	stmts = append(stmts,
		"INSERT INTO scratch VALUES (18446744073709551615, 'max'), (1, 'one')",
		"UPDATE orders SET total = total + 1.5 WHERE id % 3 = 0",
		// Primary key changes: the old keys must go.
		"UPDATE orders SET id = id + 1000 WHERE id % 10 = 0",
		"UPDATE items SET line = line + 10 WHERE order_id % 4 = 0 AND line = 2",
		"DELETE FROM orders WHERE id % 7 = 0",
		"DELETE FROM items WHERE order_id BETWEEN 50 AND 60",
		// A key deleted, then inserted again.
		"INSERT INTO orders VALUES (7, 'again', 1.00, '2024-11-24 07:00:00.000', 'back')",
		"ALTER TABLE orders ADD COLUMN status VARCHAR(10)",
		"UPDATE orders SET status = 'paid' WHERE id % 2 = 0",
		"INSERT INTO orders VALUES (500, 'late', 9.99, '2024-11-24 08:00:00.000', NULL, 'new')",
		"BEGIN", "UPDATE items SET qty = qty * 10 WHERE order_id < 20", "DELETE FROM orders WHERE id = 1", "COMMIT",
		"TRUNCATE TABLE scratch",
		"INSERT INTO scratch VALUES (2, 'two')",
	)
	srv.Exec(t, stmts...)
	lake.CatchUp()

	// Deliver it all again, cut into smaller objects: every event now has
	// a copy in another object under another name.
	lake.Rewind(start)
	lake.S3.RollBytes = 4 << 10
	lake.CatchUp()
	events, distinct := lakeEvents(t, lake)
	// (DDL events sit alone in objects cut the same both times: those
	// are written once.)
	if events < 2*distinct-10 {
		t.Fatalf("lake holds %d events, %d distinct: want every row event twice", events, distinct)
	}

	cfg := compactConfig(lake, t.TempDir())
	rep := runCompaction(t, lake, cfg)
	orders := tableReport(t, rep, "cm.orders")
	if orders.Status != compact.StatusCompacted || orders.Duplicates == 0 {
		t.Errorf("cm.orders: %+v: want compacted with duplicates dropped", orders)
	}
	checkEqual(t, cfg, "cm.orders", "id")
	checkEqual(t, cfg, "cm.items", "order_id", "line")
	checkEqual(t, cfg, "cm.scratch", "id")

	// Again into a new catalog with a tiny memory budget, the tables in
	// parallel: the changes are streamed into the external sort, which
	// spills sorted runs. A table with an ALTER (orders) is replayed in
	// binlog order through the sort, spilling too.
	small := compactConfig(lake, t.TempDir())
	compact.SetSortBudget(&small, 2<<10)
	small.Parallel = 3 // the three tables at once
	rep = runCompaction(t, lake, small)
	if tr := tableReport(t, rep, "cm.items"); tr.Status != compact.StatusCompacted || tr.Spilled == 0 || tr.Duplicates == 0 {
		t.Errorf("cm.items with a 2 KiB sort budget: %+v: want compacted through spilled runs, duplicates dropped", tr)
	}
	if tr := tableReport(t, rep, "cm.orders"); tr.Status != compact.StatusCompacted || tr.Spilled == 0 || !strings.Contains(tr.ModeWhy, "ALTER") {
		t.Errorf("cm.orders with a 2 KiB sort budget: %+v: want compacted through spilled runs, in binlog order because of the ALTER", tr)
	}
	checkEqual(t, small, "cm.orders", "id")
	checkEqual(t, small, "cm.items", "order_id", "line")
	checkEqual(t, small, "cm.scratch", "id")
}

// TestCompactIncremental compacts, changes the source, compacts again,
// and checks that the second run read only the objects written since the
// first, and that both snapshots equal the source.
func TestCompactIncremental(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS ci", "CREATE DATABASE ci", "USE ci",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(20), n INT)",
		"INSERT INTO t VALUES (1,'a',1),(2,'b',2),(3,'c',3),(4,'d',4)",
		"UPDATE t SET n = n * 10 WHERE id > 2")
	lake.CatchUp()
	cfg := compactConfig(lake, t.TempDir(), "ci.t")
	rep := runCompaction(t, lake, cfg)
	first := tableReport(t, rep, "ci.t")
	if first.Status != compact.StatusCompacted {
		t.Fatalf("first run: %+v", first)
	}
	checkEqual(t, cfg, "ci.t", "id")
	before := lake.Objects()

	srv.Exec(t, "USE ci",
		"INSERT INTO t VALUES (5,'e',5)",
		"DELETE FROM t WHERE id = 1",
		"UPDATE t SET id = 20, a = 'moved' WHERE id = 2",
		"ALTER TABLE t MODIFY n BIGINT",
		"UPDATE t SET n = 9000000000 WHERE id = 3")
	lake.CatchUp()
	var fresh []string
	for _, k := range lake.Objects() {
		if !slices.Contains(before, k) && strings.Contains(k, "/ci/t/") {
			fresh = append(fresh, k)
		}
	}
	if len(fresh) == 0 {
		t.Fatal("no new objects after the second batch of changes")
	}
	rep = runCompaction(t, lake, cfg)
	second := tableReport(t, rep, "ci.t")
	if second.Status != compact.StatusCompacted {
		t.Fatalf("second run: %+v", second)
	}
	if !slices.Equal(second.ObjectKeys, fresh) {
		t.Errorf("second run read %v, want only the new objects %v", second.ObjectKeys, fresh)
	}
	if second.Mode != compact.ModeCopyOnWrite {
		t.Errorf("second run (an ALTER): mode %q, want %s", second.Mode, compact.ModeCopyOnWrite)
	}
	// Integers by width: INT columns are Iceberg ints, the BIGINT a long.
	if got := columnTypes(t, cfg, "ci", "t"); got != "id:int a:string n:long" {
		t.Errorf("column types %q, want id:int a:string n:long", got)
	}
	checkEqual(t, cfg, "ci.t", "id")

	// Row changes only, all newer than the table: merged on read, twice
	// (the second run's deletes hide rows of the first run's data file),
	// each time with the row count kept right.
	for i, batch := range [][]string{
		{"INSERT INTO t VALUES (6,'f',6),(7,'g',7)", "UPDATE t SET a = 'x' WHERE id IN (3,5)", "DELETE FROM t WHERE id = 4",
			"UPDATE t SET id = 30 WHERE id = 3"},
		{"UPDATE t SET a = 'y' WHERE id IN (6,30)", "DELETE FROM t WHERE id = 7", "INSERT INTO t VALUES (8,'h',8)"},
	} {
		srv.Exec(t, append([]string{"USE ci"}, batch...)...)
		lake.CatchUp()
		rep = runCompaction(t, lake, cfg)
		tr := tableReport(t, rep, "ci.t")
		if tr.Status != compact.StatusCompacted || tr.Mode != compact.ModeMergeOnRead {
			t.Fatalf("row-change run %d: %+v: want compacted, %s", i, tr, compact.ModeMergeOnRead)
		}
		var n int64
		if err := srv.DB(t).QueryRow("SELECT COUNT(*) FROM ci.t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if tr.Rows != n {
			t.Errorf("row-change run %d: report counts %d rows, the source has %d", i, tr.Rows, n)
		}
		checkEqual(t, cfg, "ci.t", "id")
		checkCountAndChecksum(t, cfg, "ci.t", "id", "a")
	}

	// Nothing new: nothing to do, no new snapshot.
	rep = runCompaction(t, lake, cfg)
	if third := tableReport(t, rep, "ci.t"); third.Status != compact.StatusUnchanged || third.Objects != 0 {
		t.Errorf("third run: %+v: want unchanged", third)
	}
	checkEqual(t, cfg, "ci.t", "id")
}

// TestCompactSchemaChanges: columns added (with and without a default),
// dropped, renamed and moved by ALTER TABLE with no row written after, and
// a type Iceberg cannot widen in place (int to decimal), all reach the
// snapshot.
func TestCompactSchemaChanges(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS cs", "CREATE DATABASE cs", "USE cs",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), n INT, gone INT, moved INT)",
		"INSERT INTO t VALUES (1,'x',5,1,10),(2,'y',-7,2,20),(3,NULL,NULL,3,30)")
	lake.CatchUp()
	cfg := compactConfig(lake, t.TempDir(), "cs.t")
	runCompaction(t, lake, cfg)
	checkEqual(t, cfg, "cs.t", "id")

	srv.Exec(t, "USE cs",
		"ALTER TABLE t ADD COLUMN plain VARCHAR(5)",
		"ALTER TABLE t ADD COLUMN flag INT NOT NULL DEFAULT 42 AFTER id",
		"ALTER TABLE t ADD COLUMN label VARCHAR(8) NOT NULL DEFAULT 'it''s'",
		"ALTER TABLE t DROP COLUMN gone",
		"ALTER TABLE t RENAME COLUMN a TO title",
		"ALTER TABLE t MODIFY moved INT FIRST",
		"ALTER TABLE t MODIFY n DECIMAL(10,2)")
	lake.CatchUp()
	rep := runCompaction(t, lake, cfg)
	if tr := tableReport(t, rep, "cs.t"); tr.Status != compact.StatusCompacted {
		t.Fatalf("%+v", tr)
	}
	cat, err := compact.OpenCatalog(context.Background(), cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	tbl, err := cat.LoadTable(context.Background(), compact.Identifier("", "cs", "t"))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := tbl.Schema().FindFieldByName("n"); f.Type.String() != "decimal(10, 2)" {
		t.Errorf("n is %s: want decimal(10, 2), as declared", f.Type)
	}
	snap := laketest.ReadSnapshot(t, cat, compact.Identifier("", "cs", "t"))
	if d := laketest.Diff(snap, laketest.ReadSource(t, srv.DB(t), "cs.t"), []string{"id"}); len(d) > 0 {
		t.Errorf("after the ALTERs: snapshot differs from the source:\n  %s", strings.Join(d, "\n  "))
	}
	// The re-added column is ordered by the next run.
	srv.Exec(t, "UPDATE cs.t SET plain = 'p' WHERE id = 2")
	lake.CatchUp()
	runCompaction(t, lake, cfg)
	checkEqual(t, cfg, "cs.t", "id")
}

// TestCompactUnderscoreDatabase: a database whose name starts with "_" is
// found and compacted like any other; only sluice's own directories
// (_manifests, _sluice, _schemas) are not databases.
func TestCompactUnderscoreDatabase(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS _audit", "CREATE DATABASE _audit", "USE _audit",
		"CREATE TABLE log (id INT PRIMARY KEY, what VARCHAR(20))",
		"INSERT INTO log VALUES (1,'login'),(2,'logout')")
	lake.CatchUp()
	cfg := compactConfig(lake, t.TempDir()) // no tables: discover them
	rep := runCompaction(t, lake, cfg)
	if tr := tableReport(t, rep, "_audit.log"); tr.Status != compact.StatusCompacted {
		t.Fatalf("_audit.log: %+v", tr)
	}
	checkEqual(t, cfg, "_audit.log", "id")
	for _, tr := range rep.Tables {
		if strings.HasPrefix(tr.Table, "_manifests.") || strings.HasPrefix(tr.Table, "_sluice.") || strings.HasPrefix(tr.Table, "_schemas.") {
			t.Errorf("sluice's own directory compacted as a table: %s", tr.Table)
		}
	}
}

// checkCountAndChecksum reads the snapshot table with a second reader
// (iceberg-go's own scan, which applies the equality deletes of
// merge-on-read runs) and compares its row count and a checksum of column
// col (the sum of CRC-32s of "key:value", NULL as "") with the source's
// COUNT(*) and SUM(CRC32(...)).
func checkCountAndChecksum(t *testing.T, cfg compact.Config, qualified, key, col string) {
	t.Helper()
	cat, err := compact.OpenCatalog(context.Background(), cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	db, tbl, _ := strings.Cut(qualified, ".")
	snap := laketest.ReadSnapshot(t, cat, compact.Identifier(cfg.Namespace, db, tbl))
	var sum uint64
	for _, r := range snap.Rows {
		k, v := "", ""
		if r[key] != nil {
			k = *r[key]
		}
		if r[col] != nil {
			v = *r[col]
		}
		sum += uint64(crc32.ChecksumIEEE([]byte(k + ":" + v)))
	}
	var n int
	var srcSum uint64
	q := fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(%s, ':', COALESCE(%s, '')))), 0) FROM %s", key, col, qualified)
	if err := srv.DB(t).QueryRow(q).Scan(&n, &srcSum); err != nil {
		t.Fatal(err)
	}
	if len(snap.Rows) != n || sum != srcSum {
		t.Errorf("%s: the second reader counts %d rows, checksum of %s %d; the source %d rows, %d", qualified, len(snap.Rows), col, sum, n, srcSum)
	} else {
		t.Logf("%s: second reader: %d rows, checksum of %s %d, as the source", qualified, n, col, sum)
	}
}

// columnTypes renders a snapshot table's column types, "name:type ...",
// without sluice's columns.
func columnTypes(t *testing.T, cfg compact.Config, db, tbl string) string {
	t.Helper()
	cat, err := compact.OpenCatalog(context.Background(), cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	it, err := cat.LoadTable(context.Background(), compact.Identifier(cfg.Namespace, db, tbl))
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, f := range it.Schema().Fields() {
		if !strings.HasPrefix(f.Name, "_sluice_") {
			parts = append(parts, f.Name+":"+f.Type.String())
		}
	}
	return strings.Join(parts, " ")
}
