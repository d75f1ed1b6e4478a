package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/schema"
)

// TestSnapshotWindowTimeout: a chunk whose watermarks never come back
// through the binlog (here: no encoder reads it) is given up after the
// window timeout with an error naming the likely causes.
func TestSnapshotWindowTimeout(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.Exec(t, "CREATE DATABASE win", "CREATE TABLE win.t (id INT PRIMARY KEY)", "INSERT INTO win.t VALUES (1)")
	cfg := DefaultConfig()
	cfg.Source.Host, cfg.Source.Port, cfg.Source.User, cfg.Source.Password = s.Host, uint16(s.Port), s.User, s.Password
	cfg.Snapshot.SignalTable = "sluice.signal"
	cfg.Snapshot.WindowTimeout = 300 * time.Millisecond
	p, err := New(cfg, checkpoint.NewMemoryStore(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps := newSnapshots(cfg.Snapshot, cfg.Name, &checkpoint.Snapshot{Queue: []string{"win.t"}}, schema.NewRegistry())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := p.snapshotConn(ctx, snaps)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, _, err = p.chunk(ctx, conn, snaps, snaps.current(), true, nil)
	if ctx.Err() != nil || !errors.Is(err, ErrWindowTimeout) || !strings.Contains(err.Error(), "binlog_ignore_db") {
		t.Fatalf("chunk whose watermarks never come back: %v, want ErrWindowTimeout naming the causes", err)
	}
	snaps.mu.Lock()
	defer snaps.mu.Unlock()
	if len(snaps.windows) != 0 {
		t.Fatalf("%d timed-out windows still open (the chunk's or the one read ahead): the encoder could still emit them", len(snaps.windows))
	}
}
