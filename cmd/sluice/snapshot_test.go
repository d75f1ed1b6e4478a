package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/testing/eventtest"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// snapRig is a source with a table of n rows (id, v, pad) and a config
// for the binary that snapshots it from a pipeline starting at the head.
type snapRig struct {
	t    *testing.T
	src  *mysqltest.Server
	dir  string
	cfg  string
	rows int
}

func newSnapRig(t *testing.T, rows int, snapshotYAML string) *snapRig {
	t.Helper()
	r := &snapRig{t: t, src: mysqltest.StartT(t, mysqltest.Options{}), dir: t.TempDir(), rows: rows}
	r.src.RequireOwned(t)
	r.src.Exec(t, "CREATE DATABASE snap", "USE snap",
		"CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(100) NOT NULL)",
		fmt.Sprintf("INSERT INTO big SELECT seq, 0, REPEAT('p', 60) FROM seq_1_to_%d", rows),
		"CREATE TABLE nokey (a INT, b INT)")
	r.cfg = filepath.Join(r.dir, "sluice.yaml")
	cfg := fmt.Sprintf(`pipeline: snap
start: latest
source: {host: %s, port: %d, user: root, heartbeat: 250ms, read_timeout: 3s}
checkpoint: {store: file, dir: %s, interval: 100ms}
sinks:
  - {type: file, path: %s}
%s`, r.src.Host, r.src.Port, filepath.Join(r.dir, "cp"), r.events(), snapshotYAML)
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *snapRig) events() string { return filepath.Join(r.dir, "out", "events.jsonl") }

func (r *snapRig) checkpoint() *checkpoint.Checkpoint {
	b, err := os.ReadFile(filepath.Join(r.dir, "cp", "snap.checkpoint.json"))
	if err != nil {
		return nil
	}
	var cp checkpoint.Checkpoint
	if json.Unmarshal(b, &cp) != nil {
		return nil
	}
	return &cp
}

// start runs `sluice run` in the background, its output appended to log.
func (r *snapRig) start(args ...string) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(binary, append([]string{"run", "--config", r.cfg}, args...)...)
	log, err := os.OpenFile(filepath.Join(r.dir, "sluice.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = log.Close(); close(done) }()
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd
}

func (r *snapRig) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "sluice.log"))
	return string(b)
}

// writer updates, deletes, inserts and re-keys rows of snap.big until stopped.
type writer struct {
	stop   atomic.Bool
	wg     sync.WaitGroup
	writes atomic.Int64
	err    atomic.Value
}

func startWriter(t *testing.T, db *sql.DB, rows int) *writer {
	w := &writer{}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		r := rand.New(rand.NewPCG(uint64(rows), 1))
		for n := 0; !w.stop.Load(); n++ {
			id := 1 + r.IntN(rows+rows/10)
			var err error
			switch r.IntN(10) {
			case 0:
				_, err = db.Exec("DELETE FROM snap.big WHERE id = ?", id)
			case 1:
				_, err = db.Exec("INSERT INTO snap.big VALUES (?, ?, 'new') ON DUPLICATE KEY UPDATE v = v + 1", id, n)
			case 2:
				_, err = db.Exec("UPDATE IGNORE snap.big SET id = id + 10000000 WHERE id = ?", id)
			default:
				_, err = db.Exec("UPDATE snap.big SET v = v + 1 WHERE id = ?", id)
			}
			if err != nil {
				w.err.Store(err)
				return
			}
			w.writes.Add(1)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return w
}

func (w *writer) finish(t *testing.T) int64 {
	t.Helper()
	w.stop.Store(true)
	w.wg.Wait()
	if err, _ := w.err.Load().(error); err != nil {
		t.Fatalf("writer: %v", err)
	}
	return w.writes.Load()
}

// checkEventsMatchSource folds the events file and compares it with snap.big.
func (r *snapRig) checkEventsMatchSource(db *sql.DB) (bootstrap int) {
	r.t.Helper()
	f, err := os.Open(r.events())
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	evs, err := eventtest.Read(f)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == "bootstrap-insert" {
			bootstrap++
		}
	}
	got := eventtest.Fold(evs, "snap")["big"]
	rs, err := db.Query("SELECT id, v, pad FROM snap.big")
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = rs.Close() }()
	want := map[string]string{}
	for rs.Next() {
		var id, v int64
		var pad string
		if err := rs.Scan(&id, &v, &pad); err != nil {
			r.t.Fatal(err)
		}
		want[fmt.Sprintf(`{"id":%d}`, id)] = fmt.Sprintf(`{"id":%d,"v":%d,"pad":%q}`, id, v, pad)
	}
	bad := 0
	for k, w := range want {
		if got[k] != w {
			if bad++; bad <= 5 {
				r.t.Errorf("row %s: events leave %q, the table has %q", k, got[k], w)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 10 {
				r.t.Errorf("row %s: events leave %q, the table has no such row", k, got[k])
			}
		}
	}
	if bad > 0 {
		r.t.Fatalf("%d rows differ between the events and the source (%d rows)", bad, len(want))
	}
	return bootstrap
}

