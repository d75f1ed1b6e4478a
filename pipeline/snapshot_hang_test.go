package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/snapshot"
)

// TestSnapshotSignalNotLogged: on a server whose binlog leaves the signal
// table's database out (binlog_ignore_db), no watermark would ever come
// back; the snapshot stops at once naming the filter, instead of hanging.
func TestSnapshotSignalNotLogged(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{Args: []string{"--binlog-ignore-db=sig_ignored"}})
	h := newHarness(t, s)
	s.Exec(t, "CREATE DATABASE snap_nl", "CREATE TABLE snap_nl.t (id INT PRIMARY KEY)", "INSERT INTO snap_nl.t VALUES (1), (2)")
	h.cfg.Snapshot.SignalTable = "sig_ignored.signal"
	h.cfg.Snapshot.WindowTimeout = time.Minute
	h.queueSnapshot("snap_nl.t")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	err := h.pipeline(false).Run(ctx)
	if ctx.Err() != nil || !errors.Is(err, snapshot.ErrNotLogged) || !strings.Contains(err.Error(), "binlog_ignore_db \"sig_ignored\"") {
		t.Fatalf("run with a filtered signal database: %v, want ErrNotLogged naming binlog_ignore_db at once", err)
	}
}

// TestSnapshotChunkSizeBound: chunk_size has an upper bound.
func TestSnapshotChunkSizeBound(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.Snapshot.SignalTable = "sluice.signal"
	cfg.Snapshot.ChunkSize = pipeline.MaxChunkSize + 1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "chunk_size") {
		t.Fatalf("validate chunk_size %d: %v", cfg.Snapshot.ChunkSize, err)
	}
	cfg.Snapshot.ChunkSize = pipeline.MaxChunkSize
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
