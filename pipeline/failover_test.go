package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
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
	p.replica = mysqltest.StartReplicaT(t, p.primary)
	return p
}

// catchUpReplica waits until the replica has applied everything the
// primary has written.
func (p *pair) catchUpReplica(t *testing.T) {
	t.Helper()
	p.replica.WaitReplica(t, p.primary)
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
	t.Run("checkpoint with gtid_set", func(t *testing.T) { failoverWhileRunning(t, true) })
	// An older checkpoint, without the set: MariaDB's BINLOG_GTID_POS
	// gives it at the start.
	t.Run("checkpoint without gtid_set", func(t *testing.T) { failoverWhileRunning(t, false) })
}

func failoverWhileRunning(t *testing.T, withSet bool) {
	p := startPair(t)
	h := newFailoverHarness(t, p)
	if !withSet {
		cp := h.checkpoint()
		cp.GTIDSet = ""
		if err := h.store.Save(context.Background(), cp); err != nil {
			t.Fatal(err)
		}
	}
	w := startWorkload(t, p.primary, "fo_run")
	stop := h.background()
	w.waitFor(t, 60)
	// The pipeline is past its start (preflight, JSON columns) and
	// streaming before the primary dies: a start that fails is the
	// supervisor's to retry, not the stream's to ride out.
	for deadline := time.Now().Add(time.Minute); deliveredRows(t, h, "fo_run") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the pipeline delivered nothing of the workload within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n1 := w.finish(t)
	p.failover(t)
	w2 := startWorkload(t, p.replica, "fo_run2")
	w2.waitFor(t, 60)
	n2 := w2.finish(t)
	// The running pipeline itself delivers the new primary's transactions.
	for deadline := time.Now().Add(time.Minute); deliveredRows(t, h, "fo_run2") < 3*n2; {
		if time.Now().After(deadline) {
			t.Fatalf("the running pipeline delivered %d of %d rows written on the promoted replica", deliveredRows(t, h, "fo_run2"), 3*n2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	evs := h.events()
	checkExactlyOnce(t, evs, "fo_run", n1)
	checkExactlyOnce(t, evs, "fo_run2", n2)
	cp := h.checkpoint()
	if cp.ServerID != 2 || cp.GTIDSet == "" || cp.Generation != 1 {
		t.Fatalf("checkpoint after the failover: server_id %d, gtid_set %q, generation %d; want server_id 2, a GTID set and generation 1", cp.ServerID, cp.GTIDSet, cp.Generation)
	}
	// The new primary's events start the next source generation; the old
	// one's carry none (generation 0).
	checkGeneration(t, evs, "fo_run", 0)
	checkGeneration(t, evs, "fo_run2", 1)
	if len(cp.History) != 1 || cp.History[0].What != "failover" || !containsAll(cp.History[0].To, "server_id 2", "generation 1") {
		t.Fatalf("checkpoint history %+v: want one failover entry to server_id 2, generation 1", cp.History)
	}
}

// checkGeneration checks the source_generation of db's row events.
func checkGeneration(t *testing.T, evs []map[string]any, db string, want int64) {
	t.Helper()
	n := 0
	for _, ev := range evs {
		if ev["database"] != db || ev["data"] == nil {
			continue
		}
		n++
		var got int64
		if g, ok := ev["source_generation"].(json.Number); ok {
			got, _ = g.Int64()
		} else if ev["source_generation"] != nil {
			t.Fatalf("event %s: source_generation %v is not a number", ev["dedupe_key"], ev["source_generation"])
		}
		if got != want {
			t.Fatalf("event %s of %s: source_generation %d, want %d", ev["dedupe_key"], db, got, want)
		}
	}
	if n == 0 {
		t.Fatalf("no row events of %s", db)
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
	if err == nil || !containsAll(err.Error(), "server_id 1", "server_id 2", "source.resume: auto") {
		t.Fatalf("resume by position on another server: %v, want a refusal naming both server ids and the fix", err)
	}
	h.cfg.Source.Resume = binlog.ResumeAuto
	h.catchUp()
	evs := h.events()
	checkExactlyOnce(t, evs, "fo_cp", n1)
	checkExactlyOnce(t, evs, "fo_cp2", n2)
	cp := h.checkpoint()
	if cp.ServerID != 2 || len(cp.History) != 1 || cp.History[0].What != "failover" || !strings.Contains(cp.History[0].To, "generation 1") {
		t.Fatalf("checkpoint after the failover: server_id %d, history %+v; want server_id 2 and one failover entry to generation 1", cp.ServerID, cp.History)
	}
	if cp.Generation != 1 {
		t.Fatalf("checkpoint after the failover: generation %d, want 1", cp.Generation)
	}
	checkGeneration(t, evs, "fo_cp2", 1)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestFailoverDuplicatesCarryGTID: a pipeline that crashed after its
// sinks took events its checkpoint does not cover (the unacknowledged
// window) resumes on the promoted replica by GTID. The transactions of
// the window arrive again, and only they: each copy has the same gtid and
// xoffset as the first (the consumer's key across servers) and the same
// row data, and the next source generation. (Its dedupe_key names the
// position on the server it was read from: equal here, where the
// replica's binlog mirrors the primary's layout, but not in general.)
func TestFailoverDuplicatesCarryGTID(t *testing.T) {
	p := startPair(t)
	h := newFailoverHarness(t, p)
	w := startWorkload(t, p.primary, "fo_dup")
	stop := h.background()
	w.waitFor(t, 40)
	// Wait for a checkpoint inside the workload: the last one a crash
	// would leave.
	var acked *checkpoint.Checkpoint
	for deadline := time.Now().Add(30 * time.Second); acked == nil || acked.GTIDSet == "" || gtidSeq(t, acked.GTIDSet) < 10; {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint with a GTID set while the workload ran")
		}
		time.Sleep(20 * time.Millisecond)
		acked = h.checkpoint()
	}
	w.waitFor(t, 40)
	n := w.finish(t)
	for deadline := time.Now().Add(time.Minute); deliveredRows(t, h, "fo_dup") < 3*n; {
		if time.Now().After(deadline) {
			t.Fatal("the pipeline did not deliver the workload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	// The crash: the sink holds everything, the checkpoint only acked.
	if err := h.store.Save(context.Background(), acked); err != nil {
		t.Fatal(err)
	}
	p.failover(t)
	h.catchUp()

	ackedSeq := gtidSeq(t, acked.GTIDSet)
	type key struct {
		gtid    string
		xoffset string
	}
	first := map[key]map[string]any{}
	copies := map[key]int{}
	for _, ev := range h.events() {
		if ev["database"] != "fo_dup" || ev["data"] == nil {
			continue
		}
		gtid, _ := ev["gtid"].(string)
		k := key{gtid, fmt.Sprint(ev["xoffset"])}
		if gtid == "" || ev["dedupe_key"] == "" {
			t.Fatalf("event without gtid or dedupe_key: %v", ev)
		}
		copies[k]++
		if f, ok := first[k]; ok {
			if fmt.Sprint(f["data"]) != fmt.Sprint(ev["data"]) {
				t.Fatalf("copy of %v differs: %v, first %v", k, ev["data"], f["data"])
			}
			// Read from the promoted replica: the next source
			// generation, which orders it after the first copy
			// whatever its dedupe_key.
			if f["source_generation"] != nil || fmt.Sprint(ev["source_generation"]) != "1" {
				t.Fatalf("copy of %v: source_generation %v, first %v; want 1 and none", k, ev["source_generation"], f["source_generation"])
			}
			continue
		}
		first[k] = ev
	}
	if int64(len(first)) != 3*n {
		t.Fatalf("%d distinct rows, want %d: transactions lost", len(first), 3*n)
	}
	dups := 0
	for k, c := range copies {
		inWindow := gtidSeq(t, k.gtid) > ackedSeq
		switch {
		case inWindow && c != 2:
			t.Fatalf("row %v after the checkpoint (%s) arrived %d times, want 2", k, acked.GTIDSet, c)
		case !inWindow && c != 1:
			t.Fatalf("row %v covered by the checkpoint (%s) arrived %d times, want once", k, acked.GTIDSet, c)
		}
		if inWindow {
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("no row in the unacknowledged window: the test proves nothing")
	}
	t.Logf("%d rows, %d of them in the unacknowledged window delivered twice", len(first), dups)
}

// gtidSeq returns the sequence number of a one-domain MariaDB GTID (set).
func gtidSeq(t *testing.T, g string) int64 {
	t.Helper()
	var d, s, n int64
	if _, err := fmt.Sscanf(g, "%d-%d-%d", &d, &s, &n); err != nil || strings.Contains(g, ",") {
		t.Fatalf("GTID %q: want one domain-server-seq", g)
	}
	return n
}

// TestResumeByGTIDSameServer: with source.resume: gtid every session,
// first and after each restart, starts after the executed GTID set: every
// transaction arrives once, in order.
func TestResumeByGTIDSameServer(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	s.Exec(t, "CREATE DATABASE gtid_init")
	h := newHarness(t, s)
	h.cfg.Source.Resume = binlog.ResumeGTID
	cp := h.checkpoint()
	if err := s.DB(t).QueryRow("SELECT @@server_id, @@gtid_binlog_pos").Scan(&cp.ServerID, &cp.GTIDSet); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	w := startWorkload(t, s, "gtid_same")
	for range 3 {
		stop := h.background()
		w.waitFor(t, 30)
		stop()
		w.waitFor(t, 10)
	}
	n := w.finish(t)
	h.catchUp()
	if log := s.ErrorLog(); !strings.Contains(log, "using_gtid(1)") || strings.Contains(log, "using_gtid(0)") {
		t.Fatalf("binlog dumps not all started by GTID; server log:\n%s", log)
	}
	checkExactlyOnce(t, h.events(), "gtid_same", n)
	if cp := h.checkpoint(); gtidSeq(t, cp.GTIDSet) < n {
		t.Fatalf("checkpoint gtid_set %s: want a sequence number of at least %d", cp.GTIDSet, n)
	}
}

// deliveredRows counts the inserts into db's workload table in the sink
// file so far, reading only whole lines: the pipeline may be writing.
func deliveredRows(t *testing.T, h *harness, db string) int64 {
	t.Helper()
	b, err := os.ReadFile(h.out)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		return 0
	}
	return int64(bytes.Count(b, []byte(`"database":"`+db+`","table":"wl","type":"insert"`)))
}