// TestSnapshotBadInput: a table that cannot be snapshotted is refused with
// the reason and exit 2, before anything is written.
func TestSnapshotBadInput(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no such table", "snapshot: {mode: initial, tables: [snap.nope]}", "no such table"},
		{"no primary key", "snapshot: {mode: initial, tables: [snap.nokey]}", "no primary key"},
		{"tables without mode", "snapshot: {tables: [snap.big]}", "snapshot.mode is never"},
		{"bad mode", "snapshot: {mode: sometimes}", "want never, no_data, initial, when_needed or initial_only"},
		{"tables with no_data", "snapshot: {mode: no_data, tables: [snap.big]}", "snapshot.mode is no_data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSnapRig(t, 10, tc.yaml)
			res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", res.code, tc.want, res.stderr)
			}
			if r.checkpoint() != nil {
				t.Error("a checkpoint was written")
			}
			if _, err := os.Stat(r.events()); err == nil {
				t.Error("events were written")
			}
		})
	}
	r := newSnapRig(t, 10, "")
	res := sluice(t, nil, "snapshot", "--config", r.cfg, "--table", "snap.nokey", "--no-wait")
	if res.code != 2 || !strings.Contains(res.stderr, "no primary key") {
		t.Fatalf("snapshot of a table without a key: exit %d\n%s", res.code, res.stderr)
	}
}

// TestSnapshotKillNineResumes kills the daemon with SIGKILL in the middle
// of an initial snapshot taken under a write workload. The restarted
// daemon goes on from the last chunk its checkpoint holds, not from the
// start, and the events, applied in order, leave exactly the table.
func TestSnapshotKillNineResumes(t *testing.T) {
	rows := 100_000
	if testing.Short() {
		rows = 40_000
	}
	r := newSnapRig(t, rows, "snapshot: {mode: initial, tables: [snap.big], chunk_size: 500}")
	db := r.src.DB(t)
	w := startWriter(t, db, rows)
	daemon := r.start()
	deadline := time.Now().Add(2 * time.Minute)
	var killedAt *checkpoint.Checkpoint
	for {
		cp := r.checkpoint()
		if cp != nil && cp.Snapshot != nil && cp.Snapshot.Rows >= int64(rows)*6/10 {
			if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_, _ = daemon.Process.Wait()
			killedAt = r.checkpoint() // what it saved before it died
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the snapshot did not reach 60%% in 2 minutes; log:\n%s", r.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if killedAt.Snapshot.Idle() || len(killedAt.Snapshot.After) != 1 {
		t.Fatalf("checkpoint after the kill holds no snapshot progress: %+v", killedAt.Snapshot)
	}
	res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg)
	if res.code != 0 {
		t.Fatalf("restart: exit %d\n%s", res.code, res.stderr)
	}
	resumed := fmt.Sprintf("resume_after=[%s] rows_so_far=%d", killedAt.Snapshot.After[0], killedAt.Snapshot.Rows)
	if !strings.Contains(res.stderr, resumed) {
		t.Fatalf("the restart did not resume at the checkpoint's chunk (%s):\n%s", resumed, res.stderr)
	}
	writes := w.finish(t)
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("final catch-up: exit %d\n%s", res.code, res.stderr)
	}
	bootstrap := r.checkEventsMatchSource(db)
	t.Logf("%d rows, %d writes; killed at %d rows snapshotted (after key %s); %d bootstrap-insert events in all",
		rows, writes, killedAt.Snapshot.Rows, killedAt.Snapshot.After[0], bootstrap)
	// Starting over would emit at least 1.6 × rows; resuming re-emits at
	// most what was delivered after the last checkpoint.
	if bootstrap > rows*13/10 {
		t.Fatalf("%d bootstrap-insert events for %d rows: the snapshot started over", bootstrap, rows)
	}
	cp := r.checkpoint()
	if !cp.Snapshot.Idle() || len(cp.Snapshot.Done) != 1 || cp.Snapshot.Done[0].Table != "snap.big" {
		t.Fatalf("final snapshot state: %+v", cp.Snapshot)
	}
}

// TestSnapshotOnDemand: `sluice snapshot --table` asks a running daemon
// for a snapshot through the signal table and follows it to the end.
func TestSnapshotOnDemand(t *testing.T) {
	r := newSnapRig(t, 5000, "snapshot: {chunk_size: 700}")
	r.start()
	db := r.src.DB(t)
	deadline := time.Now().Add(time.Minute)
	for r.checkpoint() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint; log:\n%s", r.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := sluice(t, nil, "snapshot", "--config", r.cfg, "--table", "snap.big", "--timeout", "90s")
	if res.code != 0 || !strings.Contains(res.stdout, "snap.big") || !strings.Contains(res.stdout, "done    5000 rows") {
		t.Fatalf("snapshot: exit %d\n%s%s\nlog:\n%s", res.code, res.stdout, res.stderr, r.log())
	}
	// The daemon keeps going: a change after the snapshot is streamed too.
	r.src.Exec(t, "UPDATE snap.big SET v = 7 WHERE id = 42")
	deadline = time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(r.events())
		if strings.Contains(string(b), `"type":"update"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the update after the snapshot was not streamed; log:\n%s", r.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.checkEventsMatchSource(db); n != 5000 {
		t.Fatalf("%d bootstrap-insert events, want 5000", n)
	}
	show := sluice(t, nil, "checkpoint", "show", "--config", r.cfg)
	if !strings.Contains(show.stdout, "snap.big done") {
		t.Fatalf("checkpoint show does not report the snapshot:\n%s", show.stdout)
	}
}
