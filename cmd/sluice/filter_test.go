package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/internal/mysqltest"
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
