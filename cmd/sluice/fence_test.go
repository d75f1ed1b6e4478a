package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// TestClusterFrozenLeaderKinesis: a three-node cluster streams a workload
// to Kinesis. Again and again (ten times in a row; three with -short) the
// leader is frozen with SIGSTOP while its Kinesis sink has records in
// flight, another node takes over and writes, and the frozen one is
// thawed. Every record carries its term's epoch; reading the stream, no
// record of an older epoch comes after a newer epoch's record of the same
// key: a deposed leader's senders stop with its lease and its term.
func TestClusterFrozenLeaderKinesis(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.Kinesis, awstest.DynamoDB)
	r.withKinesis()
	nodes := newCluster(r)
	tokenFile := filepath.Join(r.dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "SLUICE_HTTP__ADMIN_TOKEN_FILE="+tokenFile)
	for _, n := range nodes {
		n.d = r.startWith(n.cfg)
	}
	l, took := leaderOf(t, nodes, nil, 30*time.Second)
	if l == nil {
		t.Fatalf("no leader after %s:\n%s", took, r.log())
	}
	// The admin API is not open: an unauthenticated remove gets 401 and
	// the cluster keeps its three voters.
	resp, err := http.Post("http://"+l.http+"/cluster/remove", "application/json", strings.NewReader(`{"id":"n1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated POST /cluster/remove: %s, want 401", resp.Status)
	}
	if st := sluice(t, r.env, "cluster", "status", "--config", l.cfg); st.code != 0 || strings.Count(st.stdout, "Voter") != 3 {
		t.Fatalf("cluster status after the refused remove: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	w := startPacedTxWorkload(t, r.src, 2*time.Millisecond) // what kinesalite keeps up with on a busy machine
	freezes := 10
	if testing.Short() {
		freezes = 3
	}
	for i := range freezes {
		time.Sleep(500 * time.Millisecond) // the leader streams, records in flight
		frozen, _ := leaderOf(t, nodes, nil, 10*time.Second)
		if frozen == nil {
			t.Fatalf("freeze %d: no leader:\n%s", i, r.log())
		}
		if err := frozen.d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		next, took := leaderOf(t, nodes, frozen, 10*time.Second)
		if next == nil {
			t.Fatalf("freeze %d: no new leader within 10 s of freezing %s (%s):\n%s", i, frozen.id, took, r.log())
		}
		// The new leader has written: its checkpoint covers records its
		// Kinesis sink delivered.
		for deadline := time.Now().Add(30 * time.Second); readItem(t, r).savedBy != next.id; {
			if time.Now().After(deadline) {
				t.Fatalf("freeze %d: new leader %s never saved the checkpoint (item %+v):\n%s", i, next.id, readItem(t, r), r.log())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := frozen.d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // thawed: time for stale sends, if any got out
	}
	n := w.finish(t)
	head := r.srcHead()
	for deadline := time.Now().Add(2 * time.Minute); readItem(t, r).pos != head; {
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not catch up (checkpoint %+v, head %s):\n%s", readItem(t, r), head, r.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, nd := range nodes {
		_ = nd.d.cmd.Process.Signal(os.Interrupt)
	}
	for _, nd := range nodes {
		<-nd.d.done
	}

	records := r.kinesisEvents()
	newest := map[string]uint64{} // key -> highest epoch seen so far
	epochs := map[uint64]int{}
	delivered := map[string]bool{}
	for _, rec := range records {
		var ev struct {
			Epoch           uint64
			Database, Table string
			DedupeKey       string          `json:"dedupe_key"`
			PrimaryKey      json.RawMessage `json:"primary_key"`
		}
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Fatalf("record is not an event: %v\n%s", err, rec)
		}
		if ev.Epoch == 0 {
			t.Fatalf("record without an epoch from a cluster leader: %s", rec)
		}
		epochs[ev.Epoch]++
		delivered[ev.DedupeKey] = true
		key := ev.Database + "." + ev.Table + string(ev.PrimaryKey)
		if ev.Epoch < newest[key] {
			t.Fatalf("key %s: a record of epoch %d after one of epoch %d (a deposed leader wrote after its successor): %s", key, ev.Epoch, newest[key], rec)
		}
		newest[key] = max(newest[key], ev.Epoch)
	}
	if len(epochs) < 2 {
		t.Fatalf("records of %d epochs, want the leaders' of several terms: %v", len(epochs), epochs)
	}
	// Every committed transaction reached the stream (3 events each).
	if len(delivered) < int(n)*3 {
		t.Fatalf("%d distinct events in the stream for %d transactions of 3 events", len(delivered), n)
	}
	t.Logf("%d freezes; %d records of %d epochs, %d transactions", freezes, len(records), len(epochs), n)
}
