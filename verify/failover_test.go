package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/event/position"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/verify"
)

// TestVerifyAfterFailover streams a primary into the lake, kills it once
// its replica (log_slave_updates, replicating by GTID) has caught up,
// promotes the replica and changes the same rows there; the pipeline
// resumes on the replica by GTID (source.hosts), and the compacted table
// verifies equal to the promoted replica.
func TestVerifyAfterFailover(t *testing.T) {
	primary := mysqltest.StartT(t, mysqltest.Options{})
	primary.RequireOwned(t)
	replica := mysqltest.StartReplicaT(t, primary)
	primary.Exec(t, "CREATE DATABASE fo", "CREATE TABLE fo.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40))")
	waitReplica := func() { t.Helper(); replica.WaitReplica(t, primary) }
	waitReplica()

	lake := laketest.New(t, primary, env)
	lake.Source().Hosts = []string{primary.Addr(), replica.Addr()}
	var cp checkpoint.Checkpoint
	cp.Position = lake.Checkpoint()
	if err := primary.DB(t).QueryRow("SELECT @@server_id, @@gtid_binlog_pos").Scan(&cp.ServerID, &cp.GTIDSet); err != nil {
		t.Fatal(err)
	}
	lake.SaveCheckpoint(&cp)

	primary.Exec(t, "USE fo", "INSERT INTO fo.items SELECT seq, seq, 'primary' FROM seq_1_to_300",
		"UPDATE fo.items SET v = v * 2 WHERE id % 3 = 0", "DELETE FROM fo.items WHERE id % 7 = 0")
	lake.CatchUp()
	primary.Exec(t, "UPDATE fo.items SET note = 'after the catch-up' WHERE id % 5 = 0") // read from the replica
	waitReplica()
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	replica.Exec(t, "STOP SLAVE", "RESET SLAVE ALL", "USE fo",
		"UPDATE fo.items SET v = v + 1000, note = 'promoted' WHERE id % 4 = 0",
		"DELETE FROM fo.items WHERE id % 11 = 0",
		"INSERT INTO fo.items SELECT seq, seq, 'new primary' FROM seq_301_to_350")
	lake.CatchUp()
	r := &rig{t: t, lake: lake, dir: t.TempDir()}
	if rep := r.compact(); rep == nil {
		t.Fatal("no compaction report")
	}
	var rep *verify.Report
	cfg := verify.DefaultConfig()
	// As `sluice verify` connects: the first of source.hosts that
	// answers (the dead primary is first), TLS and credentials as the
	// pipeline's.
	dc, err := lake.Source().DriverConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dc.Addr != replica.Addr() {
		t.Fatalf("verify connects to %s, want the promoted replica %s", dc.Addr, replica.Addr())
	}
	cfg.Source = dc
	cfg.Catalog = r.catalog()
	cfg.Tables = []string{"fo.items"}
	cfg.Logger = laketest.Logger(t)
	rep, err = verify.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if tr := status(t, rep, "fo.items"); tr.Status != verify.StatusOK {
		t.Fatalf("verify against the promoted replica: %+v", tr)
	}
}

