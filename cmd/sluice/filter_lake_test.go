//go:build lake

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/filter"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
)

// TestFilterLakeCompactVerify runs a filter through the binary into the
// lake: an initial snapshot of every table and then streamed changes. The
// excluded table's snapshot, rows and schema changes are nowhere in the
// lake, the dropped column is in no image, and the hashed column carries
// the same HMAC in the snapshot rows, the streamed rows and the compacted
// table; verify says equal on the columns it can compare.
func TestFilterLakeCompactVerify(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	r.src.Exec(t, "CREATE DATABASE pii", "USE pii",
		"CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100), password_hash VARCHAR(64), name VARCHAR(40))",
		"CREATE TABLE audit_log (id INT PRIMARY KEY, what VARCHAR(40))",
		"INSERT INTO users SELECT seq, CONCAT('user', seq, '@example.com'), SHA2(seq, 256), CONCAT('name ', seq) FROM seq_1_to_200",
		"INSERT INTO audit_log SELECT seq, 'old' FROM seq_1_to_50")
	key := filepath.Join(r.dir, "hash.key")
	if err := os.WriteFile(key, []byte("lake-test-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "start: earliest", "start: latest", 1) + `snapshot: {mode: initial}
filter:
  include: ["pii.*"]
  exclude: ["pii.audit_*"]
  columns: {exclude: ["pii.users.password_hash"], hash: ["pii.users.email"]}
  hash_key_file: ` + key + "\n"
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.catchUp() // the initial snapshot
	r.src.Exec(t, "USE pii",
		"INSERT INTO users VALUES (201, 'new@example.com', 'x', 'New')",
		"UPDATE users SET email = 'moved@example.com', password_hash = 'y' WHERE id = 7",
		"DELETE FROM users WHERE id = 9",
		"INSERT INTO audit_log VALUES (51, 'new')",
		"ALTER TABLE audit_log ADD COLUMN at INT",
		"ALTER TABLE users ADD COLUMN note VARCHAR(10)",
		"UPDATE users SET note = 'n' WHERE id = 7")
	r.catchUp()

	hash := func(s string) string { return filter.HashText([]byte("lake-test-key"), []byte(s)) }
	var snapshotRows, streamed int
	for _, copies := range r.lakeEvents() {
		line := copies[0]
		var ev struct {
			Database, Table, Type string
			Data, Old             map[string]any
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Table == "audit_log" || strings.Contains(string(line), "audit_log") {
			t.Errorf("the excluded table is in the lake: %s", line)
		}
		if strings.Contains(string(line), `"password_hash":`) {
			t.Errorf("the excluded column is in the lake: %s", line)
		}
		if ev.Database != "pii" || ev.Data == nil {
			continue
		}
		id := int(ev.Data["id"].(float64))
		want := hash("user" + strconv.Itoa(id) + "@example.com")
		switch {
		case id == 7 && ev.Type != "bootstrap-insert":
			want = hash("moved@example.com")
		case id == 201:
			want = hash("new@example.com")
		}
		if ev.Type == "bootstrap-insert" {
			snapshotRows++
		} else {
			streamed++
		}
		if ev.Data["email"] != want {
			t.Errorf("%s of row %d: email %v, want %s", ev.Type, id, ev.Data["email"], want)
		}
	}
	if snapshotRows != 200 || streamed != 4 {
		t.Errorf("%d snapshot rows and %d streamed rows of pii.users, want 200 and 4", snapshotRows, streamed)
	}

	res := sluice(t, r.env, "compact", "--config", r.cfg)
	if res.code != 0 || !strings.Contains(res.stdout, "pii.users") || strings.Contains(res.stdout, "audit_log") {
		t.Fatalf("compact: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	cat, err := compact.OpenCatalog(t.Context(), (&fileConfig{Checkpoint: checkpointConfig{Dir: filepath.Join(r.dir, "state")}}).catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cat.Close() }()
	snap := laketest.ReadSnapshot(t, cat, compact.Identifier("", "pii", "users"))
	if len(snap.Rows) != 200 { // 200 + 201 - 9
		t.Errorf("compacted table has %d rows, want 200", len(snap.Rows))
	}
	if slices.Contains(snap.Columns, "password_hash") {
		t.Errorf("compacted table has the excluded column: %v", snap.Columns)
	}
	for _, row := range snap.Rows {
		id, _ := strconv.Atoi(*row["id"])
		want := hash("user" + strconv.Itoa(id) + "@example.com")
		switch id {
		case 7:
			want = hash("moved@example.com")
		case 201:
			want = hash("new@example.com")
		}
		if row["email"] == nil || *row["email"] != want {
			t.Errorf("compacted row %d: email %v, want %s", id, row["email"], want)
		}
	}
	res = sluice(t, r.env, "verify", "--config", r.cfg, "--table", "pii.users")
	if res.code != 0 || !strings.Contains(res.stdout, "OK") {
		t.Fatalf("verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
