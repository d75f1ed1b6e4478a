package verify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicecdc/sluice/checkpoint"
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
	replica := mysqltest.StartT(t, mysqltest.Options{Args: []string{"--server-id=2", "--log-slave-updates=ON"}})
	replica.Exec(t,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos", primary.Host, primary.Port),
		"START SLAVE")
	primary.Exec(t, "CREATE DATABASE fo", "CREATE TABLE fo.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40))")
	waitReplica := func() {
		t.Helper()
		var pos string
		if err := primary.DB(t).QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
			t.Fatal(err)
		}
		var ok int
		if err := replica.DB(t).QueryRow("SELECT MASTER_GTID_WAIT(?, 60)", pos).Scan(&ok); err != nil || ok != 0 {
			t.Fatalf("replica did not reach %s: %v\n%s", pos, err, replica.ErrorLog())
		}
	}
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
