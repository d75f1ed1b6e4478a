package pipeline_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// background runs the pipeline until the returned stop is called. If the
// pipeline ends by itself before, the test fails with its error.
func (h *harness) background() (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := h.pipeline(false)
	done := make(chan struct{})
	var runErr error
	go func() {
		runErr = p.Run(ctx)
		if ctx.Err() == nil {
			h.t.Errorf("pipeline stopped by itself: %v", runErr)
		}
		close(done)
	}()
	return func() {
		h.t.Helper()
		cancel()
		<-done
		if runErr != nil {
			h.t.Fatalf("run: %v", runErr)
		}
	}
}

// workload commits transactions of three inserts each into db.wl, tagging
// rows with the transaction's number, until stopped.
type workload struct {
	db      *sql.DB
	name    string
	next    atomic.Int64
	stop    chan struct{}
	done    sync.WaitGroup
	err     error
	perTxPK bool
}

func startWorkload(t *testing.T, s *mysqltest.Server, dbName string) *workload {
	t.Helper()
	s.Exec(t, "DROP DATABASE IF EXISTS "+dbName, "CREATE DATABASE "+dbName,
		"CREATE TABLE "+dbName+".wl (id INT AUTO_INCREMENT PRIMARY KEY, tx INT NOT NULL, n INT NOT NULL, note VARCHAR(64))")
	w := &workload{db: s.DB(t), name: dbName, stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			if err := w.commitOne(); err != nil {
				w.err = err
				return
			}
		}
	}()
	return w
}

