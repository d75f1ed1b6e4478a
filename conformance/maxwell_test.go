package conformance

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/pipeline"
)

// maxwellFixtureDir is where CI puts Maxwell's fixtures: shared/ beside the
// repository (they are not copied into it).
var maxwellFixtureDir = filepath.Join("..", "..", "shared", "maxwell-fixtures")

// maxwellSkips are the fixtures that cannot pass on MariaDB 10.11 with
// sluice, and why. docs/maxwell-conformance.md lists the same; keep the two
// in step.
var maxwellSkips = map[string]string{
	"test_minimal": "needs binlog_row_image=MINIMAL; sluice's preflight refuses anything but FULL, " +
		"because a partial row image cannot be rendered as a full Maxwell event",
	"test_case_insensitive": "obsolete: expects column names lower-cased, which contradicts test_column_case; " +
		"Maxwell's own suite stopped running it when Maxwell began to keep column case",
}

// maxwellKnownGaps are fixtures that fail today for a reason being fixed
// elsewhere. They run, log their score, and skip when they fail; one that
// passes fails the test so that its entry is removed.
var maxwellKnownGaps = map[string]string{}

// maxwellDivergences are expected events (numbered from 1 in file order)
// that sluice renders differently from Maxwell on purpose. They run and are
// counted; one that passes fails the test so that its entry is removed.
var maxwellDivergences = map[string]map[int]string{
	"test_zero_created_at": {
		2: "'0003-00-00 00:00:01' is stored as written (MariaDB's default sql_mode lacks NO_ZERO_IN_DATE); " +
			"Maxwell's binlog library turns every date with a zero year, month or day into 0000-00-00 00:00:00, " +
			"sluice emits the stored value. Maxwell's own runner skips this fixture on MariaDB and MySQL 5.7+ " +
			"(supportsZeroDates)",
	},
}

// maxwellServerArgs start the server as Maxwell's MysqlIsolatedServer does,
// where it matters for the fixtures: utf8 (utf8mb3) as the server charset.
// The time zone is +00:00 in every mysqltest server already.
var maxwellServerArgs = []string{"--character-set-server=utf8mb3", "--collation-server=utf8mb3_general_ci"}

// droppedFields are removed from emitted events before comparing, as
// Maxwell's runner does.
var droppedFields = []string{"ts", "xid", "xoffset", "commit"}

// TestMaxwellFixtures runs Maxwell's own SQL → JSON fixtures through sluice
// with Maxwell's default output fields, the way Maxwell's runner does: a
// fresh server per fixture with the schema files loaded, the statements run
// on one connection, and each expected event required to equal some emitted
// event.
func TestMaxwellFixtures(t *testing.T) {
	dir, err := filepath.Abs(maxwellFixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "json")); err != nil {
		t.Skipf("Maxwell fixtures not found at %s (CI puts shared/maxwell-fixtures beside the repository): %v", dir, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "json", "test_*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", filepath.Join(dir, "json"), err)
	}
	schemaSQL := maxwellSchema(t, dir)
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			if reason, ok := maxwellSkips[name]; ok {
				t.Skip(reason)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fx, err := ParseMaxwellFixture(string(b))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			// Maxwell's runner turns output_row_query on for this fixture only.
			rowQuery := name == "test_row_query_log_is_on"
			emitted := runMaxwellFixture(t, schemaSQL, fx.Statements, rowQuery)
			found := MatchEvents(fx.Expected, emitted)
			passed := 0
			var missing []string
			diverging := maxwellDivergences[name]
			for i, ok := range found {
				reason, diverges := diverging[i+1]
				switch {
				case ok && diverges:
					t.Errorf("expected event %d passes now: remove it from maxwellDivergences and docs/maxwell-conformance.md", i+1)
				case ok:
					passed++
				case diverges:
					t.Logf("expected event %d differs on purpose: %s\n%s", i+1, reason, fx.ExpectedText[i])
				default:
					missing = append(missing, fx.ExpectedText[i])
				}
			}
			t.Logf("%s: %d/%d expected events passed", name, passed, len(fx.Expected))
			gap, isGap := maxwellKnownGaps[name]
			switch {
			case isGap && len(missing) == 0:
				t.Errorf("%s passes now: remove it from maxwellKnownGaps and docs/maxwell-conformance.md", name)
			case isGap:
				t.Skip(gap)
			case len(missing) > 0:
				var got strings.Builder
				for _, ev := range emitted {
					b, _ := json.Marshal(ev)
					got.Write(b)
					got.WriteByte('\n')
				}
				t.Errorf("%d of %d expected events not emitted:\n%s\n\nemitted:\n%s",
					len(missing), len(fx.Expected), strings.Join(missing, "\n"), got.String())
			}
		})
	}
}

