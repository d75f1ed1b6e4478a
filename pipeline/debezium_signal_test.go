package pipeline_test

import (
	"context"
	"testing"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/snapshot"
)

// TestDebeziumExecuteSnapshotSignal: Debezium's execute-snapshot signal,
// inserted into the signal table with the statement of Debezium's runbooks,
// snapshots the tables it names; a blocking snapshot, which sluice does not
// take, is ignored.
func TestDebeziumExecuteSnapshotSignal(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS dbzsig", "CREATE DATABASE dbzsig",
		"CREATE TABLE dbzsig.t (id INT PRIMARY KEY, v INT)", "INSERT INTO dbzsig.t VALUES (1, 10), (2, 20), (3, 30)",
		"CREATE TABLE dbzsig.u (id INT PRIMARY KEY)", "INSERT INTO dbzsig.u VALUES (1)")
	h := newHarness(t, srv)
	h.cfg.Snapshot.SignalTable = "dbzsig.debezium_signal"
	sig, err := snapshot.ParseSignalTable(h.cfg.Snapshot.SignalTable)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := binlog.Connect(context.Background(), &h.cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := sig.Ensure(conn); err != nil {
		t.Fatal(err)
	}
	srv.Exec(t,
		`INSERT INTO dbzsig.debezium_signal (id, type, data) VALUES ('ad-hoc-1', 'execute-snapshot', '{"data-collections": ["dbzsig.t"], "type": "incremental"}')`,
		`INSERT INTO dbzsig.debezium_signal (id, type, data) VALUES ('ad-hoc-2', 'execute-snapshot', '{"data-collections": ["dbzsig.u"], "type": "blocking"}')`)
	h.catchUp()
	got := map[string]int{}
	for _, ev := range readRowEvents(t, h) {
		if ev.Database == "dbzsig" {
			if ev.Type != "bootstrap-insert" {
				t.Errorf("unexpected event %+v", ev)
			}
			got[ev.Table]++
		}
	}
	if got["t"] != 3 || got["u"] != 0 || len(got) != 1 {
		t.Errorf("bootstrap-insert events per table %v, want t: 3 (u's blocking snapshot ignored)", got)
	}
	if cp := h.checkpoint(); !cp.Snapshot.Idle() || len(cp.Snapshot.Done) != 1 {
		t.Errorf("snapshot state %+v, want dbzsig.t done", cp.Snapshot)
	}
}
