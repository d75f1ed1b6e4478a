package verify_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/verify"
)

var (
	srv *mysqltest.Server
	env *awstest.Env
)

func TestMain(m *testing.M) {
	laketest.Main(m, func(s *mysqltest.Server, e *awstest.Env) { srv, env = s, e })
}

// rig is a lake, a catalog directory, and the configs to compact and
// verify them.
type rig struct {
	t    *testing.T
	lake *laketest.Lake
	dir  string
}

func newRig(t *testing.T) *rig {
	return &rig{t: t, lake: laketest.New(t, srv, env), dir: t.TempDir()}
}

func (r *rig) catalog() compact.CatalogConfig {
	c := compact.DefaultConfig().Catalog
	c.URI = filepath.Join(r.dir, "catalog.db")
	c.Warehouse = filepath.Join(r.dir, "warehouse")
	return c
}

// compact runs a compaction of the whole lake.
func (r *rig) compact() *compact.Report {
	r.t.Helper()
	cfg := compact.DefaultConfig()
	cfg.Bucket, cfg.Prefix = r.lake.Bucket, r.lake.Prefix
	cfg.Catalog = r.catalog()
	cfg.Logger = laketest.Logger(r.t)
	ctx := context.Background()
	c, err := compact.New(ctx, env.S3Client(), cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Run(ctx)
	if err != nil {
		var b bytes.Buffer
		if rep != nil {
			_ = rep.Render(&b)
		}
		r.t.Fatalf("compact: %v\n%s", err, b.String())
	}
	return rep
}

// verify runs verify on tables (all when none).
func (r *rig) verify(tables ...string) *verify.Report {
	r.t.Helper()
	cfg := verify.DefaultConfig()
	cfg.SourceDSN = srv.DSN("")
	cfg.Catalog = r.catalog()
	cfg.Tables = tables
	cfg.ChunkRows = 50
	cfg.Logger = laketest.Logger(r.t)
	rep, err := verify.Run(context.Background(), cfg)
	if err != nil {
		r.t.Fatalf("verify: %v", err)
	}
	var b bytes.Buffer
	if err := rep.Render(&b); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("verify:\n%s", b.String())
	return rep
}

func status(t *testing.T, rep *verify.Report, table string) verify.TableReport {
	t.Helper()
	for _, tr := range rep.Tables {
		if tr.Table == table {
			return tr
		}
	}
	t.Fatalf("no report for %s", table)
	return verify.TableReport{}
}

// TestVerify: OK on an equal snapshot of a table of many types; BEHIND
// when the source has changes the lake has not; DIFF naming the first
// differing keys when the source is changed behind the binlog's back.
func TestVerify(t *testing.T) {
	srv.RequireOwned(t)
	r := newRig(t)
	stmts := []string{
		"DROP DATABASE IF EXISTS vt", "CREATE DATABASE vt", "USE vt",
		`CREATE TABLE kinds (
			id INT PRIMARY KEY, u BIGINT UNSIGNED, d DECIMAL(12,3), f FLOAT, g DOUBLE,
			dt DATETIME(6), ts TIMESTAMP(3) NULL, da DATE, ti TIME(2), y YEAR, b BIT(10),
			s VARCHAR(30), tx TEXT, e ENUM('red','green'), st SET('a','b','c'), vb VARBINARY(8), bn BINARY(4),
			j JSON)`,
		"CREATE TABLE names (a VARCHAR(10), b INT, v VARCHAR(10), PRIMARY KEY (a, b))",
	}
	for i := 1; i <= 130; i++ {
		null := i%9 == 0
		v := func(s string) string {
			if null {
				return "NULL"
			}
			return s
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO kinds VALUES (%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)`, i,
			v(fmt.Sprint(uint64(18446744073709551615)-uint64(i))), v(fmt.Sprintf("%d.%03d", i*7, i)), v(fmt.Sprintf("%d.%d", i, i%10)), v(fmt.Sprintf("%d.25e-3", i)),
			v(fmt.Sprintf("'2024-02-%02d 10:11:12.%06d'", i%28+1, i*1001)), v(fmt.Sprintf("'2024-03-01 00:00:%02d.%03d'", i%60, i)), v("'1999-12-31'"),
			v(fmt.Sprintf("'-%d:05:06.7'", i)), v("2024"), v(fmt.Sprint(i%1024)),
			v(fmt.Sprintf("'ünï %d'", i)), v("'long text'"), v([]string{"'red'", "'green'"}[i%2]), v([]string{"''", "'a'", "'a,c'"}[i%3]),
			v(fmt.Sprintf("x'%02x00ff'", i)), v("x'0102'"), v(fmt.Sprintf(`'{"k": %d, "a": [1, 2]}'`, i))))
		stmts = append(stmts, fmt.Sprintf("INSERT INTO names VALUES ('n%d', %d, 'v')", i%13, i))
	}
	srv.Exec(t, stmts...)
	r.lake.CatchUp()
	r.compact()
	rep := r.verify()
	for _, name := range []string{"vt.kinds", "vt.names"} {
		if tr := status(t, rep, name); tr.Status != verify.StatusOK || tr.SourceRows != 130 || tr.Chunks != 3 {
			t.Errorf("%s: %+v: want OK over 130 rows in 3 chunks", name, tr)
		}
	}
	if !rep.OK() {
		t.Fatal("want OK")
	}

	// A change the lake has not seen yet: the snapshot is behind.
	srv.Exec(t, "UPDATE vt.names SET v = 'w' WHERE b = 5")
	if tr := status(t, r.verify("vt.names"), "vt.names"); tr.Status != verify.StatusBehind {
		t.Errorf("after an unstreamed change: %+v: want BEHIND", tr)
	}
	r.lake.CatchUp()
	r.compact()
	if rep := r.verify("vt.names"); !rep.OK() {
		t.Errorf("after catching up: want OK")
	}

	// Changes the binlog never shows: the snapshot cannot have them.
	srv.Exec(t, "SET SESSION sql_log_bin = 0",
		"UPDATE vt.kinds SET d = d + 1 WHERE id = 42",
		"UPDATE vt.kinds SET s = 'changed' WHERE id = 77",
		"DELETE FROM vt.names WHERE a = 'n3' AND b = 3",
		"INSERT INTO vt.names VALUES ('zz', 1, 'new')")
	rep = r.verify()
	kinds := status(t, rep, "vt.kinds")
	if kinds.Status != verify.StatusDiff || kinds.DiffChunks != 2 || len(kinds.Diffs) != 2 {
		t.Fatalf("vt.kinds: %+v: want DIFF in 2 chunks", kinds)
	}
	if d := kinds.Diffs[0]; d.Key != "id=42" || d.Column != "d" || d.Source != "295.042" || d.Snapshot != "294.042" {
		t.Errorf("first difference %+v: want id=42 d source 295.042 snapshot 294.042", d)
	}
	if d := kinds.Diffs[1]; d.Key != "id=77" || d.Column != "s" {
		t.Errorf("second difference %+v: want id=77 s", d)
	}
	names := status(t, rep, "vt.names")
	var got []string
	for _, d := range names.Diffs {
		got = append(got, d.String())
	}
	want := []string{`a="zz",b=1: missing from the snapshot`, `a="n3",b=3: only in the snapshot`}
	if names.Status != verify.StatusDiff || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("vt.names: %s %v: want DIFF %v", names.Status, got, want)
	}
	if rep.OK() {
		t.Error("report OK with differences")
	}
}

// TestSourceMoved: a transaction after the head read before comparing is
// found (verify reports MOVED), unless it only touches ignored tables.
func TestSourceMoved(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS vm", "CREATE DATABASE vm", "CREATE TABLE vm.t (id INT PRIMARY KEY)", "CREATE TABLE vm.hb (id INT PRIMARY KEY)")
	db, err := verify.OpenSource(srv.DSN(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	h, err := verify.Head(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := verify.TransactionsAfter(ctx, db, h, true, nil); err != nil || got != "" {
		t.Fatalf("quiet source: %q, %v: want nothing", got, err)
	}
	srv.Exec(t, "INSERT INTO vm.hb VALUES (1)")
	ignore := map[string]bool{"vm.hb": true}
	if got, err := verify.TransactionsAfter(ctx, db, h, true, ignore); err != nil || got != "" {
		t.Fatalf("ignored table written: %q, %v: want nothing", got, err)
	}
	srv.Exec(t, "INSERT INTO vm.t VALUES (1)")
	if got, err := verify.TransactionsAfter(ctx, db, h, true, ignore); err != nil || !strings.Contains(got, "vm.t") {
		t.Fatalf("after a write: %q, %v: want a change to vm.t", got, err)
	}
}
