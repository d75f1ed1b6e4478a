package pipeline_test

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicecdc/sluice/pipeline"
)

// TestHeartbeats: on an idle source the running pipeline writes heartbeat
// rows, reads them back through the binlog as progress with a measured lag,
// and emits none of them (nor the heartbeat table's own DDL).
func TestHeartbeats(t *testing.T) {
	h := newHarness(t, srv)
	reg := prometheus.NewRegistry()
	h.cfg.Metrics = pipeline.NewMetrics(reg)
	h.cfg.HeartbeatTable = "sluice_hb.heartbeat"
	h.cfg.HeartbeatInterval = 100 * time.Millisecond
	var progress atomic.Int64
	h.cfg.OnProgress = func(time.Time) { progress.Add(1) }
	stop := h.background()
	deadline := time.Now().Add(20 * time.Second)
	for progress.Load() < 10 {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("only %d progress reports in 20 s of heartbeats", progress.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Exec(t, "DROP DATABASE IF EXISTS hb_user", "CREATE DATABASE hb_user", "CREATE TABLE hb_user.t (id INT PRIMARY KEY)", "INSERT INTO hb_user.t VALUES (1)")
	time.Sleep(500 * time.Millisecond)
	stop()
	for _, l := range h.lines() {
		if bytes.Contains(l, []byte("sluice_hb")) {
			t.Fatalf("a heartbeat reached the sink: %s", l)
		}
	}
	if !bytes.Contains(bytes.Join(h.lines(), nil), []byte(`"database":"hb_user","table":"t","type":"insert"`)) {
		t.Fatal("the user's insert was not emitted alongside heartbeats")
	}
	lag := testutil.ToFloat64(h.cfg.Metrics.LagGauge())
	if lag < 0 || lag > 10 {
		t.Fatalf("replication lag %v s on an idle local server", lag)
	}
}

// TestHeartbeatTableNotWritable: a heartbeat table that cannot be created
// or written at start is a warning: the pipeline streams on without
// heartbeats.
func TestHeartbeatTableNotWritable(t *testing.T) {
	h := newHarness(t, srv)
	h.cfg.HeartbeatTable = "information_schema.sluice_heartbeat" // no one may create tables there
	h.cfg.HeartbeatInterval = 100 * time.Millisecond
	stop := h.background() // fails the test if the pipeline stops by itself
	srv.Exec(t, "DROP DATABASE IF EXISTS hb_ro", "CREATE DATABASE hb_ro", "CREATE TABLE hb_ro.t (id INT PRIMARY KEY)", "INSERT INTO hb_ro.t VALUES (1)")
	deadline := time.Now().Add(20 * time.Second)
	for !bytes.Contains(bytes.Join(h.lines(), nil), []byte(`"database":"hb_ro","table":"t","type":"insert"`)) {
		if time.Now().After(deadline) {
			stop()
			t.Fatal("the insert was not streamed beside a heartbeat table that cannot be written")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
}
