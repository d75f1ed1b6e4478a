package pipeline_test

import (
	"fmt"
	"testing"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestDebeziumSnapshotLast: snapshot rows in the Debezium format are "r"
// events with source.snapshot "true", but the snapshot's very last row (the
// last of the last table queued), which is "last"; binlog rows say "false".
func TestDebeziumSnapshotLast(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS dbzsnap", "CREATE DATABASE dbzsnap",
		"CREATE TABLE dbzsnap.a (id INT PRIMARY KEY)", "INSERT INTO dbzsnap.a VALUES (1), (2), (3)",
		"CREATE TABLE dbzsnap.b (id INT PRIMARY KEY)", "INSERT INTO dbzsnap.b VALUES (1), (2), (3), (4), (5)")
	h := newHarness(t, srv)
	h.cfg.Format = pipeline.FormatDebezium
	h.cfg.Debezium = event.DefaultDebeziumOptions()
	h.cfg.Snapshot.SignalTable = "sluice.signal"
	h.cfg.Snapshot.ChunkSize = 2
	h.queueSnapshot("dbzsnap.a", "dbzsnap.b")
	srv.Exec(t, "INSERT INTO dbzsnap.a VALUES (10)")
	h.catchUp()
	var reads []string // table+id:snapshot of each "r" event, in order
	live := 0
	for _, ev := range h.events() {
		src, _ := ev["source"].(map[string]any)
		if src == nil || src["db"] != "dbzsnap" || ev["op"] == nil {
			continue
		}
		if ev["op"] != "r" {
			if live++; src["snapshot"] != "false" {
				t.Errorf("binlog event with source.snapshot %v: %v", src["snapshot"], ev)
			}
			continue
		}
		reads = append(reads, fmt.Sprintf("%v%v:%v", src["table"], ev["after"].(map[string]any)["id"], src["snapshot"]))
	}
	// a's rows (3, or 4 when the snapshot read id 10 too), then b's 5.
	if live != 1 || len(reads) < 8 {
		t.Fatalf("%d binlog events, snapshot rows %v", live, reads)
	}
	for i, r := range reads {
		want := "true"
		if i == len(reads)-1 {
			want = "last"
			if r != "b5:last" {
				t.Errorf("the snapshot's last row is %s, want b5:last", r)
			}
		}
		if r[len(r)-4:] != want {
			t.Errorf("snapshot row %d %s: want source.snapshot %s (all: %v)", i, r, want, reads)
		}
	}
}
