package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// observedRig is `sluice run` against a throwaway MariaDB with the HTTP
// listener and heartbeat rows on: what an operator's tools look at.
type observedRig struct {
	t    *testing.T
	src  *mysqltest.Server
	dir  string
	cfg  string
	http string // host:port of the sluice HTTP listener
	cmd  *exec.Cmd
	done chan struct{}
}

func newObservedRig(t *testing.T, extraYAML string) *observedRig {
	t.Helper()
	r := &observedRig{t: t, src: mysqltest.StartT(t, mysqltest.Options{}), dir: t.TempDir(), http: testport.Loopback(t, 1)[0]}
	r.src.RequireOwned(t)
	r.src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT)",
		"CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
	r.cfg = filepath.Join(r.dir, "sluice.yaml")
	cfg := fmt.Sprintf(`pipeline: orders
start: latest
source: {host: %s, port: %d, user: root, heartbeat: 250ms, read_timeout: 3s}
checkpoint: {store: file, dir: %s, interval: 200ms}
heartbeat: {table: sluice_hb.heartbeat, interval: 500ms}
http: {listen: "%s", status_sample: 200ms}
sinks:
  - {type: file, path: %s}
%s`, r.src.Host, r.src.Port, filepath.Join(r.dir, "cp"), r.http, filepath.Join(r.dir, "out", "events.jsonl"), extraYAML)
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs the daemon and waits until it serves /metrics with a
// heartbeat row seen.
func (r *observedRig) start() {
	r.t.Helper()
	r.cmd = exec.Command(binary, "run", "--config", r.cfg)
	log, err := os.OpenFile(filepath.Join(r.dir, "sluice.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); _ = log.Close(); close(r.done) }()
	r.t.Cleanup(r.stop)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(r.get("/metrics"), "sluice_heartbeat_interval_seconds") {
		if time.Now().After(deadline) {
			r.t.Fatalf("sluice serves no heartbeat metrics after 60s; log:\n%s", r.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *observedRig) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func (r *observedRig) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "sluice.log"))
	return string(b)
}

// get fetches a path from the sluice HTTP listener ("" when unreachable).
func (r *observedRig) get(path string) string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + r.http + path)
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