// TestVerifyAfterFailoverToFreshBinlog: the promoted replica's binlog
// positions sort before the primary's (the primary rotated its binlog
// four times, the replica never did: mysql-bin.000001 against
// mysql-bin.000005), so only the source generation the pipeline starts
// at the failover orders the replica's changes after the primary's. The
// same rows change before and after the failover, and the pipeline
// resumes from a checkpoint behind the lake: the transactions between
// (the unacknowledged window) are read again from the replica, under
// other dedupe keys. The compacted table verifies equal to the promoted
// replica.
func TestVerifyAfterFailoverToFreshBinlog(t *testing.T) {
	primary := mysqltest.StartT(t, mysqltest.Options{})
	primary.RequireOwned(t)
	replica := mysqltest.StartReplicaT(t, primary)
	primary.Exec(t, "CREATE DATABASE fg", "CREATE TABLE fg.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40))")
	for range 4 {
		primary.Exec(t, "FLUSH NO_WRITE_TO_BINLOG BINARY LOGS") // the replica does not rotate
	}
	waitReplica := func() { t.Helper(); replica.WaitReplica(t, primary) }
	waitReplica()
	state := func(s *mysqltest.Server) (checkpoint.Checkpoint, string) {
		t.Helper()
		var cp checkpoint.Checkpoint
		var file string
		var x, y any
		if err := s.DB(t).QueryRow("SHOW MASTER STATUS").Scan(&file, &cp.Position.Offset, &x, &y); err != nil {
			t.Fatal(err)
		}
		cp.Position.File = file
		if err := s.DB(t).QueryRow("SELECT @@server_id, @@gtid_binlog_pos").Scan(&cp.ServerID, &cp.GTIDSet); err != nil {
			t.Fatal(err)
		}
		return cp, file
	}

	lake := laketest.New(t, primary, env)
	lake.Source().Hosts = []string{primary.Addr(), replica.Addr()}
	start, _ := state(primary)
	lake.SaveCheckpoint(&start)

	// Acknowledged: streamed, and the checkpoint covers it.
	primary.Exec(t, "USE fg", "INSERT INTO fg.items SELECT seq, seq, 'primary' FROM seq_1_to_300",
		"UPDATE fg.items SET v = v * 2 WHERE id % 3 = 0", "DELETE FROM fg.items WHERE id % 7 = 0")
	lake.CatchUp()
	acked, primaryFile := state(primary)
	// A first compaction: the table holds generation 0 only, and has no
	// generation column.
	r := &rig{t: t, lake: lake, dir: t.TempDir()}
	r.compact()
	if hasColumn(t, r, "fg", "items", compact.ColumnGeneration) {
		t.Fatalf("the table has %s before any change of generation 1", compact.ColumnGeneration)
	}
	// The window: in the lake, but the checkpoint is put back before it.
	primary.Exec(t, "USE fg", "UPDATE fg.items SET v = v + 1, note = 'window' WHERE id % 2 = 0",
		"DELETE FROM fg.items WHERE id % 13 = 0", "INSERT INTO fg.items SELECT seq, seq, 'window' FROM seq_301_to_320")
	lake.CatchUp()
	lake.SaveCheckpoint(&acked)
	// Not streamed before the primary dies: read from the replica.
	primary.Exec(t, "UPDATE fg.items SET note = 'unread' WHERE id % 5 = 0")
	waitReplica()
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	replica.Exec(t, "STOP SLAVE", "RESET SLAVE ALL", "USE fg",
		"UPDATE fg.items SET v = v + 1000, note = 'promoted' WHERE id % 4 = 0",
		"DELETE FROM fg.items WHERE id % 11 = 0",
		"INSERT INTO fg.items SELECT seq, seq, 'new primary' FROM seq_7_to_350 WHERE seq % 7 = 0 AND seq % 11 <> 0 AND seq % 13 <> 0 AND seq <= 300",
		"UPDATE fg.items SET note = 'last' WHERE id % 6 = 0")
	_, replicaFile := state(replica)
	if position.FileSeq(replicaFile) >= position.FileSeq(primaryFile) {
		t.Fatalf("the replica writes %s, the primary wrote %s: want the replica's places before the primary's", replicaFile, primaryFile)
	}
	lake.CatchUp()

	rep := r.compact()
	var tr *compact.TableReport
	for i := range rep.Tables {
		if rep.Tables[i].Table == "fg.items" {
			tr = &rep.Tables[i]
		}
	}
	if tr == nil || tr.Status == compact.StatusFailed {
		t.Fatalf("compaction of fg.items: %+v", tr)
	}
	t.Logf("second compaction: %s (%s), %d applied, %d stale, %d duplicates", tr.Mode, tr.ModeWhy, tr.Applied, tr.Stale, tr.Duplicates)
	// The highest change applied is the replica's, in generation 1.
	if !strings.HasPrefix(tr.Position, "1/2:"+replicaFile+":") {
		t.Errorf("table position %s: want generation 1 on the replica's %s", tr.Position, replicaFile)
	}
	cfg := verify.DefaultConfig()
	dc, err := lake.Source().DriverConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source = dc
	cfg.Catalog = r.catalog()
	cfg.Tables = []string{"fg.items"}
	cfg.Logger = laketest.Logger(t)
	vrep, err := verify.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if st := status(t, vrep, "fg.items"); st.Status != verify.StatusOK {
		t.Fatalf("verify against the promoted replica: %+v", st)
	}
	if !strings.HasPrefix(status(t, vrep, "fg.items").SnapshotPosition, "1/") {
		t.Errorf("snapshot lake position %s: want generation 1", status(t, vrep, "fg.items").SnapshotPosition)
	}
	if !hasColumn(t, r, "fg", "items", compact.ColumnGeneration) {
		t.Errorf("the table has no %s after changes of generation 1", compact.ColumnGeneration)
	}

	// A schema change rewrites the table (copy on write): its rows are read
	// back with their generations, and the table still verifies.
	replica.Exec(t, "ALTER TABLE fg.items ADD COLUMN extra INT NULL", "UPDATE fg.items SET extra = id WHERE id % 9 = 0")
	lake.CatchUp()
	rep = r.compact()
	tr = nil
	for i := range rep.Tables {
		if rep.Tables[i].Table == "fg.items" {
			tr = &rep.Tables[i]
		}
	}
	if tr == nil || tr.Status != compact.StatusCompacted || tr.Mode != compact.ModeCopyOnWrite {
		t.Fatalf("compaction after the ALTER: %+v, want a copy-on-write run", tr)
	}
	if vrep, err = verify.Run(context.Background(), cfg); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if st := status(t, vrep, "fg.items"); st.Status != verify.StatusOK {
		t.Fatalf("verify after the ALTER: %+v", st)
	}
	if !hasColumn(t, r, "fg", "items", compact.ColumnGeneration) {
		t.Errorf("the rewritten table lost %s", compact.ColumnGeneration)
	}
}

// hasColumn reports whether the snapshot table of db.tbl has a column.
func hasColumn(t *testing.T, r *rig, db, tbl, col string) bool {
	t.Helper()
	cat, err := compact.OpenCatalog(context.Background(), r.catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	tb, err := cat.LoadTable(context.Background(), compact.Identifier("", db, tbl))
	if err != nil {
		t.Fatal(err)
	}
	_, ok := tb.Schema().FindFieldByName(col)
	return ok
}
