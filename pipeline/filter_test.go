package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/filter"
)

// TestFilter streams and snapshots a database through a filter: the
// excluded table's rows, schema changes and snapshot never come out, the
// excluded column is in neither data nor old, and the hashed column carries
// the same HMAC in stream and snapshot rows. A transaction whose rows are
// all filtered out emits nothing but still moves the checkpoint.
func TestFilter(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS filt", "CREATE DATABASE filt", "USE filt",
		"CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100), password_hash VARCHAR(100), name VARCHAR(50))",
		"CREATE TABLE audit_log (id INT PRIMARY KEY, what VARCHAR(50))",
		"INSERT INTO users VALUES (1, 'ann@example.com', 'secret1', 'Ann'), (2, NULL, 'secret2', 'Bob')",
		"INSERT INTO audit_log VALUES (1, 'before')")
	h := newHarness(t, srv)
	key := []byte("test-key")
	h.cfg.Filter = filter.Config{
		Include: []string{"filt.*"}, Exclude: []string{"filt.audit_*"},
		ExcludeColumns: []string{"filt.users.password_*"}, HashColumns: []string{"filt.users.EMAIL"}, HashKey: key,
	}
	h.cfg.Snapshot.SignalTable = "sluice.signal"
	h.queueSnapshot("filt.users", "filt.audit_log")
	srv.Exec(t, "USE filt",
		"INSERT INTO users VALUES (3, 'cy@example.com', 'secret3', 'Cy')",
		"UPDATE users SET email = 'ann@example.org', password_hash = 'new' WHERE id = 1",
		"UPDATE users SET name = 'Bobby', password_hash = 'x' WHERE id = 2",
		"INSERT INTO audit_log VALUES (2, 'during')",
		"ALTER TABLE audit_log ADD COLUMN at INT",
		"ALTER TABLE users ADD COLUMN note VARCHAR(10)",
		"DELETE FROM users WHERE id = 3",
		// a transaction of excluded rows only, last: the checkpoint must still pass it
		"INSERT INTO audit_log VALUES (3, 'after', 1)")
	head, err := binlog.Head(context.Background(), &h.cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	h.catchUp()

	hash := func(s string) string { return filter.HashText(key, []byte(s)) }
	var bootstrap, inserts, updates, deletes, ddl int
	emails := map[string]bool{}
	for i, ev := range h.events() {
		if ev["database"] != "filt" {
			continue
		}
		if ev["table"] == "audit_log" {
			t.Errorf("event %d of the excluded table: %v", i, ev)
			continue
		}
		typ, _ := ev["type"].(string)
		if strings.HasPrefix(typ, "table-") {
			ddl++
			continue
		}
		for _, img := range []string{"data", "old"} {
			m, _ := ev[img].(map[string]any)
			if _, ok := m["password_hash"]; ok {
				t.Errorf("event %d: excluded column in %s: %v", i, img, ev)
			}
			if e, ok := m["email"].(string); ok {
				emails[e] = true
				if len(e) != 64 {
					t.Errorf("event %d: %s.email %q is not a hex HMAC-SHA256", i, img, e)
				}
			}
		}
		data := ev["data"].(map[string]any)
		switch typ {
		case "bootstrap-insert":
			bootstrap++
			switch id := fmt.Sprint(data["id"]); {
			case id == "1" && data["email"] != hash("ann@example.org"):
				// read after the stream's update: the same HMAC as its data
				t.Errorf("snapshot row 1: email %v, want %s", data["email"], hash("ann@example.org"))
			case id == "2" && data["email"] != nil:
				t.Errorf("snapshot row 2: NULL email became %v", data["email"])
			}
		case "insert":
			inserts++
			if data["email"] != hash("cy@example.com") {
				t.Errorf("insert: email %v, want %s", data["email"], hash("cy@example.com"))
			}
		case "update":
			updates++
			old := ev["old"].(map[string]any)
			if fmt.Sprint(data["id"]) == "1" {
				if data["email"] != hash("ann@example.org") || old["email"] != hash("ann@example.com") {
					t.Errorf("update of row 1: email %v old %v", data["email"], old["email"])
				}
			} else if len(old) != 1 || old["name"] != "Bob" {
				// password_hash changed too, but it is not there to show
				t.Errorf("update of row 2: old %v, want only the name", old)
			}
		case "delete":
			deletes++
			if data["email"] != hash("cy@example.com") {
				t.Errorf("delete: email %v", data["email"])
			}
		}
	}
	if bootstrap != 2 || inserts != 1 || updates != 2 || deletes != 1 || ddl != 1 {
		t.Errorf("users events: %d bootstrap, %d insert, %d update, %d delete, %d ddl; want 2, 1, 2, 1, 1", bootstrap, inserts, updates, deletes, ddl)
	}
	if !emails[hash("ann@example.com")] || emails["ann@example.com"] {
		t.Errorf("emails seen: %v", emails)
	}
	cp := h.checkpoint()
	if cp.Position.Compare(head) < 0 {
		t.Errorf("checkpoint %s stops before the filtered-out last transaction (head %s)", cp.Position, head)
	}
	if cp.Filter == "" || !strings.Contains(cp.Filter, "filt.audit_*") || strings.Contains(cp.Filter, string(key)) {
		t.Errorf("checkpoint filter = %q: want the definition, without the key", cp.Filter)
	}
	if cp.Snapshot == nil || len(cp.Snapshot.Done) != 2 || cp.Snapshot.Done[1].Table != "filt.audit_log" || cp.Snapshot.Done[1].Error == "" {
		t.Errorf("snapshot state %+v: want users done and audit_log skipped by the filter", cp.Snapshot)
	}
}

// TestFilterDefaultLeavesOutSystemDatabases: with no filter configured,
// changes to mysql.* are not emitted, other databases are.
func TestFilterDefaultLeavesOutSystemDatabases(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS filtdef", "CREATE DATABASE filtdef", "DROP TABLE IF EXISTS mysql.sluice_probe")
	h := newHarness(t, srv)
	srv.Exec(t,
		"CREATE TABLE mysql.sluice_probe (id INT PRIMARY KEY)",
		"INSERT INTO mysql.sluice_probe VALUES (1)",
		"CREATE TABLE filtdef.t (id INT PRIMARY KEY)",
		"INSERT INTO filtdef.t VALUES (1)",
		"DROP TABLE mysql.sluice_probe")
	h.catchUp()
	var ours int
	for i, ev := range h.events() {
		if ev["database"] == "mysql" {
			t.Errorf("event %d from the mysql database: %v", i, ev)
		}
		if ev["database"] == "filtdef" && ev["type"] == "insert" {
			ours++
		}
	}
	if ours != 1 {
		t.Errorf("%d inserts of filtdef.t, want 1", ours)
	}
}
