package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// writeSourceConfig writes a config whose source section is source (YAML
// lines indented by four spaces, after host and port) and extra top-level
// YAML.
func writeSourceConfig(t *testing.T, dir string, s *mysqltest.Server, source, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`pipeline: clitest
start: earliest
log:
  level: debug
source:
    host: %s
    port: %d
%s
checkpoint:
  store: file
  dir: %s
sinks:
  - type: file
    path: %s
%s`, s.Host, s.Port, source, filepath.Join(dir, "cp"), filepath.Join(dir, "out", "events.jsonl"), extra)
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLSPreflightExitCodes: through the binary, a certificate that does
// not name the host fails preflight (exit 3) naming the mode, and auth:
// iam without TLS is a config error (exit 2); neither writes anything.
func TestTLSPreflightExitCodes(t *testing.T) {
	certs, err := mysqltest.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := mysqltest.StartT(t, mysqltest.Options{TLS: certs})
	s.RequireOwned(t)

	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, s, fmt.Sprintf(`    user: root
    tls:
      mode: verify_identity
      ca_file: %s
      server_name: db.example.com`, certs.CA), "")
	r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
	if r.code != 3 || !strings.Contains(r.stderr, "source.tls.mode verify_identity") || !strings.Contains(r.stderr, "server_name") {
		t.Fatalf("wrong server name: exit %d, want 3 naming the mode and server_name\n%s", r.code, r.stderr)
	}
	assertNothingWritten(t, dir)

	dir = t.TempDir()
	cfg = writeSourceConfig(t, dir, s, `    user: root
    auth: iam
    tls:
      mode: preferred`, "")
	r = sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "source.auth: iam") || !strings.Contains(r.stderr, "needs TLS") {
		t.Fatalf("iam without TLS: exit %d, want 2\n%s", r.code, r.stderr)
	}
	assertNothingWritten(t, dir)

	dir = t.TempDir()
	cfg = writeSourceConfig(t, dir, s, fmt.Sprintf(`    user: root
    tls:
      mode: verify_identity
      ca_file: %s`, certs.CA), "")
	if r := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg); r.code != 0 {
		t.Fatalf("verify_identity with the CA: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSecretsNeverShown runs sluice with a password from a file, a wrong
// password, and IAM tokens made from static test credentials, and greps
// every output (logs at debug level, errors, checkpoint show, /metrics)
// for the passwords, the secret key and any token.
func TestSecretsNeverShown(t *testing.T) {
	const (
		password  = "Pw-9f3c1e7a-rotates"
		wrong     = "Pw-wrong-5b2d8c"
		secretKey = "SecretKey-0a8e4f2b9c1d7e6f5a4b3c2d1e0f"
		accessKey = "AKIASLUICETEST000001"
	)
	certs, err := mysqltest.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := mysqltest.StartT(t, mysqltest.Options{TLS: certs})
	s.RequireOwned(t)
	s.Exec(t,
		"CREATE USER sluicer@'%' IDENTIFIED BY '"+password+"'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO sluicer@'%'",
		"GRANT CREATE, INSERT, UPDATE, DELETE ON secretdb.* TO sluicer@'%'",
		"GRANT CREATE, INSERT, UPDATE, DELETE, SELECT ON sluice.* TO sluicer@'%'",
		"CREATE DATABASE secretdb", "CREATE TABLE secretdb.t (id INT PRIMARY KEY)",
		"INSERT INTO secretdb.t VALUES (1)")
	var outputs []string
	tlsYAML := fmt.Sprintf(`    tls:
      mode: verify_identity
      ca_file: %s`, certs.CA)

	// A run with the right password from a file, in the background with
	// its metrics scraped; then checkpoint show.
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := testport.Loopback(t, 1)[0]
	cfg := writeSourceConfig(t, dir, s, "    user: sluicer\n    password_file: "+pwFile+"\n"+tlsYAML,
		"http:\n  listen: \""+listen+"\"\nheartbeat:\n  table: secretdb.hb\nsnapshot:\n  mode: initial\n  tables: [secretdb.t]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", "--config", cfg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	metrics := ""
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(metrics, "sluice_checkpoint"); {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no checkpoint metrics from %s within 30s; stderr:\n%s", listen, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
		if resp, err := http.Get("http://" + listen + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(b)
		}
	}
	s.Exec(t, "INSERT INTO secretdb.t VALUES (2)")
	time.Sleep(2 * time.Second) // a heartbeat or two, a checkpoint save
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	events, err := os.ReadFile(filepath.Join(dir, "out", "events.jsonl"))
	if err != nil || !bytes.Contains(events, []byte(`"database":"secretdb","table":"t","type":"insert"`)) {
		t.Fatalf("the run over TLS with password_file delivered no rows (%v):\n%s", err, stderr.String())
	}
	// The server refuses plaintext: the snapshot reader and the heartbeat
	// writer connected over TLS too.
	if !bytes.Contains(events, []byte(`"database":"secretdb","table":"t","type":"bootstrap-insert"`)) {
		t.Fatalf("no snapshot rows: the snapshot reader did not connect\n%s", stderr.String())
	}
	var beats int
	if err := s.DB(t).QueryRow("SELECT COUNT(*) FROM secretdb.hb WHERE pipeline = 'clitest'").Scan(&beats); err != nil || beats != 1 {
		t.Fatalf("heartbeat row: %d, %v: the heartbeat writer did not connect\n%s", beats, err, stderr.String())
	}
	outputs = append(outputs, metrics, stdout.String(), stderr.String(), string(events))
	r := sluice(t, nil, "checkpoint", "show", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("checkpoint show: exit %d\n%s", r.code, r.stderr)
	}
	outputs = append(outputs, r.stdout, r.stderr)
	cp, err := os.ReadFile(filepath.Join(dir, "cp", "clitest.checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(cp))

	// A wrong password, in the file and in the environment.
	if err := os.WriteFile(pwFile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	r = sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
	if r.code == 0 || !strings.Contains(r.stderr, "Access denied") {
		t.Fatalf("wrong password_file: exit %d, want access denied\n%s", r.code, r.stderr)
	}
	outputs = append(outputs, r.stdout, r.stderr)
	dir2 := t.TempDir()
	cfg2 := writeSourceConfig(t, dir2, s, "    user: sluicer\n"+tlsYAML, "")
	r = sluice(t, []string{"SLUICE_SOURCE__PASSWORD=" + wrong}, "run", "--exit-when-caught-up", "--config", cfg2)
	if r.code == 0 {
		t.Fatalf("wrong password: exit 0\n%s", r.stderr)
	}
	outputs = append(outputs, r.stdout, r.stderr)

	// IAM: the token (made from static test credentials) is refused by
	// MariaDB, which knows no IAM; the failure must not show it.
	dir3 := t.TempDir()
	cfg3 := writeSourceConfig(t, dir3, s, "    user: sluicer\n    auth: iam\n"+tlsYAML, "aws:\n  region: eu-west-1\n")
	r = sluice(t, []string{"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_SESSION_TOKEN=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"},
		"run", "--exit-when-caught-up", "--config", cfg3)
	if r.code == 0 || !strings.Contains(r.stderr, "Access denied") {
		t.Fatalf("iam against MariaDB: exit %d, want access denied\n%s", r.code, r.stderr)
	}
	outputs = append(outputs, r.stdout, r.stderr)

	for i, out := range outputs {
		for _, secret := range []string{password, wrong, secretKey, "X-Amz-Signature", "Action=connect", "X-Amz-Credential"} {
			if strings.Contains(out, secret) {
				t.Errorf("output %d shows %q:\n%s", i, secret, out)
			}
		}
	}
}
