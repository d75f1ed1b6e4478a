package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
)

// storedCheckpoint loads the checkpoint as the daemon does, position included.
func (r *snapRig) storedCheckpoint() *checkpoint.Checkpoint {
	r.t.Helper()
	fs, err := checkpoint.NewFileStore(filepath.Join(r.dir, "cp"), "snap")
	if err != nil {
		r.t.Fatal(err)
	}
	cp, err := fs.Load(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return cp
}

// bootstrapCount counts the bootstrap-insert events in the events file.
func (r *snapRig) bootstrapCount() int {
	r.t.Helper()
	b, err := os.ReadFile(r.events())
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.Count(string(b), `"type":"bootstrap-insert"`)
}

// purgeAllBut purges every binlog before the server's current one.
func (r *snapRig) purgeAllBut() string {
	r.t.Helper()
	db := r.src.DB(r.t)
	r.src.Exec(r.t, "FLUSH BINARY LOGS", "FLUSH BINARY LOGS")
	rows, err := db.Query("SHOW MASTER STATUS")
	if err != nil {
		r.t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		r.t.Fatal("SHOW MASTER STATUS: no row")
	}
	if err := rows.Scan(ptrs...); err != nil {
		r.t.Fatal(err)
	}
	_ = rows.Close()
	cur := string(vals[0].([]byte))
	// MariaDB keeps a binlog until InnoDB's binlog checkpoint passes it: retry.
	for deadline := time.Now().Add(20 * time.Second); ; {
		r.src.Exec(r.t, "PURGE BINARY LOGS TO '"+cur+"'")
		var name string
		var size int64
		if err := db.QueryRow("SHOW BINARY LOGS").Scan(&name, &size); err != nil {
			r.t.Fatal(err)
		}
		if name == cur {
			return cur
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("server still has %s after PURGE BINARY LOGS TO '%s'", name, cur)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSnapshotWhenNeeded: with snapshot.mode when_needed a pipeline whose
// checkpoint's binlog was purged while it was stopped snapshots its tables
// again from the server's head instead of refusing to start, and the events
// then leave exactly the table, changes made while the binlog was lost
// included.
func TestSnapshotWhenNeeded(t *testing.T) {
	r := newSnapRig(t, 60, "snapshot: {mode: when_needed, tables: [snap.big], chunk_size: 25}")
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	if n := r.bootstrapCount(); n != 60 {
		t.Fatalf("first run: %d bootstrap-insert events, want 60", n)
	}
	before := r.storedCheckpoint()
	// Changes while the pipeline is stopped, whose binlog is then purged.
	// Events of the second run only, from here: a re-snapshot emits the
	// rows there are, not the deletes it never saw (Debezium's neither).
	if err := os.Remove(r.events()); err != nil {
		t.Fatal(err)
	}
	r.src.Exec(t, "UPDATE snap.big SET v = 7 WHERE id <= 10", "DELETE FROM snap.big WHERE id = 60",
		"INSERT INTO snap.big VALUES (61, 1, 'new')")
	head := r.purgeAllBut()
	if before.Position.File == "" || before.Position.File >= head {
		t.Fatalf("checkpoint %v is not behind the purge to %s", before, head)
	}
	res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg)
	if res.code != 0 {
		t.Fatalf("run after the purge: exit %d, want 0 (when_needed)\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "snapshotting again") {
		t.Errorf("the run does not say it snapshots again:\n%s", res.stderr)
	}
	if n := r.bootstrapCount(); n != 60 {
		t.Errorf("%d bootstrap-insert events, want the table's 60 rows", n)
	}
	if cp := r.storedCheckpoint(); cp.Position.File < head || cp.Snapshot != nil && len(cp.Snapshot.Queue) != 0 {
		t.Errorf("checkpoint after the re-snapshot: %+v, want one in %s or later with the snapshot done", cp, head)
	}
	r.checkEventsMatchSource(r.src.DB(t))

	// The same purge with snapshot.mode initial is refused (exit 3).
	r2 := newSnapRig(t, 5, "snapshot: {mode: initial, tables: [snap.big]}")
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r2.cfg); res.code != 0 {
		t.Fatalf("initial: first run: exit %d\n%s", res.code, res.stderr)
	}
	r2.src.Exec(t, "INSERT INTO snap.big VALUES (100, 1, 'x')")
	r2.purgeAllBut()
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r2.cfg); res.code != 3 || !strings.Contains(res.stderr, "no longer has binlog file") {
		t.Errorf("initial after a purge: exit %d, want 3 with the purge named\n%s", res.code, res.stderr)
	}
}

// TestSnapshotWhenNeededGTIDResume: a checkpoint resumed by GTID
// (source.resume: gtid) gets the purged-binlog check too: the server's
// purged GTIDs (MariaDB: the GTID state at its oldest binlog) hold
// transactions past the checkpoint's executed set, so with
// snapshot.mode when_needed the tables are snapshotted again from the
// head, and with initial the start is refused naming the fix (exit 3).
func TestSnapshotWhenNeededGTIDResume(t *testing.T) {
	byGTID := func(r *snapRig) {
		b, err := os.ReadFile(r.cfg)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "read_timeout: 3s}", "read_timeout: 3s, resume: gtid}", 1))
		if err := os.WriteFile(r.cfg, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := newSnapRig(t, 30, "snapshot: {mode: when_needed, tables: [snap.big], chunk_size: 25}")
	byGTID(r)
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	before := r.storedCheckpoint()
	if before.GTIDSet == "" {
		t.Fatalf("checkpoint %+v holds no GTID set to resume by", before)
	}
	if err := os.Remove(r.events()); err != nil {
		t.Fatal(err)
	}
	r.src.Exec(t, "UPDATE snap.big SET v = 7 WHERE id <= 10", "DELETE FROM snap.big WHERE id = 30",
		"INSERT INTO snap.big VALUES (31, 1, 'new')")
	head := r.purgeAllBut()
	res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg)
	if res.code != 0 {
		t.Fatalf("run after the purge: exit %d, want 0 (when_needed)\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "snapshotting again") {
		t.Errorf("the run does not say it snapshots again:\n%s", res.stderr)
	}
	if n := r.bootstrapCount(); n != 30 {
		t.Errorf("%d bootstrap-insert events, want the table's 30 rows", n)
	}
	if cp := r.storedCheckpoint(); cp.Position.File < head || cp.GTIDSet == before.GTIDSet {
		t.Errorf("checkpoint after the re-snapshot: %+v, want one in %s or later, past gtid %s", cp, head, before.GTIDSet)
	}
	r.checkEventsMatchSource(r.src.DB(t))

	// Resuming by GTID with nothing purged past the set still works.
	r.src.Exec(t, "INSERT INTO snap.big VALUES (32, 1, 'after')")
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 || strings.Contains(res.stderr, "snapshotting again") {
		t.Fatalf("run by GTID with nothing purged: exit %d\n%s", res.code, res.stderr)
	}
	r.checkEventsMatchSource(r.src.DB(t))

	// The same purge with snapshot.mode initial is refused (exit 3).
	r2 := newSnapRig(t, 5, "snapshot: {mode: initial, tables: [snap.big]}")
	byGTID(r2)
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r2.cfg); res.code != 0 {
		t.Fatalf("initial: first run: exit %d\n%s", res.code, res.stderr)
	}
	r2.src.Exec(t, "INSERT INTO snap.big VALUES (100, 1, 'x')")
	r2.purgeAllBut()
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r2.cfg); res.code != 3 || !strings.Contains(res.stderr, "has purged binlogs holding transactions it has not executed") {
		t.Errorf("initial after a purge, by GTID: exit %d, want 3 with the purge named\n%s", res.code, res.stderr)
	}
}

// TestSnapshotInitialOnly: snapshot.mode initial_only takes the initial
// snapshot and stops by itself once it is done and delivered.
func TestSnapshotInitialOnly(t *testing.T) {
	r := newSnapRig(t, 40, "snapshot: {mode: initial_only, tables: [snap.big], chunk_size: 15}")
	res := sluice(t, nil, "run", "--config", r.cfg)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if n := r.bootstrapCount(); n != 40 {
		t.Errorf("%d bootstrap-insert events, want 40", n)
	}
	if cp := r.storedCheckpoint(); cp.Snapshot != nil && len(cp.Snapshot.Queue) != 0 {
		t.Errorf("checkpoint %+v: want the snapshot done", cp)
	}
}