func (w *workload) commitOne() error {
	k := w.next.Load() + 1
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	for n := range 3 {
		if _, err := tx.Exec(fmt.Sprintf("INSERT INTO %s.wl (tx, n, note) VALUES (?, ?, ?)", w.name), k, n, strings.Repeat("x", int(k%50))); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	w.next.Store(k)
	return nil
}

// waitFor lets the workload commit at least n more transactions.
func (w *workload) waitFor(t *testing.T, n int64) {
	t.Helper()
	target := w.next.Load() + n
	deadline := time.Now().Add(time.Minute)
	for w.next.Load() < target {
		if w.err != nil {
			t.Fatalf("workload: %v", w.err)
		}
		if time.Now().After(deadline) {
			t.Fatal("workload stalled")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *workload) finish(t *testing.T) int64 {
	t.Helper()
	close(w.stop)
	w.done.Wait()
	if w.err != nil {
		t.Fatalf("workload: %v", w.err)
	}
	return w.next.Load()
}

// checkExactlyOnce asserts that the events of db.wl are exactly the
// committed transactions 1..n, each whole, once, in commit order.
func checkExactlyOnce(t *testing.T, evs []map[string]any, db string, n int64) {
	t.Helper()
	var got []int64
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev["database"] != db || ev["data"] == nil { // schema changes carry no data
			continue
		}
		key := ev["dedupe_key"].(string)
		if seen[key] {
			t.Fatalf("duplicate event %s", key)
		}
		seen[key] = true
		data := ev["data"].(map[string]any)
		tx, _ := data["tx"].(json.Number).Int64()
		nn, _ := data["n"].(json.Number).Int64()
		if want := int64(len(got) % 3); nn != want {
			t.Fatalf("event %d: row n=%d of tx %d, want n=%d: transaction split or reordered", len(got), nn, tx, want)
		}
		if commit, _ := ev["commit"].(bool); commit != (nn == 2) {
			t.Fatalf("tx %d row %d: commit=%v", tx, nn, commit)
		}
		got = append(got, tx)
	}
	if int64(len(got)) != 3*n {
		t.Fatalf("got %d rows, want %d (3 × %d transactions)", len(got), 3*n, n)
	}
	for i, tx := range got {
		if want := int64(i/3) + 1; tx != want {
			t.Fatalf("row %d belongs to tx %d, want %d", i, tx, want)
		}
	}
}

// TestRestartMidStream stops and restarts the pipeline several times while
// transactions commit: every transaction arrives once, whole, in order.
func TestRestartMidStream(t *testing.T) {
	h := newHarness(t, srv)
	w := startWorkload(t, srv, "restart_db")
	for range 4 {
		stop := h.background()
		w.waitFor(t, 30)
		stop()
		w.waitFor(t, 10) // commits while sluice is down
	}
	n := w.finish(t)
	h.catchUp()
	checkExactlyOnce(t, h.events(), "restart_db", n)
}

// TestReconnect kills sluice's replication connection on the server side
// and crashes and restarts the server itself, mid-stream: sluice reconnects
// from the last commit and delivers every transaction once.
func TestReconnect(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	h := newHarness(t, s)
	w := startWorkload(t, s, "reconnect_db")
	stop := h.background()
	db := s.DB(t)
	for i := range 3 {
		w.waitFor(t, 40)
		var ids []int64
		for deadline := time.Now().Add(20 * time.Second); len(ids) == 0; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no binlog dump thread: sluice did not reconnect", i)
			}
			rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			_ = rows.Close()
			time.Sleep(20 * time.Millisecond)
		}
		for _, id := range ids {
			if _, err := db.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.waitFor(t, 40)
	n := w.finish(t)
	// A crash of the server: the connection dies without a goodbye.
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	w2 := &workload{db: s.DB(t), name: "reconnect_db", stop: make(chan struct{})}
	w2.next.Store(n)
	for range 20 {
		if err := w2.commitOne(); err != nil {
			t.Fatal(err)
		}
	}
	n = w2.next.Load()
	stop()
	h.catchUp()
	checkExactlyOnce(t, h.events(), "reconnect_db", n)
}

// TestRotation streams across binlog rotations and leaves the checkpoint in
// the newest file.
func TestRotation(t *testing.T) {
	h := newHarness(t, srv)
	srv.Exec(t, "DROP DATABASE IF EXISTS rot_db", "CREATE DATABASE rot_db", "CREATE TABLE rot_db.t (id INT PRIMARY KEY)")
	for i := range 5 {
		srv.Exec(t, fmt.Sprintf("INSERT INTO rot_db.t VALUES (%d)", i), "FLUSH BINARY LOGS")
	}
	srv.Exec(t, "INSERT INTO rot_db.t VALUES (5)")
	waitBinlogCheckpoint(t)
	h.catchUp()
	var ids []string
	files := map[string]bool{}
	for _, ev := range h.events() {
		if ev["database"] != "rot_db" || ev["data"] == nil {
			continue
		}
		ids = append(ids, ev["data"].(map[string]any)["id"].(json.Number).String())
		pos, err := event.ParsePosition(ev["position"].(string))
		if err != nil {
			t.Fatal(err)
		}
		files[pos.File] = true
	}
	if got := strings.Join(ids, ","); got != "0,1,2,3,4,5" {
		t.Fatalf("ids %s, want 0,1,2,3,4,5", got)
	}
	if len(files) != 6 {
		t.Fatalf("events came from %d binlog files, want 6: %v", len(files), files)
	}
	var file string
	var pos uint64
	if err := srv.DB(t).QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(sql.NullString), new(sql.NullString)); err != nil {
		t.Fatal(err)
	}
	if cp := h.checkpoint(); cp.Position.File != file || cp.Position.Offset != pos {
		t.Fatalf("checkpoint at %s, want the server's head %s:%d", cp.Position, file, pos)
	}
}

// waitBinlogCheckpoint waits until MariaDB has written, in the newest binlog
// file, the Binlog_checkpoint event naming that file itself. After a
// rotation the server writes it on its own, once the engine has made the
// older file's transactions durable: a pipeline that caught up to the head
// read before it would stop short of the head read after.
func waitBinlogCheckpoint(t *testing.T) {
	t.Helper()
	db := srv.DB(t)
	var version string
	if err := db.QueryRow("SELECT @@version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return // MySQL writes no such event
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var file string
		var pos uint64
		if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(sql.NullString), new(sql.NullString)); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query("SHOW BINLOG EVENTS IN '" + file + "'")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		found := false
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			// Log_name, Pos, Event_type, Server_id, End_log_pos, Info
			if vals[2].String == "Binlog_checkpoint" && strings.Contains(vals[5].String, file) {
				found = true
			}
		}
		rows.Close()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Binlog_checkpoint event for %s after 30s", file)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLargeTransaction streams one transaction of a million rows (fewer with
// -short) and checks that the heap stays bounded: the transaction is
// spilled to disk, never held whole in memory.
func TestLargeTransaction(t *testing.T) {
	// Under -short the output (~150 MB) still exceeds the heap limit, so
	// the check below still fails if the transaction were held in memory.
	rows := 1_000_000
	if testing.Short() {
		rows = 500_000
	}
	h := newHarness(t, srv)
	srv.Exec(t, "DROP DATABASE IF EXISTS big_db", "CREATE DATABASE big_db",
		"CREATE TABLE big_db.t (id INT PRIMARY KEY, v VARCHAR(40), d DECIMAL(12,2))",
		"USE big_db",
		fmt.Sprintf("INSERT INTO big_db.t SELECT seq, CONCAT('row-', seq), seq / 100 FROM seq_1_to_%d", rows))

	runtime.GC() // measure the pipeline, not garbage left by earlier tests
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	h.catchUp()
	close(done)

	var lines [][]byte
	for _, l := range h.lines() {
		if bytes.Contains(l, []byte(`"type":"insert"`)) { // not the DDL before
			lines = append(lines, l)
		}
	}
	if len(lines) != rows {
		t.Fatalf("%d events, want %d", len(lines), rows)
	}
	last := decodeEvent(t, len(lines)-1, lines[len(lines)-1])
	first := decodeEvent(t, 0, lines[0])
	if last["commit"] != true || first["commit"] != nil || first["xid"] != last["xid"] {
		t.Fatalf("first/last events do not form one transaction:\n%s\n%s", lines[0], lines[len(lines)-1])
	}
	if got := last["data"].(map[string]any)["id"].(json.Number).String(); got != fmt.Sprint(rows) {
		t.Fatalf("last row id %s, want %d", got, rows)
	}
	// The events alone are ~100 bytes each; holding the transaction would
	// need that many bytes times the row count.
	const limit = 96 << 20
	t.Logf("%d rows, output %d MB, peak heap in use %d MB", rows, totalBytes(lines)>>20, peak.Load()>>20)
	if peak.Load() > limit {
		t.Fatalf("peak heap in use %d MB exceeds %d MB: the transaction is held in memory", peak.Load()>>20, limit>>20)
	}
}

func totalBytes(lines [][]byte) int {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	return n
}
