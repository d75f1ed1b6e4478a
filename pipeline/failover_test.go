package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/internal/mysqltest"
)

// pair is a primary and its replica (server_id 2, log_slave_updates,
// replicating by GTID).
type pair struct {
	primary, replica *mysqltest.Server
}

func startPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{primary: mysqltest.StartT(t, mysqltest.Options{})}
	p.primary.RequireOwned(t)
	p.replica = mysqltest.StartT(t, mysqltest.Options{Args: []string{"--server-id=2", "--log-slave-updates=ON"}})
	p.replica.Exec(t,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos",
			p.primary.Host, p.primary.Port),
		"START SLAVE")
	return p
}

// catchUpReplica waits until the replica has applied everything the
// primary has written.
func (p *pair) catchUpReplica(t *testing.T) {
	t.Helper()
	var pos string
	if err := p.primary.DB(t).QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	var ok int
	if err := p.replica.DB(t).QueryRow("SELECT MASTER_GTID_WAIT(?, 60)", pos).Scan(&ok); err != nil || ok != 0 {
		t.Fatalf("replica did not reach %s: %v (MASTER_GTID_WAIT = %d)\n%s", pos, err, ok, p.replica.ErrorLog())
	}
}

// failover kills the primary (SIGKILL) once the replica has everything,
// and promotes the replica.
func (p *pair) failover(t *testing.T) {
	t.Helper()
	p.catchUpReplica(t)
	if err := p.primary.Kill(); err != nil {
		t.Fatal(err)
	}
	p.replica.Exec(t, "STOP SLAVE", "RESET SLAVE ALL")
}

// newFailoverHarness points a pipeline at [primary, replica], starting at
// the primary's head with its executed GTID set in the checkpoint.
func newFailoverHarness(t *testing.T, p *pair) *harness {
	t.Helper()
	// A first transaction, so the executed set is not empty ("" in a
	// checkpoint means not known).
	p.primary.Exec(t, "CREATE DATABASE fo_init")
	h := newHarness(t, p.primary)
	h.cfg.Source.Hosts = []string{p.primary.Addr(), p.replica.Addr()}
	p.catchUpReplica(t)
	cp := h.checkpoint()
	if err := p.primary.DB(t).QueryRow("SELECT @@server_id, @@gtid_binlog_pos").Scan(&cp.ServerID, &cp.GTIDSet); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestFailoverWhileRunning: the primary dies under a running pipeline;
// the stream reconnects to the next of source.hosts, a server with
// another server_id, and goes on after its executed GTID set: every
// transaction of the old and the new primary arrives once, in order.
func TestFailoverWhileRunning(t *testing.T) {
	p := startPair(t)
	h := newFailoverHarness(t, p)
	w := startWorkload(t, p.primary, "fo_run")
	stop := h.background()
	w.waitFor(t, 60)
	n1 := w.finish(t)
	p.failover(t)
	w2 := startWorkload(t, p.replica, "fo_run2")
	w2.waitFor(t, 60)
	n2 := w2.finish(t)
	// The running pipeline itself delivers the new primary's transactions.
	for deadline := time.Now().Add(time.Minute); countRows(h.events(), "fo_run2") < 3*n2; {
		if time.Now().After(deadline) {
			t.Fatalf("the running pipeline delivered %d of %d rows written on the promoted replica", countRows(h.events(), "fo_run2"), 3*n2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	evs := h.events()
	checkExactlyOnce(t, evs, "fo_run", n1)
	checkExactlyOnce(t, evs, "fo_run2", n2)
	cp := h.checkpoint()
	if cp.ServerID != 2 || cp.GTIDSet == "" {
		t.Fatalf("checkpoint after the failover: server_id %d, gtid_set %q; want server_id 2 and a GTID set", cp.ServerID, cp.GTIDSet)
	}
}

// TestFailoverFromCheckpoint: the pipeline is stopped, the primary dies
// and the replica is promoted; the next run finds a checkpoint of another
// server and resumes after its GTID set, recording the change in the
// checkpoint's history. source.resume: position refuses instead.
func TestFailoverFromCheckpoint(t *testing.T) {
	p := startPair(t)
	h := newFailoverHarness(t, p)
	w := startWorkload(t, p.primary, "fo_cp")
	stop := h.background()
	w.waitFor(t, 60)
	stop()
	w.waitFor(t, 30) // committed while sluice is down, read from the replica later
	n1 := w.finish(t)
	before := h.checkpoint()
	if before.ServerID != 1 || before.GTIDSet == "" {
		t.Fatalf("checkpoint on the primary: server_id %d, gtid_set %q", before.ServerID, before.GTIDSet)
	}
	p.failover(t)
	w2 := startWorkload(t, p.replica, "fo_cp2")
	w2.waitFor(t, 30)
	n2 := w2.finish(t)

	h.cfg.Source.Resume = binlog.ResumePosition
	err := h.pipeline(true).Run(context.Background())
	if err == nil || !contains(err.Error(), "server_id 1", "server_id 2", "source.resume: auto") {
		t.Fatalf("resume by position on another server: %v, want a refusal naming both server ids and the fix", err)
	}
	h.cfg.Source.Resume = binlog.ResumeAuto
	h.catchUp()
	evs := h.events()
	checkExactlyOnce(t, evs, "fo_cp", n1)
	checkExactlyOnce(t, evs, "fo_cp2", n2)
	cp := h.checkpoint()
	if cp.ServerID != 2 || len(cp.History) != 1 || cp.History[0].What != "failover" {
		t.Fatalf("checkpoint after the failover: server_id %d, history %+v; want server_id 2 and one failover entry", cp.ServerID, cp.History)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func countRows(evs []map[string]any, db string) int64 {
	var n int64
	for _, ev := range evs {
		if ev["database"] == db && ev["data"] != nil {
			n++
		}
	}
	return n
}
