package compact_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
	"github.com/sluicecdc/sluice/verify"
)

// TestCompactTemporal: DATE, DATETIME(0/3/6), TIMESTAMP(6) and TIME
// columns are Iceberg date, timestamp, timestamptz and time; zero dates,
// dates with a zero month or day and TIME values outside a day are NULL,
// counted in the report (full run, then a merge-on-read run); iceberg-go's
// scan reads the values back, and verify finds the table equal to the
// source.
func TestCompactTemporal(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS ctm", "CREATE DATABASE ctm", "USE ctm",
		"SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'",
		"CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME, tm6 TIME(6))",
		"INSERT INTO t VALUES (1, '2024-02-29', '2024-01-02 03:04:05', '2024-01-02 03:04:05.120', '1969-12-31 23:59:59.999999', '2024-06-01 12:00:00.000001', '23:59:59', '00:00:00.5')",
		// Nulled: d, dt0, dt3 (zero month), tm (negative), tm6 (over 24 h).
		"INSERT INTO t VALUES (2, '0000-00-00', '0000-00-00 00:00:00', '2024-00-10 00:00:00', NULL, NULL, '-01:00:00', '25:00:00')",
		// Nulled: d (zero day).
		"INSERT INTO t VALUES (3, '2024-03-00', NULL, NULL, '2024-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00', NULL)",
		// Nulled: ts (the zero TIMESTAMP).
		"INSERT INTO t VALUES (5, NULL, NULL, NULL, NULL, '0000-00-00 00:00:00', NULL, NULL)")
	lake.CatchUp()
	cfg := compactConfig(lake, t.TempDir(), "ctm.t")
	rep := runCompaction(t, lake, cfg)
	if tr := tableReport(t, rep, "ctm.t"); tr.Status != compact.StatusCompacted || tr.Nulled != 7 {
		t.Fatalf("first run: %+v: want compacted with 7 values nulled", tr)
	}
	var b bytes.Buffer
	if err := rep.Render(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("NULLED")) {
		t.Errorf("report has no NULLED column:\n%s", b.String())
	}
	const types = "id:int d:date dt0:timestamp dt3:timestamp dt6:timestamp ts:timestamptz tm:time tm6:time"
	if got := columnTypes(t, cfg, "ctm", "t"); got != types {
		t.Errorf("column types %q, want %q", got, types)
	}
	want := map[string]map[string]string{
		"1": {"d": "2024-02-29", "dt0": "2024-01-02 03:04:05", "dt3": "2024-01-02 03:04:05.12", "dt6": "1969-12-31 23:59:59.999999",
			"ts": "2024-06-01 12:00:00.000001", "tm": "23:59:59", "tm6": "00:00:00.5"},
		"2": {"d": "NULL", "dt0": "NULL", "dt3": "NULL", "dt6": "NULL", "ts": "NULL", "tm": "NULL", "tm6": "NULL"},
		"5": {"ts": "NULL"},
		"3": {"d": "NULL", "dt6": "2024-01-01 00:00:00", "ts": "1970-01-01 00:00:01", "tm": "00:00:00", "tm6": "NULL"},
	}
	checkTemporalRows(t, cfg, want)
	checkEqual(t, cfg, "ctm.t", "id")
	verifyEqual(t, cfg, "ctm.t")

	// Row changes only: merged on read, zero values nulled and counted
	// again (row 2's update writes its whole image).
	srv.Exec(t, "USE ctm", "SET SESSION sql_mode = ''",
		"INSERT INTO t VALUES (4, '2024-05-05', '0000-00-00 00:00:00', NULL, NULL, NULL, '12:00:00', NULL)",
		"UPDATE t SET tm = '12:34:56' WHERE id = 2")
	lake.CatchUp()
	rep = runCompaction(t, lake, cfg)
	if tr := tableReport(t, rep, "ctm.t"); tr.Status != compact.StatusCompacted || tr.Mode != compact.ModeMergeOnRead || tr.Nulled != 5 {
		t.Errorf("second run: %+v: want merged on read with 5 values nulled", tr)
	}
	want["2"]["tm"] = "12:34:56"
	want["4"] = map[string]string{"d": "2024-05-05", "dt0": "NULL", "tm": "12:00:00"}
	checkTemporalRows(t, cfg, want)
	checkEqual(t, cfg, "ctm.t", "id")
	verifyEqual(t, cfg, "ctm.t")

	// A temporal primary key stays text (rows read back key as the
	// lake's text does), through a copy-on-write and a merge-on-read run.
	srv.Exec(t, "USE ctm", "CREATE TABLE k (at DATETIME(3) PRIMARY KEY, v INT)",
		"INSERT INTO k VALUES ('2024-01-01 00:00:00.100', 1), ('2024-01-01 00:00:00.000', 2)")
	lake.CatchUp()
	kcfg := cfg
	kcfg.Tables = []string{"ctm.k"}
	runCompaction(t, lake, kcfg)
	srv.Exec(t, "UPDATE ctm.k SET v = 10 WHERE v = 1")
	lake.CatchUp()
	if tr := tableReport(t, runCompaction(t, lake, kcfg), "ctm.k"); tr.Mode != compact.ModeMergeOnRead || tr.Rows != 2 {
		t.Errorf("ctm.k second run: %+v: want merged on read, 2 rows", tr)
	}
	if got := columnTypes(t, kcfg, "ctm", "k"); got != "at:string v:int" {
		t.Errorf("ctm.k column types %q, want at:string v:int", got)
	}
	checkEqual(t, kcfg, "ctm.k", "at")
	verifyEqual(t, kcfg, "ctm.k")

	// A table written with string temporal columns (its DDL is not in the
	// lake, as for a table compacted before typed temporal columns) keeps
	// them through a later ALTER declaring DATETIME(3): string → timestamp
	// is no Iceberg promotion. Its zero date stays text, which verify
	// treats as NULL on both sides.
	srv.Exec(t, "USE ctm", "SET SESSION sql_mode = ''", "SET SESSION sql_log_bin = 0",
		"CREATE TABLE old (id INT PRIMARY KEY, at DATETIME(3), d DATE)")
	srv.Exec(t, "USE ctm", "SET SESSION sql_mode = ''",
		"INSERT INTO old VALUES (1, '2024-01-02 03:04:05.120', '0000-00-00'), (2, NULL, '2024-01-01')")
	lake.CatchUp()
	ocfg := cfg
	ocfg.Tables = []string{"ctm.old"}
	runCompaction(t, lake, ocfg)
	if got := columnTypes(t, ocfg, "ctm", "old"); got != "id:long at:string d:string" {
		t.Fatalf("ctm.old column types %q, want id:long at:string d:string", got)
	}
	srv.Exec(t, "USE ctm", "ALTER TABLE old MODIFY at DATETIME(3) COMMENT 'declared'", "INSERT INTO old VALUES (3, '2024-05-05 05:05:05.5', '2024-05-05')")
	lake.CatchUp()
	if tr := tableReport(t, runCompaction(t, lake, ocfg), "ctm.old"); tr.Status != compact.StatusCompacted || tr.Nulled != 0 {
		t.Errorf("ctm.old after the ALTER: %+v: want compacted, nothing nulled", tr)
	}
	if got := columnTypes(t, ocfg, "ctm", "old"); got != "id:long at:string d:string" {
		t.Errorf("ctm.old column types after the ALTER %q, want id:long at:string d:string", got)
	}
	checkEqual(t, ocfg, "ctm.old", "id")
	verifyEqual(t, ocfg, "ctm.old")
}

