package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStatusCommand: `sluice status` against a running node (its HTTP
// API) prints the pipeline line with the checkpoint's position and a line
// for the sink, and exits 0; with the node stopped and no http.listen it
// reads the checkpoint store: healthy (exit 0) while the checkpoint is at
// the source's head, unhealthy (exit 1, lag past --max-lag) once the
// source has moved on without it.
func TestStatusCommand(t *testing.T) {
	r := newObservedRig(t, "")
	r.start()
	r.src.Exec(t, "INSERT INTO shop.orders VALUES (1, 10), (2, 20)", "INSERT INTO shop.items VALUES (1, 'pen')")

	// orders standalone <claim epoch> <term> <position> <gtid> <lag> <age> <events/s> <snapshot>
	pipe := regexp.MustCompile(`(?m)^orders\s+standalone\s+0\s+-\s+(\S+:\d+)\s+\S+\s+\S+\s+\S+\s+(\d+\.\d)\s+-$`)
	var res result
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Events delivered show in events/s once the page has sampled.
		res = sluice(t, nil, "status", "--config", r.cfg)
		if m := pipe.FindStringSubmatch(res.stdout); res.code == 0 && m != nil && m[2] != "0.0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: exit %d, no pipeline line with events/s above 0:\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("sluice status:\n%s", res.stdout)
	if !strings.HasPrefix(res.stdout, "PIPELINE  ROLE") {
		t.Fatalf("no header:\n%s", res.stdout)
	}
	if !regexp.MustCompile(`(?m)^FileSink\s+ok\s+-\s+0\s+-$`).MatchString(res.stdout) || !strings.Contains(res.stdout, "\nhealthy") {
		t.Fatalf("no healthy FileSink line:\n%s", res.stdout)
	}

	// --watch redraws every second until interrupted, then exits 0.
	watch := exec.Command(binary, "status", "--watch", "--config", r.cfg)
	var out bytes.Buffer
	watch.Stdout, watch.Stderr = &out, &out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	_ = watch.Process.Signal(os.Interrupt)
	if err := watch.Wait(); err != nil {
		t.Fatalf("status --watch: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n < 2 || strings.Count(out.String(), "FileSink") != n {
		t.Fatalf("status --watch drew %d screens in 2.5s:\n%q", n, out.String())
	}

	// The node stops; the status comes from the checkpoint store now.
	r.stop()
	cfg, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	noHTTP := filepath.Join(r.dir, "nohttp.yaml")
	if err := os.WriteFile(noHTTP, []byte(strings.Replace(string(cfg), fmt.Sprintf(`http: {listen: "%s", status_sample: 200ms}`, r.http), "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	res = sluice(t, nil, "status", "--config", noHTTP, "--max-lag", "1s")
	if res.code != 0 || !strings.Contains(res.stdout, "\nhealthy") {
		t.Fatalf("status from the store after a clean stop: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	stored := regexp.MustCompile(`(?m)^orders\s+standalone\s+0\s+-\s+(\S+:\d+)`).FindStringSubmatch(res.stdout)
	if stored == nil {
		t.Fatalf("no pipeline line:\n%s", res.stdout)
	}
	// Behind: the source commits, nothing reads it.
	r.src.Exec(t, "INSERT INTO shop.orders VALUES (3, 30)")
	time.Sleep(1500 * time.Millisecond)
	res = sluice(t, nil, "status", "--config", noHTTP, "--max-lag", "1s")
	if res.code != 1 || !strings.Contains(res.stdout, "UNHEALTHY: lag") || !strings.Contains(res.stderr, "unhealthy: lag") {
		t.Fatalf("status with the source ahead: exit %d, want 1 and a lag past 1s\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestStatusBadInput: a status_sample too small for an hour's ring and a
// zero threshold are refused as configuration errors (exit 2), naming the
// fix.
func TestStatusBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	body := `source: {host: 127.0.0.1, port: 1}
checkpoint: {dir: %s}
http: {listen: "127.0.0.1:1", status_sample: %s}
sinks: [{type: stdout}]
`
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(body, dir, "1ms")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sluice(t, nil, "status", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "http.status_sample 1ms: want 100ms or more") {
		t.Fatalf("status_sample 1ms: exit %d\n%s", r.code, r.stderr)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(body, dir, "1s")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sluice(t, nil, "status", "--config", cfg, "--max-lag", "0s"); r.code != 2 || !strings.Contains(r.stderr, "--max-lag and --max-checkpoint-age must be more than 0") {
		t.Fatalf("--max-lag 0s: exit %d\n%s", r.code, r.stderr)
	}
	// Nothing listens there: a runtime failure (exit 1) that says what to check.
	if r := sluice(t, nil, "status", "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, "is `sluice run` up with this config?") {
		t.Fatalf("no node: exit %d\n%s", r.code, r.stderr)
	}
}
