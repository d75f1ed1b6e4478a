package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// TestFilterRefusedBeforeAnythingIsWritten: a bad glob, a hash without a
// key, and a filter that drops a primary key column exit 2 and leave no
// checkpoint and no events.
func TestFilterRefusedBeforeAnythingIsWritten(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.users (id INT PRIMARY KEY, email VARCHAR(50))")
	for _, c := range []struct {
		name, yaml string
		want       string
	}{
		{"bad glob", "filter: {include: ['shop.[users']}\n", "bad glob"},
		{"not database.table", "filter: {exclude: [shop]}\n", "want database.table"},
		{"hash without key", "filter: {columns: {hash: [shop.users.email]}}\n", "SLUICE_FILTER__HASH_KEY"},
		{"missing key file", "filter: {columns: {hash: [shop.users.email]}, hash_key_file: /nonexistent/key}\n", "hash_key_file"},
		{"key column dropped", "filter: {columns: {exclude: [shop.users.id]}}\n", "hash it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, s, s.User, c.yaml)
			r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", r.code, c.want, r.stderr)
			}
			assertNothingWritten(t, dir)
		})
	}
}

// TestFilterChangeIsLogged: a start with another filter than the
// checkpoint's logs the tables it adds and removes; a pattern that matches
// nothing is a warning.
func TestFilterChangeIsLogged(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.Exec(t, "CREATE DATABASE a", "CREATE TABLE a.t (id INT PRIMARY KEY)", "CREATE DATABASE b", "CREATE TABLE b.t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	key := filepath.Join(dir, "hash.key")
	if err := os.WriteFile(key, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(filter string) string {
		t.Helper()
		cfg := writeConfig(t, dir, s, s.User, filter)
		r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
		if r.code != 0 {
			t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
		}
		return r.stderr
	}
	if log := run("filter: {include: ['a.*', 'typo.*']}\n"); !strings.Contains(log, "matches nothing") || !strings.Contains(log, "typo.*") {
		t.Errorf("no warning of the pattern that matches nothing:\n%s", log)
	}
	log := run("filter: {include: ['b.*'], columns: {hash: [b.t.id]}, hash_key_file: " + key + "}\n")
	if !strings.Contains(log, "filter changed") || !strings.Contains(log, "tables_added=[b.t]") || !strings.Contains(log, "tables_removed=[a.t]") {
		t.Errorf("the filter change is not logged with its tables:\n%s", log)
	}
	if strings.Contains(log, "k3y") {
		t.Errorf("the hash key is in the log:\n%s", log)
	}
	if log := run("filter: {include: ['b.*'], columns: {hash: [b.t.id]}, hash_key_file: " + key + "}\n"); strings.Contains(log, "filter changed") {
		t.Errorf("an unchanged filter is logged as changed:\n%s", log)
	}
}

// TestSnapshotOfExcludedTableRefused: `sluice snapshot` of a table the
// filter excludes exits 2 before writing a request.
func TestSnapshotOfExcludedTableRefused(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.audit (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, s, s.User, "filter: {exclude: [shop.audit]}\n")
	r := sluice(t, nil, "snapshot", "--no-wait", "--table", "shop.audit", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "the filter excludes it") {
		t.Fatalf("exit %d, want 2:\n%s", r.code, r.stderr)
	}
	assertNothingWritten(t, dir)
}

// TestFilterAppliesToReplay: `sluice replay` of a range applies the same
// filter as the live run, so it reproduces the live run's events exactly,
// the excluded table and column absent.
func TestFilterAppliesToReplay(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	dir := t.TempDir()
	s.Exec(t, "CREATE DATABASE rf", "CREATE TABLE rf.t (id INT PRIMARY KEY, secret VARCHAR(10), email VARCHAR(20))",
		"CREATE TABLE rf.audit (id INT PRIMARY KEY)")
	var file string
	var pos int64
	var a, b any
	if err := s.DB(t).QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "INSERT INTO rf.t VALUES (1, 's1', 'a@x'), (2, 's2', 'b@x')", "INSERT INTO rf.audit VALUES (1)", "UPDATE rf.t SET secret = 'z', email = 'c@x' WHERE id = 2")
	filter := "filter: {exclude: [rf.audit], columns: {exclude: [rf.t.secret], hash: [rf.t.email]}}\n"
	cfg := writeConfig(t, dir, s, s.User, filter)
	env := []string{"SLUICE_FILTER__HASH_KEY=replay-key"}
	if r := sluice(t, env, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	live := readLines(t, filepath.Join(dir, "out", "events.jsonl"))
	replayed := filepath.Join(dir, "replay.jsonl")
	b2, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := filepath.Join(dir, "replay.yaml")
	if err := os.WriteFile(rcfg, []byte(strings.Replace(string(b2), filepath.Join(dir, "out", "events.jsonl"), replayed, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sluice(t, env, "replay", "--config", rcfg, "--from", fmt.Sprintf("pos:%s:%d", file, pos)); r.code != 0 {
		t.Fatalf("replay: exit %d\n%s", r.code, r.stderr)
	}
	got := readLines(t, replayed)
	var rows int
	for _, l := range got {
		if strings.Contains(l, `"table":"audit"`) || strings.Contains(l, `"secret"`) || strings.Contains(l, "@x") {
			t.Errorf("replayed event with what the filter leaves out: %s", l)
		}
		if strings.Contains(l, `"table":"t"`) && strings.Contains(l, `"data"`) {
			rows++
		}
	}
	if rows != 3 {
		t.Errorf("replay: %d rows of rf.t, want 3:\n%s", rows, strings.Join(got, "\n"))
	}
	if strings.Join(got, "\n") != strings.Join(live[len(live)-len(got):], "\n") {
		t.Errorf("replay differs from the live run:\nlive:\n%s\nreplay:\n%s", strings.Join(live, "\n"), strings.Join(got, "\n"))
	}
}
