package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// TestCheckpointSet re-points a stopped pipeline by GTID set and by
// position: the next run starts there, and checkpoint show lists both
// changes. Bad input is refused with the checkpoint unchanged.
func TestCheckpointSet(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	s.Exec(t, "CREATE DATABASE cps", "CREATE TABLE cps.t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, s, s.User, "")
	run := func() {
		t.Helper()
		if r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
			t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
		}
	}
	inserts := func() int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "out", "events.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), `"database":"cps","table":"t","type":"insert"`)
	}
	db := s.DB(t)
	s.Exec(t, "INSERT INTO cps.t VALUES (1)")
	var gtidAfter1, file string
	var offAfter1 int64
	var x, y any
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtidAfter1); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &offAfter1, &x, &y); err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "INSERT INTO cps.t VALUES (2)")
	run()
	if n := inserts(); n != 2 {
		t.Fatalf("first run: %d inserts, want 2", n)
	}
	cpPath := filepath.Join(dir, "cp", "clitest.checkpoint.json")
	before, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--gtid", gtidAfter1, "--pos", file + ":4"}, 2, "exactly one of"},
		{[]string{}, 2, "exactly one of"},
		{[]string{"--gtid", "not-a-gtid"}, 2, "GTID set"},
		{[]string{"--pos", "mysql-bin.999999:4"}, 3, "mysql-bin.999999"},
	} {
		r := sluice(t, nil, append([]string{"checkpoint", "set", "--config", cfg}, bad.args...)...)
		if r.code != bad.code || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("checkpoint set %v: exit %d, want %d naming %q\n%s", bad.args, r.code, bad.code, bad.want, r.stderr)
		}
		if after, _ := os.ReadFile(cpPath); string(after) != string(before) {
			t.Fatalf("checkpoint set %v changed the checkpoint", bad.args)
		}
	}

	if r := sluice(t, nil, "checkpoint", "set", "--config", cfg, "--gtid", gtidAfter1); r.code != 0 {
		t.Fatalf("checkpoint set --gtid: exit %d\n%s", r.code, r.stderr)
	}
	run()
	if n := inserts(); n != 3 {
		t.Fatalf("after set --gtid %s: %d inserts, want 3 (row 2 again)", gtidAfter1, n)
	}
	pos := file + ":" + itoa(offAfter1)
	if r := sluice(t, nil, "checkpoint", "set", "--config", cfg, "--pos", pos); r.code != 0 {
		t.Fatalf("checkpoint set --pos: exit %d\n%s", r.code, r.stderr)
	}
	r := sluice(t, nil, "checkpoint", "show", "--config", cfg)
	if !strings.Contains(r.stdout, "gtid_set:  "+gtidAfter1) || strings.Count(r.stdout, "history:") != 2 ||
		!strings.Contains(r.stdout, "set: ") || !strings.Contains(r.stdout, "-> "+pos) {
		t.Fatalf("checkpoint show after two sets:\n%s\nwant gtid_set %s and two history lines", r.stdout, gtidAfter1)
	}
	run()
	if n := inserts(); n != 4 {
		t.Fatalf("after set --pos %s: %d inserts, want 4 (row 2 once more)", pos, n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
