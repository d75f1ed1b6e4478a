package pipeline_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReplayAcrossDDL streams, alters a table, streams more, and then starts
// fresh pipelines from the first checkpoints with the persisted schema
// registry: every event they emit is byte-identical to the first run's,
// schema versions included.
func TestReplayAcrossDDL(t *testing.T) {
	h := newHarness(t, srv)
	cp0, err := os.ReadFile(h.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	srv.Exec(t, "DROP DATABASE IF EXISTS replay_db", "CREATE DATABASE replay_db", "USE replay_db",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(20), j JSON)",
		`INSERT INTO t VALUES (1, 'one', '{"v": 1}'), (2, 'two', '[2]')`)
	h.catchUp()
	cp1, err := os.ReadFile(h.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	firstRun := len(h.lines())
	srv.Exec(t, "USE replay_db",
		"ALTER TABLE t ADD COLUMN b INT FIRST",
		`INSERT INTO t VALUES (30, 3, 'three', '{"v": 3}')`,
		"UPDATE t SET a = 'ONE' WHERE id = 1",
		"ALTER TABLE t DROP COLUMN a, MODIFY j TEXT",
		"INSERT INTO t VALUES (40, 4, 'not json')",
		"ALTER TABLE t ADD COLUMN k JSON AFTER id",
		`INSERT INTO t VALUES (50, 5, '{"k": true}', 'x')`)
	h.catchUp()
	all := h.lines()
	if len(all) <= firstRun {
		t.Fatalf("second run added no events")
	}
	registry, err := os.ReadFile(h.cfg.SchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cp   []byte
		want [][]byte
	}{
		{"from the first checkpoint", cp0, all},
		{"from the checkpoint before the ALTERs", cp1, all[firstRun:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newHarness(t, srv)
			if err := os.WriteFile(r.store.Path(), c.cp, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(r.cfg.SchemaPath, registry, 0o644); err != nil {
				t.Fatal(err)
			}
			r.catchUp()
			got := r.lines()
			// The replay may read on past what the first run saw (other
			// tests share the server): compare the common range.
			if len(got) < len(c.want) {
				t.Fatalf("replay emitted %d events, first run %d", len(got), len(c.want))
			}
			for i := range c.want {
				if !bytes.Equal(got[i], c.want[i]) {
					t.Fatalf("event %d differs:\nfirst run: %s\n   replay: %s", i, c.want[i], got[i])
				}
			}
			// replaying must not have changed the registry
			after, err := os.ReadFile(filepath.Join(filepath.Dir(r.store.Path()), "test.schema.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, registry) && len(got) == len(c.want) {
				t.Fatalf("replay rewrote the schema registry:\n%s\n->\n%s", registry, after)
			}
		})
	}
}
