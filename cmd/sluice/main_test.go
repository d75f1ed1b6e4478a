package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sluice")
	args := []string{"build", "-o", binary}
	if buildTags != "" {
		args = append(args, "-tags", buildTags)
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// sluice runs the binary with args and extra environment.
func sluice(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// writeConfig writes a config for server s with data under dir.
func writeConfig(t *testing.T, dir string, s *mysqltest.Server, user, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`pipeline: clitest
start: earliest
source:
  host: %s
  port: %d
  user: %s
  password: ""
checkpoint:
  store: file
  dir: %s
sinks:
  - type: file
    path: %s
%s`, s.Host, s.Port, user, filepath.Join(dir, "cp"), filepath.Join(dir, "out", "events.jsonl"), extra)
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// assertNothingWritten checks that a failed run left no checkpoint and no events.
func assertNothingWritten(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{filepath.Join(dir, "cp", "clitest.checkpoint.json"), filepath.Join(dir, "out", "events.jsonl")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written by a run that failed", p)
		}
	}
}

func TestPreflightFailures(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		setup []string
		user  string
		want  []string
	}{
		{name: "binlog off", args: []string{"--skip-log-bin"}, want: []string{"preflight log_bin", "--log-bin"}},
		{name: "statement format", args: []string{"--binlog-format=STATEMENT"}, want: []string{"binlog_format is STATEMENT", "SET GLOBAL binlog_format=ROW"}},
		{name: "mixed format", args: []string{"--binlog-format=MIXED"}, want: []string{"binlog_format is MIXED", "SET GLOBAL binlog_format=ROW"}},
		{name: "minimal image", args: []string{"--binlog-row-image=MINIMAL"}, want: []string{"binlog_row_image is MINIMAL", "SET GLOBAL binlog_row_image=FULL"}},
		{name: "minimal metadata", args: []string{"--binlog-row-metadata=MINIMAL"}, want: []string{"binlog_row_metadata is MINIMAL", "SET GLOBAL binlog_row_metadata=FULL"}},
		{name: "no metadata", args: []string{"--binlog-row-metadata=NO_LOG"}, want: []string{"binlog_row_metadata is NO_LOG", "SET GLOBAL binlog_row_metadata=FULL"}},
		{
			name:  "no replication grants",
			setup: []string{"CREATE USER 'noslave'@'%' IDENTIFIED BY ''", "GRANT SELECT ON *.* TO 'noslave'@'%'"},
			user:  "noslave",
			want:  []string{"preflight grants", "lacks REPLICATION SLAVE and REPLICATION CLIENT", "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'noslave'"},
		},
		{
			name:  "replication slave only",
			setup: []string{"CREATE USER 'halfrepl'@'%' IDENTIFIED BY ''", "GRANT REPLICATION SLAVE ON *.* TO 'halfrepl'@'%'"},
			user:  "halfrepl",
			want:  []string{"preflight grants", "lacks REPLICATION CLIENT"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := mysqltest.StartT(t, mysqltest.Options{Args: c.args})
			s.RequireOwned(t)
			if len(c.setup) > 0 {
				s.Exec(t, c.setup...)
			}
			user := c.user
			if user == "" {
				user = s.User
			}
			dir := t.TempDir()
			r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", writeConfig(t, dir, s, user, ""))
			if r.code != 3 {
				t.Fatalf("exit code %d, want 3 (preflight); stderr:\n%s", r.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			assertNothingWritten(t, dir)
		})
	}
}

// TestPurgedCheckpoint: a checkpoint whose binlog the server has purged is
// refused, and the checkpoint is left as it was.
func TestPurgedCheckpoint(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, s, s.User, "")
	if r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	cpPath := filepath.Join(dir, "cp", "clitest.checkpoint.json")
	before, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "CREATE DATABASE p", "CREATE TABLE p.t (id INT PRIMARY KEY)", "INSERT INTO p.t VALUES (1)",
		"FLUSH BINARY LOGS", "FLUSH BINARY LOGS", "INSERT INTO p.t VALUES (2)")
	// MariaDB keeps a binlog until InnoDB's binlog checkpoint passes it
	// (at most a second with innodb_flush_log_at_trx_commit=2): retry.
	for deadline := time.Now().Add(20 * time.Second); ; {
		s.Exec(t, "PURGE BINARY LOGS TO 'mysql-bin.000003'")
		var name string
		var size int64
		if err := s.DB(t).QueryRow("SHOW BINARY LOGS").Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		if name == "mysql-bin.000003" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still has %s after PURGE", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
	if r.code != 3 {
		t.Fatalf("exit code %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
	for _, w := range []string{"preflight checkpoint", "no longer has binlog file mysql-bin.000001", "binlog retention"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	after, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("checkpoint changed by a refused run:\n%s\n->\n%s", before, after)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "events.jsonl")); bytes.Contains(b, []byte(`"database":"p"`)) {
		t.Errorf("events written by a refused run:\n%s", b)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		env  []string
		code int
		want []string
	}{
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "nope.yaml")}, code: 2, want: []string{"nope.yaml", "no such file"}},
		{name: "bad yaml", args: []string{"--config", write("bad.yaml", "source: [unclosed\n")}, code: 2, want: []string{"bad.yaml"}},
		{name: "unknown top key", args: []string{"--config", write("unknown.yaml", "sorce:\n  host: x\n")}, code: 2, want: []string{"invalid keys: sorce"}},
		{name: "unknown nested key", args: []string{"--config", write("nested.yaml", "source:\n  hots: x\n")}, code: 2, want: []string{"invalid keys: hots"}},
		{name: "unknown env key", args: []string{"--config", write("ok.yaml", "pipeline: x\n")}, env: []string{"SLUICE_SOURCE__PASWORD=x"}, code: 2, want: []string{"did you mean SLUICE_SOURCE__PASSWORD"}},
		{name: "bad start", args: []string{"--config", write("start.yaml", "start: middle\n")}, code: 2, want: []string{`start is "middle"`, "earliest or latest"}},
		{name: "bad sink", args: []string{"--config", write("sink.yaml", "sinks:\n  - type: pulsar\n")}, code: 2, want: []string{`sinks[0].type "pulsar"`}},
		{name: "kafka sink without brokers", args: []string{"--config", write("kafka.yaml", "sinks:\n  - type: kafka\n")}, code: 2, want: []string{"sinks[0] (kafka): brokers"}},
		{name: "kafka checkpoint without a kafka sink", args: []string{"--config", write("kafkacp.yaml", "checkpoint: {store: kafka}\n")}, code: 2, want: []string{"checkpoint.store: kafka", "exactly one sink, of type kafka"}},
		{name: "raft open on the network", args: []string{"--config", write("raft.yaml", "checkpoint: {store: dynamodb, table: t}\nha: {node_id: n1, bind: \"0.0.0.0:7946\", advertise: \"10.0.0.1:7946\", data_dir: /tmp/x}\n")}, code: 2, want: []string{"insecure: true", "tls"}},
		{name: "file sink without path", args: []string{"--config", write("nopath.yaml", "sinks:\n  - type: file\n")}, code: 2, want: []string{"sinks[0]: a file sink needs a path"}},
		{name: "bad port", args: []string{"--config", write("port.yaml", "source:\n  port: seventy\n")}, code: 2, want: []string{"port"}},
		{name: "bad resume", args: []string{"--config", write("resume.yaml", "source:\n  resume: sideways\n")}, code: 2, want: []string{`source.resume "sideways"`, "auto, position or gtid"}},
		{name: "bad tls mode", args: []string{"--config", write("tls.yaml", "source:\n  tls:\n    mode: on\n")}, code: 2, want: []string{"source.tls.mode", "verify_identity"}},
		{name: "password and file", args: []string{"--config", write("pwf.yaml", "source:\n  password: x\n  password_file: /run/pw\n")}, code: 2, want: []string{"password and source.password_file"}},
		{name: "bad auth", args: []string{"--config", write("auth.yaml", "source:\n  auth: kerberos\n")}, code: 2, want: []string{`source.auth "kerberos"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sluice(t, c.env, append([]string{"run"}, c.args...)...)
			if r.code != c.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", r.code, c.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestUnreachableSource fails fast, clearly, and writes nothing.
func TestUnreachableSource(t *testing.T) {
	dir := t.TempDir()
	s := &mysqltest.Server{Host: "127.0.0.1", Port: 1, User: "root"}
	r := sluice(t, nil, "run", "--config", writeConfig(t, dir, s, "root", ""))
	if r.code != 1 || !strings.Contains(r.stderr, "connect to source 127.0.0.1:1 as root") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	assertNothingWritten(t, dir)
}

// TestRunAndShow streams a database through the binary with
// --exit-when-caught-up, then shows the checkpoint; a second run resumes
// and emits only what is new. Environment variables override the file.
func TestRunAndShow(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(8,2))",
		"INSERT INTO shop.orders VALUES (1, 9.99), (2, 20.00)")
	dir := t.TempDir()
	// The file names a wrong port; the environment fixes it.
	cfg := writeConfig(t, dir, &mysqltest.Server{Host: s.Host, Port: 1}, s.User, "")
	env := []string{fmt.Sprintf("SLUICE_SOURCE__PORT=%d", s.Port)}
	if r := sluice(t, env, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	s.Exec(t, "UPDATE shop.orders SET total = 10.99 WHERE id = 1")
	if r := sluice(t, env, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev struct {
			Database, Type string
			Data           map[string]any
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Database == "shop" {
			got = append(got, fmt.Sprintf("%s %v %v", ev.Type, ev.Data["id"], ev.Data["total"]))
		}
	}
	want := []string{"database-create <nil> <nil>", "table-create <nil> <nil>", "insert 1 9.99", "insert 2 20", "update 1 10.99"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
	r := sluice(t, env, "checkpoint", "show", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("checkpoint show: exit %d\n%s", r.code, r.stderr)
	}
	var file string
	var pos int64
	var a, b2 any
	if err := s.DB(t).QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b2); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("position:  %s:%d", file, pos); !strings.Contains(r.stdout, want) {
		t.Fatalf("checkpoint show prints:\n%s\nwant a line %q", r.stdout, want)
	}
}

// TestSchemaShow: the registry the run writes lists each version of a
// table with its columns; --at picks the version valid at a position.
func TestSchemaShow(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, s, s.User, "")
	s.Exec(t, "CREATE DATABASE inv", "CREATE TABLE inv.items (id INT UNSIGNED PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2))",
		"INSERT INTO inv.items VALUES (1, 'bolt', 0.10)")
	var file string
	var pos int64
	var a, b any
	if err := s.DB(t).QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "ALTER TABLE inv.items ADD COLUMN tags JSON AFTER id, DROP COLUMN price", `INSERT INTO inv.items VALUES (2, '["x"]', 'nut')`)
	if r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	r := sluice(t, nil, "schema", "show", "--config", cfg, "--table", "inv.items")
	if r.code != 0 {
		t.Fatalf("schema show: exit %d\n%s", r.code, r.stderr)
	}
	out := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{
		"inv.items version 1 from", "(table-create)", "id int unsigned primary key not null name varchar utf8mb4 price decimal(8,2) inv.items version 2",
		"(table-alter) sql: ALTER TABLE inv.items ADD COLUMN tags JSON AFTER id, DROP COLUMN price id int unsigned primary key not null tags json name varchar utf8mb4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("schema show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = sluice(t, nil, "schema", "show", "--config", cfg, "--table", "inv.items", "--at", fmt.Sprintf("%s:%d", file, pos))
	if r.code != 0 || !strings.Contains(r.stdout, "version 1") || strings.Contains(r.stdout, "version 2") || !strings.Contains(r.stdout, "price") {
		t.Fatalf("schema show --at %s:%d: exit %d\n%s%s", file, pos, r.code, r.stdout, r.stderr)
	}
	if r := sluice(t, nil, "schema", "show", "--config", cfg, "--table", "inv.nope"); r.code == 0 || !strings.Contains(r.stderr, "inv.nope is not in the schema registry") {
		t.Fatalf("unknown table: exit %d\n%s", r.code, r.stderr)
	}
}