// maxwellSchema returns the statements of Maxwell's setupSchema: databases
// shard_1 and shard_2 (and test), and every schema file in shard_1, with
// sharded.sql rather than its MySQL 5.5 variant.
func maxwellSchema(t *testing.T, dir string) []string {
	t.Helper()
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS test",
		"CREATE DATABASE IF NOT EXISTS shard_2",
		"DROP DATABASE IF EXISTS shard_1",
		"CREATE DATABASE shard_1",
		"USE shard_1",
	}
	files, err := filepath.Glob(filepath.Join(dir, "schema", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	for _, f := range files {
		if filepath.Base(f) == "sharded_55.sql" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	return stmts
}

// runMaxwellFixture starts a server, loads the schema, runs stmts on one
// connection and returns the events sluice emits for them, with the fields
// Maxwell's runner ignores dropped.
func runMaxwellFixture(t *testing.T, schemaSQL, stmts []string, rowQuery bool) []map[string]any {
	t.Helper()
	srv := mysqltest.StartT(t, mysqltest.Options{Args: maxwellServerArgs})
	srv.RequireOwned(t)
	srv.Exec(t, schemaSQL...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := pipeline.DefaultConfig()
	cfg.Name = "conformance"
	cfg.Source = binlog.DefaultConfig()
	cfg.Source.Host, cfg.Source.Port, cfg.Source.User, cfg.Source.Password = srv.Host, uint16(srv.Port), srv.User, srv.Password
	cfg.Source.HeartbeatPeriod = 250 * time.Millisecond
	cfg.Source.ReadTimeout = 3 * time.Second
	cfg.Source.RetryTimeout = 30 * time.Second
	cfg.CheckpointInterval = 50 * time.Millisecond
	cfg.ExitWhenCaughtUp = true
	// Maxwell's defaults, with the primary key on in Maxwell's shape:
	// readEvents checks it against data, then drops it as the fixtures
	// leave it out.
	cfg.Maxwell = event.MaxwellOptions{PrimaryKey: true, PrimaryKeyColumns: true, RowQuery: rowQuery}
	tmp := t.TempDir()
	cfg.SpillDir = tmp
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := checkpoint.NewFileStore(tmp, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	head, err := binlog.Head(ctx, &cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(ctx, &checkpoint.Checkpoint{Pipeline: cfg.Name, Position: head}); err != nil {
		t.Fatal(err)
	}

	execOnOneConn(t, srv, stmts)

	out := filepath.Join(tmp, "events.jsonl")
	p, err := pipeline.New(cfg, store, func() ([]emit.Sink, error) {
		f, err := emit.OpenFile(out)
		if err != nil {
			return nil, err
		}
		return []emit.Sink{f}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatalf("run pipeline: %v", err)
	}
	return readEvents(t, out)
}

// execOnOneConn runs the statements in order on one connection whose
// default database is mysql, like Maxwell's test connection, so USE and
// session variables carry from one statement to the next.
func execOnOneConn(t *testing.T, srv *mysqltest.Server, stmts []string) {
	t.Helper()
	db, err := sql.Open("mysql", srv.DSN("mysql"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("exec %q: %v", stmt, err)
		}
	}
}

// readEvents decodes a JSON-lines file, numbers kept as written, and drops
// the fields Maxwell's runner ignores.
func readEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("event %d is not JSON: %v\n%s", len(evs), err, sc.Bytes())
		}
		checkPrimaryKey(t, m)
		for _, k := range droppedFields {
			delete(m, k)
		}
		evs = append(evs, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkPrimaryKey checks a row event's primary_key is Maxwell's array of
// the key's values, named by primary_key_columns, in data; then drops both
// (the fixtures are written without output_primary_keys).
func checkPrimaryKey(t *testing.T, m map[string]any) {
	t.Helper()
	data, ok := m["data"].(map[string]any)
	if !ok {
		return // a schema change
	}
	pk, ok1 := m["primary_key"].([]any)
	cols, ok2 := m["primary_key_columns"].([]any)
	if !ok1 || !ok2 || len(pk) != len(cols) {
		t.Errorf("row event without Maxwell's primary_key array and primary_key_columns: %v", m)
		return
	}
	for i, c := range cols {
		name, _ := c.(string)
		if !reflect.DeepEqual(pk[i], data[name]) {
			t.Errorf("primary_key[%d] = %v, but data.%s = %v: %v", i, pk[i], name, data[name], m)
		}
	}
	delete(m, "primary_key")
	delete(m, "primary_key_columns")
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