// checkTemporalRows reads the table through iceberg-go's scan and checks
// the given values (by id, then column; "NULL" for NULL).
func checkTemporalRows(t *testing.T, cfg compact.Config, want map[string]map[string]string) {
	t.Helper()
	cat, err := compact.OpenCatalog(context.Background(), cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	snap := laketest.ReadSnapshot(t, cat, compact.Identifier(cfg.Namespace, "ctm", "t"))
	if len(snap.Rows) != len(want) {
		t.Errorf("%d rows, want %d", len(snap.Rows), len(want))
	}
	for _, row := range snap.Rows {
		id := *row["id"]
		for col, w := range want[id] {
			got := "NULL"
			if v := row[col]; v != nil {
				got = *v
			}
			if got != w {
				t.Errorf("id %s column %s: %s, want %s", id, col, got, w)
			}
		}
	}
}

// verifyEqual runs verify on a table and wants it equal to the source.
func verifyEqual(t *testing.T, cfg compact.Config, table string) {
	t.Helper()
	vc := verify.DefaultConfig()
	vc.SourceDSN = srv.DSN("")
	vc.Catalog = cfg.Catalog
	vc.Namespace = cfg.Namespace
	vc.Tables = []string{table}
	vc.Logger = laketest.Logger(t)
	rep, err := verify.Run(context.Background(), vc)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var b bytes.Buffer
	_ = rep.Render(&b)
	t.Logf("verify:\n%s", b.String())
	if !rep.OK() {
		t.Errorf("verify: %s not equal to the source", table)
	}
}
