//go:build lake

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// TestCompactAndVerify streams to the lake, compacts it into Iceberg
// snapshot tables, and verifies them against the source: OK; then a change
// the pipeline cannot see (sql_log_bin=0) makes verify report the
// difference and exit non-zero.
func TestCompactAndVerify(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	r.src.Exec(t, "CREATE DATABASE inv", "USE inv",
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2), seen DATETIME(6))",
		"INSERT INTO items SELECT seq, CONCAT('item ', seq), seq / 4, '2024-01-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_500",
		"UPDATE items SET price = price * 2 WHERE id % 3 = 0", "DELETE FROM items WHERE id % 7 = 0",
		"ALTER TABLE items ADD COLUMN note TEXT", "UPDATE items SET note = 'noted' WHERE id < 50", "UPDATE items SET id = id + 1000 WHERE id = 1")
	r.catchUp()
	res := sluice(t, r.env, "compact", "--config", r.cfg)
	if res.code != 0 || !strings.Contains(res.stdout, "inv.items") {
		t.Fatalf("compact: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = sluice(t, r.env, "verify", "--config", r.cfg, "--table", "inv.items")
	if res.code != 0 || !strings.Contains(res.stdout, "OK") {
		t.Fatalf("verify after compaction: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	r.src.Exec(t, "SET SESSION sql_log_bin = 0", "UPDATE inv.items SET name = 'changed behind sluice' WHERE id = 43")
	res = sluice(t, r.env, "verify", "--config", r.cfg, "--table", "inv.items")
	if res.code == 0 || !strings.Contains(res.stdout, "DIFF") || !strings.Contains(res.stdout, "43") {
		t.Fatalf("verify after a hidden change: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestSnapshotCompactAndVerify takes an initial snapshot of a 200,000-row
// table (50,000 with -short) while a writer updates, deletes, inserts and
// re-keys its rows, into the lake; then compacts the lake and verifies
// the snapshot table equal to the source.
func TestSnapshotCompactAndVerify(t *testing.T) {
	rows := 200_000
	if testing.Short() {
		rows = 50_000
	}
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	r.src.Exec(t, "CREATE DATABASE snap", "USE snap",
		"CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(100) NOT NULL)",
		fmt.Sprintf("INSERT INTO big SELECT seq, 0, REPEAT('p', 60) FROM seq_1_to_%d", rows))
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "start: earliest", "start: latest", 1) + "snapshot: {mode: initial, tables: [snap.big]}\n"
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	db := r.src.DB(t)
	w := startWriter(t, db, rows)
	start := time.Now()
	r.catchUp() // ends once the snapshot is done and everything before it delivered
	took := time.Since(start)
	writes := w.finish(t)
	r.catchUp()
	t.Logf("snapshot of %d rows under %d writes, to the lake: %s (%.0f rows/s)", rows, writes, took.Round(time.Millisecond), float64(rows)/took.Seconds())
	res := sluice(t, r.env, "compact", "--config", r.cfg, "--table", "snap.big")
	if res.code != 0 || !strings.Contains(res.stdout, "snap.big") {
		t.Fatalf("compact: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = sluice(t, r.env, "verify", "--config", r.cfg, "--table", "snap.big")
	if res.code != 0 || !strings.Contains(res.stdout, "OK") {
		t.Fatalf("verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	t.Logf("verify:\n%s", res.stdout)
}
