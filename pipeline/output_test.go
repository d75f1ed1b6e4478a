package pipeline_test

import (
	"testing"

	"github.com/sluicecdc/sluice/event"
)

// TestMaxwellOutputOptions streams through the real server with ddl off,
// row_query and thread_id on, nulls off and the key as an object: no
// schema change events, each row carries the statement that wrote it, and
// NULL columns are left out.
func TestMaxwellOutputOptions(t *testing.T) {
	h := newHarness(t, srv)
	h.cfg.Maxwell = event.MaxwellOptions{PrimaryKey: true, PrimaryKeyObject: true, RowQuery: true, ThreadID: true, NoNulls: true, DedupeKey: true}
	srv.Exec(t, "DROP DATABASE IF EXISTS outopts", "CREATE DATABASE outopts", "USE outopts",
		"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b INT)",
		"INSERT INTO t VALUES (1, NULL, 2) /* first */",
		"UPDATE t SET a = 'x' WHERE id = 1")
	h.cfg.Maxwell.NoDDL = true
	h.catchUp()
	rows := 0
	for i, ev := range h.events() {
		if ev["database"] != "outopts" {
			continue
		}
		if ev["data"] == nil {
			t.Errorf("event %d: a schema change with ddl off: %v", i, ev)
			continue
		}
		rows++
		data := ev["data"].(map[string]any)
		pk, ok := ev["primary_key"].(map[string]any)
		if !ok || pk["id"] == nil {
			t.Errorf("event %d: primary_key %v, want the object", i, ev["primary_key"])
		}
		switch ev["type"] {
		case "insert":
			if ev["query"] != "INSERT INTO t VALUES (1, NULL, 2) /* first */" {
				t.Errorf("insert: query %q", ev["query"])
			}
			if _, ok := data["a"]; ok {
				t.Errorf("insert: NULL column a is in data: %v", data)
			}
		case "update":
			if ev["query"] != "UPDATE t SET a = 'x' WHERE id = 1" {
				t.Errorf("update: query %q", ev["query"])
			}
			if old, _ := ev["old"].(map[string]any); len(old) != 0 {
				t.Errorf("update: old %v: its only change was from NULL", old)
			}
		}
	}
	if rows != 2 {
		t.Errorf("%d row events, want 2", rows)
	}
}
