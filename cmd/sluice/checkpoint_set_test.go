package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sluicecdc/sluice/checkpoint"
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
	// A set by GTID set is not tied to a server: the events after it
	// start the next source generation.
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "events.jsonl")); !strings.Contains(string(b), `"dedupe_key":"1:`+file) ||
		strings.Count(string(b), `"source_generation":1,`) < 1 || strings.Contains(string(b), `"source_generation":2`) {
		t.Fatalf("events after set --gtid: want generation 1 on the re-read row\n%s", b)
	}
	pos := file + ":" + itoa(offAfter1)
	if r := sluice(t, nil, "checkpoint", "set", "--config", cfg, "--pos", pos); r.code != 0 {
		t.Fatalf("checkpoint set --pos: exit %d\n%s", r.code, r.stderr)
	}
	r := sluice(t, nil, "checkpoint", "show", "--config", cfg)
	if !strings.Contains(r.stdout, "gtid_set:  "+gtidAfter1) || strings.Count(r.stdout, "history:") != 2 ||
		!strings.Contains(r.stdout, "set: ") || !strings.Contains(r.stdout, "-> "+pos) ||
		!strings.Contains(r.stdout, "generation: 1\n") || !strings.Contains(r.stdout, "-> gtid "+gtidAfter1+", generation 1") {
		t.Fatalf("checkpoint show after two sets:\n%s\nwant gtid_set %s, generation 1 (set --pos on the same server keeps it) and two history lines", r.stdout, gtidAfter1)
	}
	run()
	if n := inserts(); n != 4 {
		t.Fatalf("after set --pos %s: %d inserts, want 4 (row 2 once more)", pos, n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestReplayGeneration: a replay stamps the live checkpoint's source
// generation when it reads the checkpoint's server, --generation when
// given, and refuses to guess on another server.
func TestReplayGeneration(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	dir := t.TempDir()
	cfg, err := loadConfig(writeConfig(t, dir, s, s.User, ""), func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.pipelineConfig(nil)
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	var sid uint32
	if err := s.DB(t).QueryRow("SELECT @@server_id").Scan(&sid); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		live *checkpoint.Checkpoint
		flag int64
		want uint32
		err  string
	}{
		{name: "no checkpoint", flag: -1, want: 0},
		{name: "generation 0", live: &checkpoint.Checkpoint{ServerID: sid + 1}, flag: -1, want: 0},
		{name: "the checkpoint's server", live: &checkpoint.Checkpoint{ServerID: sid, Generation: 2}, flag: -1, want: 2},
		{name: "another server", live: &checkpoint.Checkpoint{ServerID: sid + 1, Generation: 2}, flag: -1, err: "give --generation"},
		{name: "given", live: &checkpoint.Checkpoint{ServerID: sid + 1, Generation: 2}, flag: 1, want: 1},
		{name: "out of range", flag: 1 << 40, err: "--generation"},
	} {
		got, err := replayGeneration(cmd, &pc.Source, tc.live, tc.flag)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %d, %v; want an error naming %q", tc.name, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}
