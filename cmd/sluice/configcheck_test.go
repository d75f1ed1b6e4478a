package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// TestConfigCheck runs `sluice config check` against a live schema: the
// tables that stream with their masked columns, the ones left out, and a
// warning for a pattern that matches nothing; a filter that drops a key
// column exits 2; nothing is written either way.
func TestConfigCheck(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.users (id INT PRIMARY KEY, email VARCHAR(50), password_hash VARCHAR(64), name VARCHAR(20))",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, user_id INT, total DECIMAL(8,2))",
		"CREATE TABLE shop.audit_2024 (id INT PRIMARY KEY)",
		"CREATE DATABASE other", "CREATE TABLE other.t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, s, s.User, `filter:
  include: ["shop.*", "typo.*"]
  exclude: ["shop.audit_*"]
  columns: {exclude: ["shop.users.password_hash"], hash: ["shop.*.email"]}
`)
	r := sluice(t, []string{"SLUICE_FILTER__HASH_KEY=secret"}, "config", "check", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("config check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("config check:\n%s", r.stdout)
	for _, want := range []string{
		"2 tables stream",
		"shop.orders  -                -",
		"shop.users   password_hash    email",
		"left out: other.t, shop.audit_2024\n",
		"tables of the system databases (mysql, sys, performance_schema, information_schema)",
		"warning: filter.include typo.* matches nothing",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "secret") {
		t.Error("the output shows the hash key")
	}
	assertNothingWritten(t, dir)

	cfg = writeConfig(t, dir, s, s.User, "filter: {columns: {exclude: [shop.orders.id]}}\n")
	r = sluice(t, nil, "config", "check", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stdout, "error: shop.orders.id") || !strings.Contains(r.stderr, "hash it") {
		t.Fatalf("a dropped key column: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	cfg = writeConfig(t, dir, s, s.User, "filter: {include: ['shop.[']}\n")
	if r = sluice(t, nil, "config", "check", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "bad glob") {
		t.Fatalf("a bad glob: exit %d, want 2\n%s", r.code, r.stderr)
	}
	assertNothingWritten(t, dir)
}

// TestVersion: --version prints the module version and VCS revision the
// toolchain recorded in the binary.
func TestVersion(t *testing.T) {
	out, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatal(err)
	}
	var goVersion, modVersion, rev string
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case i == 0 && len(f) == 2:
			goVersion = f[1]
		case len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/sluicecdc/sluice":
			modVersion = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	want := "sluice " + modVersion
	if rev != "" {
		want += " " + rev
	}
	r := sluice(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, goVersion) || modVersion == "" {
		t.Fatalf("--version: exit %d, %q; want %q... with %s", r.code, r.stdout, want, goVersion)
	}
}
