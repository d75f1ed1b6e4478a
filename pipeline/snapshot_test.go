package pipeline_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/testing/eventtest"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/schema"
	"github.com/sluicecdc/sluice/snapshot"
)

func readRowEvents(t testing.TB, h *harness) []eventtest.Row {
	t.Helper()
	evs, err := eventtest.Read(bytes.NewReader(bytes.Join(h.lines(), []byte("\n"))))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (h *harness) queueSnapshot(tables ...string) {
	h.t.Helper()
	cp := h.checkpoint()
	cp.Snapshot = &checkpoint.Snapshot{Queue: tables}
	if err := h.store.Save(context.Background(), cp); err != nil {
		h.t.Fatal(err)
	}
}

func diffStates(t *testing.T, got, want map[string]map[string]string) {
	t.Helper()
	for table, rows := range want {
		for k, w := range rows {
			if g, ok := got[table][k]; !ok {
				t.Errorf("%s %s: missing from the snapshot; want %s", table, k, w)
			} else if g != w {
				t.Errorf("%s %s:\n snapshot %s\n binlog   %s", table, k, g, w)
			}
		}
		for k, g := range got[table] {
			if _, ok := rows[k]; !ok {
				t.Errorf("%s %s: in the snapshot but not the source: %s", table, k, g)
			}
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			t.Errorf("%s: snapshotted but not in the source", table)
		}
	}
}

// TestSnapshotRendersRowsAsTheBinlogDoes streams every column type through
// the binlog, then snapshots the same tables twice: once with a registry
// that never saw them (shapes from information_schema) and once with the
// registry that did. Each snapshot row must be byte-identical to the row
// the binlog events leave.
func TestSnapshotRendersRowsAsTheBinlogDoes(t *testing.T) {
	h1 := newHarness(t, srv)
	srv.ExecScript(t, "snaptypes", "../testdata/golden/types.sql")
	srv.Exec(t, "USE snaptypes",
		"CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY, p POINT)",
		"INSERT INTO geo VALUES (1, ST_GeomFromText('LINESTRING(0 0,1 1,2 5)'), POINT(1.5, -2)), (2, NULL, NULL)",
		// composite keys of several types, in an order that is not byte order
		"CREATE TABLE ck (name VARCHAR(20) CHARACTER SET latin1, at DATETIME(3), e ENUM('x','y'), n INT, v TEXT, PRIMARY KEY (name, at, e))",
		"INSERT INTO ck VALUES ('b', '2024-01-01 00:00:00.5', 'y', 1, 'one'), ('B', '2024-01-01 00:00:00.5', 'x', 2, 'two'), ('é', '2023-01-01', 'x', 3, 'three'), ('a', '2025-05-05', 'y', 4, NULL)",
		"CREATE TABLE jm (id BIGINT UNSIGNED PRIMARY KEY, doc JSON)",
		"INSERT INTO jm VALUES (18446744073709551615, '{\"k\": [1, 2]}'), (1, NULL)")
	h1.catchUp()
	want := eventtest.Fold(readRowEvents(t, h1), "snaptypes")
	tables := []string{}
	for name := range want {
		tables = append(tables, "snaptypes."+name)
	}
	sort.Strings(tables)
	if len(tables) != 7 {
		t.Fatalf("want 7 tables from the binlog, got %v", tables)
	}

	// The shapes read from information_schema agree with TABLE_MAP's.
	reg, err := schema.OpenRegistry(schema.FileStore(h1.cfg.SchemaPath))
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t)
	for _, name := range tables {
		db, tbl, _ := snapshot.SplitTable(name)
		info, err := snapshot.ReadShape(conn, db, tbl, true)
		if err != nil {
			t.Fatal(err)
		}
		vs := reg.Versions(db, tbl)
		fromBinlog := vs[len(vs)-1].Table
		for i := range fromBinlog.Columns {
			if a, b := fromBinlog.Columns[i].TypeName(), info.Columns[i].TypeName(); !snapshot.SameColumn(&fromBinlog.Columns[i], &info.Columns[i]) {
				t.Errorf("%s.%s: binlog says %s, information_schema %s", name, fromBinlog.Columns[i].Name, a, b)
			}
		}
		if !snapshot.Compatible(fromBinlog, info) {
			t.Errorf("%s: shapes not compatible", name)
		}
	}

	for _, withRegistry := range []bool{false, true} {
		t.Run(fmt.Sprintf("registry=%v", withRegistry), func(t *testing.T) {
			h := newHarness(t, srv)
			h.cfg.Snapshot.SignalTable = "sluice.signal"
			h.cfg.Snapshot.ChunkSize = 2 // several chunks per table
			if withRegistry {
				b, err := os.ReadFile(h1.cfg.SchemaPath)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(h.cfg.SchemaPath, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h.queueSnapshot(tables...)
			h.catchUp()
			evs := readRowEvents(t, h)
			for _, ev := range evs {
				if ev.Database == "snaptypes" && ev.Type != "bootstrap-insert" {
					t.Fatalf("unexpected event: %+v", ev)
				}
				if ev.Database == "sluice" {
					t.Fatalf("the signal table's rows or DDL were emitted: %+v", ev)
				}
			}
			diffStates(t, eventtest.Fold(evs, "snaptypes"), want)
			cp := h.checkpoint()
			if !cp.Snapshot.Idle() || len(cp.Snapshot.Done) != len(tables) {
				t.Fatalf("checkpoint's snapshot state after the run: %+v", cp.Snapshot)
			}
		})
	}
}

// TestSnapshotUnderWrites snapshots a table in small chunks while writers
// update, delete and insert its rows as fast as they can, and checks that
// the events, applied in order, leave exactly the table's final rows; and
// that some chunk rows were dropped because the binlog changed them
// inside a window (the part of DBLog that keeps a snapshot from going
// back in time).
func TestSnapshotUnderWrites(t *testing.T) {
	const rows = 6000
	srv.Exec(t, "DROP DATABASE IF EXISTS snapw", "CREATE DATABASE snapw", "USE snapw",
		"CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(200))",
		fmt.Sprintf("INSERT INTO t SELECT seq, 0, REPEAT('p', 100) FROM seq_1_to_%d", rows))
	h := newHarness(t, srv)
	h.cfg.Snapshot.SignalTable = "sluice.signal"
	h.cfg.Snapshot.ChunkSize = 150
	reg := prometheus.NewRegistry()
	h.cfg.Metrics = pipeline.NewMetrics(reg)
	h.queueSnapshot("snapw.t")

	db := srv.DB(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	errs := make(chan error, 4)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for n := 0; !stop.Load(); n++ {
				id := 1 + r.IntN(rows+500)
				var err error
				switch r.IntN(10) {
				case 0:
					_, err = db.Exec("DELETE FROM snapw.t WHERE id = ?", id)
				case 1:
					_, err = db.Exec("INSERT INTO snapw.t VALUES (?, ?, 'new') ON DUPLICATE KEY UPDATE v = v + 1", id, n)
				case 2:
					// moves a row's key: both keys change inside a window
					_, err = db.Exec("UPDATE IGNORE snapw.t SET id = id + 100000 WHERE id = ?", id)
				default:
					_, err = db.Exec("UPDATE snapw.t SET v = v + 1 WHERE id = ?", id)
				}
				if err != nil {
					errs <- err
					return
				}
				writes.Add(1)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.pipeline(false).Run(ctx) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !h.storeSnapshotDone() {
		if time.Now().After(deadline) {
			t.Fatal("the snapshot did not finish in 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.catchUp()

	got := eventtest.Fold(readRowEvents(t, h), "snapw")["t"]
	want := sourceRows(t, db)
	if len(got) != len(want) {
		t.Errorf("events leave %d rows, the table has %d", len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if g := got[k]; g != w && bad < 10 {
			bad++
			t.Errorf("row %s: events leave %q, the table has %q", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && bad < 10 {
			bad++
			t.Errorf("row %s: events leave %q, the table does not have it", k, got[k])
			for _, ev := range readRowEvents(t, h) {
				if eventtest.Key(ev.PrimaryKey, nil) == k || eventtest.Key(ev.PrimaryKey, ev.Old) == k || bytes.Contains(ev.Data, []byte(k[1:len(k)-1]+",")) {
					t.Logf("  %s %s %s", ev.Type, ev.DedupeKey, ev.Data)
				}
			}
		}
	}
	superseded := testutil.ToFloat64(h.cfg.Metrics.SnapshotSupersededCounter())
	t.Logf("%d writes during the snapshot; %v chunk rows superseded by the binlog", writes.Load(), superseded)
	if superseded == 0 {
		t.Error("no chunk row was superseded inside a window: the test did not exercise DBLog's dropping (make the writers hotter)")
	}
}

// storeSnapshotDone reports whether the stored checkpoint shows no
// snapshot work left.
func (h *harness) storeSnapshotDone() bool {
	cp, err := h.store.Load(context.Background())
	return err == nil && cp.Snapshot.Idle() && cp.Snapshot != nil && len(cp.Snapshot.Done) > 0
}

// sourceRows renders snapw.t's rows as the Maxwell encoder does (for this
// table's simple columns): key `[id]` → data object.
func sourceRows(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rs, err := db.Query("SELECT id, v, pad FROM snapw.t")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rs.Close() }()
	out := map[string]string{}
	for rs.Next() {
		var id, v int64
		var pad string
		if err := rs.Scan(&id, &v, &pad); err != nil {
			t.Fatal(err)
		}
		padJSON, _ := json.Marshal(pad)
		out[fmt.Sprintf(`{"id":%d}`, id)] = fmt.Sprintf(`{"id":%d,"v":%d,"pad":%s}`, id, v, padJSON)
	}
	return out
}

// dial opens a go-mysql connection to the test server.
func dial(t *testing.T) *client.Conn {
	t.Helper()
	cfg := sourceConfig(srv)
	conn, err := binlog.Connect(context.Background(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BenchmarkSnapshot measures a table snapshot end to end: chunks read
// between watermarks, rows converted, encoded and written to a file sink.
// Narrow: (id INT, v INT, pad VARCHAR(100)) with 60-byte pads; wide: the
// bench workload's 20-odd columns of mixed types.
func BenchmarkSnapshot(b *testing.B) {
	const rows = 200_000
	srv.Exec(b, "DROP DATABASE IF EXISTS snapbench", "CREATE DATABASE snapbench", "USE snapbench",
		"CREATE TABLE narrow (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(100) NOT NULL)",
		fmt.Sprintf("INSERT INTO narrow SELECT seq, seq, REPEAT('p', 60) FROM seq_1_to_%d", rows),
		`CREATE TABLE wide (id BIGINT PRIMARY KEY, a INT, b BIGINT UNSIGNED, c DECIMAL(12,2), d DOUBLE, e FLOAT,
			f VARCHAR(64), g TEXT, h DATETIME(6), i TIMESTAMP(3) NULL, j DATE, k ENUM('x','y','z'), l SET('p','q'),
			m JSON, n VARBINARY(32), o TINYINT, p SMALLINT, q VARCHAR(200) CHARACTER SET latin1, r BIT(8), s TIME)`,
		fmt.Sprintf(`INSERT INTO wide SELECT seq, seq, seq * 7, seq / 3, seq / 7, seq / 11, CONCAT('name-', seq),
			REPEAT('t', 80), '2024-01-01 00:00:00' + INTERVAL seq SECOND, '2024-01-01 00:00:00' + INTERVAL seq SECOND,
			'2024-01-01' + INTERVAL (seq %% 1000) DAY, 'y', 'p,q', CONCAT('{"k":', seq, ',"s":"v"}'), UNHEX(MD5(seq)),
			seq %% 100, seq %% 30000, 'café', seq %% 256, '12:34:56' FROM seq_1_to_%d`, rows))
	for _, table := range []string{"narrow", "wide"} {
		b.Run(table, func(b *testing.B) {
			var bytes int64
			for b.Loop() {
				h := newHarness(b, srv)
				h.cfg.Snapshot.SignalTable = "sluice.signal"
				h.queueSnapshot("snapbench." + table)
				h.catchUp()
				st, err := os.Stat(h.out)
				if err != nil {
					b.Fatal(err)
				}
				bytes += st.Size()
				if cp := h.checkpoint(); len(cp.Snapshot.Done) != 1 || cp.Snapshot.Done[0].Rows != rows {
					b.Fatalf("snapshot state: %+v", cp.Snapshot)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// TestReadChunkErrorKeepsConnection: a row the chunk reader cannot convert
// fails the chunk with a TableError (the table's own problem: it is
// skipped), and the streamed result is still read to its end, so the
// same connection reads the next chunk.
func TestReadChunkErrorKeepsConnection(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS chunkerr", "CREATE DATABASE chunkerr", "USE chunkerr",
		"CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20))",
		"INSERT INTO t SELECT seq, CONCAT('row-', seq) FROM seq_1_to_500")
	conn := dial(t)
	if err := snapshot.PrepareSession(conn); err != nil {
		t.Fatal(err)
	}
	shape, err := snapshot.ReadShape(conn, "chunkerr", "t", true)
	if err != nil {
		t.Fatal(err)
	}
	bad := *shape
	bad.Columns = slices.Clone(shape.Columns)
	bad.Columns[1].Type = mysql.MYSQL_TYPE_LONG // text values where integers are expected
	_, err = snapshot.ReadChunk(conn, &bad, nil, 300)
	if err == nil || !snapshot.TableProblem(err) {
		t.Fatalf("chunk of a mis-typed shape: err %v, want the table's problem", err)
	}
	c, err := snapshot.ReadChunk(conn, shape, []string{"100"}, 300)
	if err != nil {
		t.Fatalf("the next chunk on the same connection: %v", err)
	}
	if len(c.Rows) != 300 || c.Rows[0][0] != int64(101) || string(c.Rows[299][1].([]byte)) != "row-400" || !slices.Equal(c.Last, []string{"400"}) {
		t.Fatalf("next chunk: %d rows, first %v, last %v, resume key %v", len(c.Rows), c.Rows[0], c.Rows[len(c.Rows)-1], c.Last)
	}
}
