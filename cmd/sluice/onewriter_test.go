package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// TestOneWriter: a second `sluice run` on the config of a running one
// exits 2 naming the first one's pid; a replay into the live pipeline's
// file is refused (exit 2); files a crashed run left (spill files in
// spill_dir, temporary files in the checkpoint directory) are removed at
// start.
func TestOneWriter(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	dir := t.TempDir()
	spill := filepath.Join(dir, "spill")
	cfg := writeConfig(t, dir, s, s.User, "spill_dir: "+spill+"\n")
	if err := os.MkdirAll(spill, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "cp"), 0o755); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{filepath.Join(spill, "sluice-tx-123.spill"), filepath.Join(dir, "cp", ".clitest.checkpoint.json.456.sluice-tmp")}
	for _, f := range leftovers {
		if err := os.WriteFile(f, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	first := exec.Command(binary, "run", "--config", cfg)
	logPath := filepath.Join(dir, "first.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	first.Stdout, first.Stderr = log, log
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = first.Wait(); _ = log.Close(); close(done) }()
	t.Cleanup(func() { _ = first.Process.Kill(); <-done })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "msg=streaming") {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the first run did not start streaming:\n%s", b)
		}
	}
	for _, f := range leftovers {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left by a crash is still there: %v", f, err)
		}
	}

	r := sluice(t, nil, "run", "--config", cfg, "--exit-when-caught-up")
	if want := fmt.Sprintf("pid %d", first.Process.Pid); r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, filepath.Join(dir, "cp")) {
		t.Fatalf("second run on the same config: exit %d, want 2 naming the checkpoint dir and %q:\n%s", r.code, want, r.stderr)
	}
	r = sluice(t, nil, "replay", "--config", cfg, "--sinks", "file", "--from", "checkpoint")
	if r.code != 2 || !strings.Contains(r.stderr, "being written by another sluice") || !strings.Contains(r.stderr, "events.jsonl") {
		t.Fatalf("replay into the live file: exit %d, want 2 naming the file:\n%s", r.code, r.stderr)
	}
	select {
	case <-done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("the first run stopped:\n%s", b)
	default:
	}
}
