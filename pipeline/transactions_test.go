package pipeline_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

// txEvents are the row events of one database, in stream order.
func rowEvents(t *testing.T, h *harness, db string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range h.events() {
		if ev["database"] == db && ev["data"] != nil {
			out = append(out, ev)
		}
	}
	return out
}

// conns opens n connections of their own (sessions) to the server.
func conns(t *testing.T, n int) []*sql.Conn {
	t.Helper()
	db := srv.DB(t)
	out := make([]*sql.Conn, n)
	for i := range out {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		out[i] = c
	}
	return out
}

// run executes statements on one session.
func run(t *testing.T, c *sql.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := c.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// ids lists the "a" column of row events, with their commit flags and xids.
func describe(evs []map[string]any) string {
	var b strings.Builder
	for _, ev := range evs {
		d := ev["data"].(map[string]any)
		fmt.Fprintf(&b, "%s a=%v xid=%v commit=%v\n", ev["type"], d["a"], ev["xid"], ev["commit"])
	}
	return b.String()
}

// TestSavepointOneTransaction: the statement of issue 12. SAVEPOINT and
// ROLLBACK TO inside a transaction are not boundaries: rows 1 and 3 are one
// transaction, sharing the xid, commit:true only on the last.
func TestSavepointOneTransaction(t *testing.T) {
	h := newHarness(t, srv)
	c := conns(t, 1)[0]
	run(t, c, "DROP DATABASE IF EXISTS sp", "CREATE DATABASE sp", "CREATE TABLE sp.t (a INT PRIMARY KEY, b INT)",
		"BEGIN", "INSERT INTO sp.t VALUES (1,1)", "SAVEPOINT s1", "INSERT INTO sp.t VALUES (2,2)",
		"ROLLBACK TO SAVEPOINT s1", "INSERT INTO sp.t VALUES (3,3)", "COMMIT",
		// and RELEASE SAVEPOINT, nested savepoints, ROLLBACK TO the outer one
		"BEGIN", "INSERT INTO sp.t VALUES (4,4)", "SAVEPOINT a", "INSERT INTO sp.t VALUES (5,5)", "SAVEPOINT b",
		"INSERT INTO sp.t VALUES (6,6)", "RELEASE SAVEPOINT b", "SAVEPOINT c", "INSERT INTO sp.t VALUES (7,7)",
		"ROLLBACK TO a", "INSERT INTO sp.t VALUES (8,8)", "COMMIT")
	h.catchUp()
	evs := rowEvents(t, h, "sp")
	got := describe(evs)
	if len(evs) != 4 {
		t.Fatalf("want rows 1, 3, 4, 8; got\n%s", got)
	}
	for i, a := range []string{"1", "3", "4", "8"} {
		if fmt.Sprint(evs[i]["data"].(map[string]any)["a"]) != a {
			t.Fatalf("row %d is not a=%s:\n%s", i, a, got)
		}
	}
	for _, pair := range [][2]int{{0, 1}, {2, 3}} {
		first, last := evs[pair[0]], evs[pair[1]]
		if first["xid"] == nil || fmt.Sprint(first["xid"]) != fmt.Sprint(last["xid"]) {
			t.Fatalf("rows of one transaction with different or no xids:\n%s", got)
		}
		if first["commit"] != nil || last["commit"] != true {
			t.Fatalf("commit:true must be on the last row of the transaction only:\n%s", got)
		}
	}
	if fmt.Sprint(evs[0]["xid"]) == fmt.Sprint(evs[2]["xid"]) {
		t.Fatalf("two transactions share an xid:\n%s", got)
	}
	assertCheckpointAtBoundary(t, h)
}

// assertCheckpointAtBoundary: the saved checkpoint is after the last
// transaction, never inside one.
func assertCheckpointAtBoundary(t *testing.T, h *harness) {
	t.Helper()
	cp := h.checkpoint()
	evs := h.events()
	if len(evs) == 0 {
		return
	}
	last := evs[len(evs)-1]
	if last["commit"] != true {
		t.Fatalf("the stream ends inside a transaction: %v", last)
	}
	if cp == nil || cp.Position.IsZero() {
		t.Fatalf("no checkpoint")
	}
}

// TestRollbackMixedMyISAM: a transaction that also changed a MyISAM table
// is logged ending in ROLLBACK (the server cannot undo the MyISAM change;
// MariaDB logs it so when the session writes statements). The stream ends
// that transaction with an abort, never a commit, and nothing of it is
// emitted; the next transaction is.
func TestRollbackMixedMyISAM(t *testing.T) {
	h := newHarness(t, srv)
	c := conns(t, 1)[0]
	run(t, c, "DROP DATABASE IF EXISTS rbm", "CREATE DATABASE rbm",
		"CREATE TABLE rbm.t (a INT PRIMARY KEY, b BIGINT)", "CREATE TABLE rbm.m (a INT PRIMARY KEY) ENGINE=MyISAM")
	from := h.checkpointHead()
	run(t, c, "SET SESSION binlog_format=STATEMENT",
		"BEGIN", "INSERT INTO rbm.t VALUES (10, 10)", "INSERT INTO rbm.m VALUES (10)",
		"INSERT INTO rbm.t VALUES (11, 11)", "ROLLBACK",
		"SET SESSION binlog_format=ROW",
		"INSERT INTO rbm.t VALUES (12, 12)")
	var n int
	if err := srv.DB(t).QueryRow("SELECT COUNT(*) FROM rbm.m").Scan(&n); err != nil || n != 1 {
		t.Fatalf("MyISAM row not kept by the rollback (%d, %v): the case is not exercised", n, err)
	}
	// The ROLLBACK really is in the binlog: without it this test proves nothing.
	if !binlogHas(t, "ROLLBACK") {
		t.Fatalf("no ROLLBACK statement in the binlog")
	}
	kinds := streamKinds(t, h, from, h.checkpointHead())
	if want := "begin abort progress begin rows commit"; kinds != want {
		t.Fatalf("stream items %q, want %q", kinds, want)
	}
	h.catchUp()
	evs := rowEvents(t, h, "rbm")
	got := describe(evs)
	if len(evs) != 1 || fmt.Sprint(evs[0]["data"].(map[string]any)["a"]) != "12" || evs[0]["commit"] != true {
		t.Fatalf("want only row 12, committed; got\n%s", got)
	}
	assertCheckpointAtBoundary(t, h)
}

// checkpointHead is the server's current binlog end.
func (h *harness) checkpointHead() event.Position {
	h.t.Helper()
	p, err := binlog.Head(context.Background(), &h.cfg.Source)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// streamKinds runs a binlog streamer from from until it has passed to,
// and names the items it sent (heartbeats and progress before the first
// transaction left out).
func streamKinds(t *testing.T, h *harness, from, to event.Position) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := binlog.Preflight(ctx, &h.cfg.Source, event.Position{})
	if err != nil {
		t.Fatal(err)
	}
	st := binlog.NewStreamer(h.cfg.Source, src.Flavor, schema.NewRegistry())
	items := make(chan binlog.Item, 64)
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, from, items) }()
	defer func() {
		cancel()
		<-done
	}()
	names := map[binlog.ItemKind]string{binlog.ItemBegin: "begin", binlog.ItemRows: "rows", binlog.ItemQuery: "query",
		binlog.ItemCommit: "commit", binlog.ItemAbort: "abort", binlog.ItemProgress: "progress"}
	var out []string
	for {
		select {
		case it := <-items:
			if it.Kind == binlog.ItemHeartbeat || it.Kind == binlog.ItemProgress && len(out) == 0 {
				continue
			}
			out = append(out, names[it.Kind])
			if (it.Kind == binlog.ItemCommit || it.Kind == binlog.ItemProgress) && it.Pos.Compare(to) >= 0 {
				return strings.Join(out, " ")
			}
		case err := <-done:
			t.Fatalf("stream ended: %v (items so far: %v)", err, out)
		case <-ctx.Done():
			t.Fatalf("stream did not reach %s: %v", to, out)
		}
	}
}

// binlogHas reports whether a query event of the server's binlogs is stmt.
func binlogHas(t *testing.T, stmt string) bool {
	t.Helper()
	rows, err := srv.DB(t).Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for rows.Next() {
		var name string
		var size any
		if err := rows.Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	rows.Close()
	for _, f := range files {
		evs, err := srv.DB(t).Query("SHOW BINLOG EVENTS IN '" + f + "'")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := evs.Columns()
		for evs.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := evs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if strings.EqualFold(strings.TrimSpace(string(vals[len(vals)-1])), stmt) {
				evs.Close()
				return true
			}
		}
		evs.Close()
	}
	return false
}

// TestXA: a prepared XA transaction's rows go out once, at its XA COMMIT,
// in commit order after transactions committed in between; a rolled-back
// one emits nothing; XA COMMIT ONE PHASE is an ordinary transaction.
func TestXA(t *testing.T) {
	h := newHarness(t, srv)
	cs := conns(t, 2)
	a, b := cs[0], cs[1]
	run(t, a, "DROP DATABASE IF EXISTS xa", "CREATE DATABASE xa", "CREATE TABLE xa.t (a INT PRIMARY KEY, b INT)")
	run(t, a, "XA START 'x1'", "INSERT INTO xa.t VALUES (20,1)", "INSERT INTO xa.t VALUES (21,1)", "XA END 'x1'", "XA PREPARE 'x1'")
	run(t, b, "INSERT INTO xa.t VALUES (30,1)")
	run(t, b, "XA START 'x2'", "INSERT INTO xa.t VALUES (40,1)", "XA END 'x2'", "XA PREPARE 'x2'")
	run(t, a, "XA COMMIT 'x1'")
	run(t, a, "INSERT INTO xa.t VALUES (31,1)")
	run(t, b, "XA ROLLBACK 'x2'")
	run(t, a, "XA START 'x3'", "INSERT INTO xa.t VALUES (50,1)", "XA END 'x3'", "XA COMMIT 'x3' ONE PHASE")
	run(t, b, "XA START 'x4'", "UPDATE xa.t SET b = 2 WHERE a = 20", "XA END 'x4'", "XA PREPARE 'x4'", "XA COMMIT 'x4'")
	h.catchUp()
	evs := rowEvents(t, h, "xa")
	got := describe(evs)
	want := "insert a=30 xid=%v commit=true\ninsert a=20 xid=<nil> commit=<nil>\ninsert a=21 xid=<nil> commit=true\n" +
		"insert a=31 xid=%v commit=true\ninsert a=50 xid=%v commit=true\nupdate a=20 xid=<nil> commit=true\n"
	if len(evs) != 6 {
		t.Fatalf("got\n%s", got)
	}
	want = fmt.Sprintf(want, evs[0]["xid"], evs[3]["xid"], evs[4]["xid"])
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	assertCheckpointAtBoundary(t, h)
}

// TestRandomSavepoints: many sessions run transactions with nested
// savepoints, ROLLBACK TO, RELEASE and whole rollbacks. The events, grouped
// by xid, are whole transactions (one commit:true, on the last row), and
// replaying them gives exactly the table.
func TestRandomSavepoints(t *testing.T) {
	sessions, txs := 8, 40
	if testing.Short() {
		sessions, txs = 4, 15
	}
	h := newHarness(t, srv)
	srv.Exec(t, "DROP DATABASE IF EXISTS rsp", "CREATE DATABASE rsp", "CREATE TABLE rsp.t (a INT PRIMARY KEY, s INT, v INT)")
	for i := range sessions {
		// a row no session touches above each session's keys keeps gap
		// locks from reaching into the next session's range
		srv.Exec(t, fmt.Sprintf("INSERT INTO rsp.t VALUES (%d, %d, 0)", i*1000+999, i))
	}
	cs := conns(t, sessions)
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := randomSession(c, i, txs, rand.New(rand.NewPCG(uint64(i), 12))); err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h.catchUp()

	// group by xid, checking transactions are contiguous and whole
	replayed := map[string]string{}
	seen := map[string]bool{}
	var cur string
	open := false
	for i, ev := range rowEvents(t, h, "rsp") {
		xid := fmt.Sprint(ev["xid"])
		if ev["xid"] == nil {
			t.Fatalf("event %d has no xid: %v", i, ev)
		}
		if open && xid != cur {
			t.Fatalf("event %d: transaction %s interleaved into %s", i, xid, cur)
		}
		if !open && seen[xid] {
			t.Fatalf("event %d: xid %s appears as two transactions", i, xid)
		}
		cur, open = xid, ev["commit"] != true
		seen[xid] = true
		d := ev["data"].(map[string]any)
		b, _ := json.Marshal(d)
		switch ev["type"] {
		case "insert", "update":
			if ev["type"] == "update" {
				old := ev["old"].(map[string]any)
				if oa, ok := old["a"]; ok && fmt.Sprint(oa) != fmt.Sprint(d["a"]) {
					delete(replayed, fmt.Sprint(oa))
				}
			}
			replayed[fmt.Sprint(d["a"])] = string(b)
		case "delete":
			delete(replayed, fmt.Sprint(d["a"]))
		}
	}
	if open {
		t.Fatalf("the stream ends inside transaction %s", cur)
	}
	if len(seen) == 0 {
		t.Fatal("no transactions")
	}

	table := map[string]string{}
	rows, err := srv.DB(t).Query("SELECT a, s, v FROM rsp.t")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, s, v int
		if err := rows.Scan(&a, &s, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]int{"a": a, "s": s, "v": v})
		table[fmt.Sprint(a)] = string(b)
	}
	if len(table) == 0 {
		t.Fatal("the workload left the table empty")
	}
	var diffs []string
	for k, v := range table {
		if replayed[k] != v {
			diffs = append(diffs, fmt.Sprintf("a=%s table %s replay %s", k, v, replayed[k]))
		}
	}
	for k, v := range replayed {
		if _, ok := table[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("a=%s only in replay: %s", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("replay differs from the table in %d rows (of %d, %d transactions):\n%s", len(diffs), len(table), len(seen), strings.Join(diffs, "\n"))
	}
	t.Logf("%d transactions, %d rows replayed", len(seen), len(table))
}

// randomSession runs txs transactions on rows of its own key range (so
// sessions never wait on each other's locks).
func randomSession(c *sql.Conn, session, txs int, r *rand.Rand) error {
	ctx := context.Background()
	exec := func(q string, args ...any) error {
		if _, err := c.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		return nil
	}
	base := session * 1000
	if err := exec("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"); err != nil {
		return err
	}
	for tx := range txs {
		if err := exec("BEGIN"); err != nil {
			return err
		}
		var sps []string
		for step := range 3 + r.IntN(10) {
			key := base + r.IntN(40)
			var err error
			switch op := r.IntN(10); {
			case op < 3:
				err = exec("INSERT INTO rsp.t VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = v + 1", key, session, tx*100+step)
			case op < 4:
				err = exec("UPDATE rsp.t SET v = ? WHERE a = ?", tx*100+step, key)
			case op < 5:
				err = exec("DELETE FROM rsp.t WHERE a = ?", key)
			case op < 7:
				sp := fmt.Sprintf("sp%d", step)
				sps = append(sps, sp)
				err = exec("SAVEPOINT " + sp)
			case op < 8 && len(sps) > 0:
				i := r.IntN(len(sps))
				err = exec("ROLLBACK TO SAVEPOINT " + sps[i])
				sps = sps[:i+1] // later savepoints are gone
			case op < 9 && len(sps) > 0:
				i := r.IntN(len(sps))
				err = exec("RELEASE SAVEPOINT " + sps[i])
				sps = sps[:i] // it and later ones are gone
			default:
				err = exec("UPDATE rsp.t SET v = v + 1 WHERE a BETWEEN ? AND ?", key, key+5)
			}
			if err != nil {
				return err
			}
		}
		end := "COMMIT"
		if r.IntN(6) == 0 {
			end = "ROLLBACK"
		}
		if err := exec(end); err != nil {
			return err
		}
	}
	return nil
}

// TestXARestart: while an XA transaction waits between XA PREPARE and XA
// COMMIT, the checkpoint's position stays before its prepare, so a
// pipeline started again from the checkpoint still emits its rows at the
// commit. The transactions committed meanwhile are delivered and
// checkpointed all the same (the checkpoint's emitted), so the restart
// reads them again without emitting them again.
func TestXARestart(t *testing.T) {
	h := newHarness(t, srv)
	cs := conns(t, 2)
	a, b := cs[0], cs[1]
	run(t, a, "DROP DATABASE IF EXISTS xar", "CREATE DATABASE xar", "CREATE TABLE xar.t (a INT PRIMARY KEY, b INT)")
	h.catchUp()
	before := h.checkpoint().Position
	run(t, a, "XA START 'r1'", "INSERT INTO xar.t VALUES (1,1)", "XA END 'r1'", "XA PREPARE 'r1'")
	run(t, b, "INSERT INTO xar.t VALUES (2,2)")
	h.catchUp()
	cp := h.checkpoint()
	if cp.Position != before {
		t.Fatalf("checkpoint moved to %s past the prepared XA transaction (before it: %s)", cp.Position, before)
	}
	emitted, err := event.ParsePosition(cp.Emitted)
	if err != nil || emitted.Compare(before) <= 0 {
		t.Fatalf("checkpoint's emitted %q (%v): want a position past %s, where row 2 commits", cp.Emitted, err, before)
	}
	first := rowEvents(t, h, "xar")
	if len(first) != 1 || fmt.Sprint(first[0]["data"].(map[string]any)["a"]) != "2" {
		t.Fatalf("first run: want row 2 only, got\n%s", describe(first))
	}
	run(t, a, "XA COMMIT 'r1'")
	run(t, b, "INSERT INTO xar.t VALUES (3,3)")
	h.catchUp() // a new pipeline, from the checkpoint
	all := rowEvents(t, h, "xar")
	if got := describe(all); got != describe(first)+"insert a=1 xid=<nil> commit=true\n"+describe(all[2:]) ||
		len(all) != 3 || fmt.Sprint(all[2]["data"].(map[string]any)["a"]) != "3" {
		t.Fatalf("want rows 2, 1 (at its commit), 3, each once; got\n%s", describe(all))
	}
	cp = h.checkpoint()
	if cp.Position.Compare(emitted) <= 0 || cp.Emitted != "" {
		t.Fatalf("checkpoint after the XA commit at %s, emitted %q: want past %s, no emitted", cp.Position, cp.Emitted, emitted)
	}
}

// TestXARestartOverlapping: with two XA transactions prepared, the first
// one's commit is delivered while the second holds the checkpoint before
// both prepares; a restart from there emits neither it nor the
// transaction after it again, and the second at its commit.
func TestXARestartOverlapping(t *testing.T) {
	h := newHarness(t, srv)
	cs := conns(t, 3)
	a, b, c := cs[0], cs[1], cs[2]
	run(t, a, "DROP DATABASE IF EXISTS xao", "CREATE DATABASE xao", "CREATE TABLE xao.t (a INT PRIMARY KEY, b INT)")
	h.catchUp()
	before := h.checkpoint().Position
	run(t, a, "XA START 'o1'", "INSERT INTO xao.t VALUES (1,1)", "XA END 'o1'", "XA PREPARE 'o1'")
	run(t, b, "XA START 'o2'", "INSERT INTO xao.t VALUES (2,2)", "XA END 'o2'", "XA PREPARE 'o2'")
	run(t, a, "XA COMMIT 'o1'")
	run(t, c, "INSERT INTO xao.t VALUES (3,3)")
	h.catchUp()
	if cp := h.checkpoint(); cp.Position != before || cp.Emitted == "" {
		t.Fatalf("checkpoint at %s, emitted %q: want %s (before both prepares) with emitted past o1's commit", cp.Position, cp.Emitted, before)
	}
	rows := func() string {
		var as []string
		for _, ev := range rowEvents(t, h, "xao") {
			as = append(as, fmt.Sprint(ev["data"].(map[string]any)["a"]))
		}
		return strings.Join(as, ",")
	}
	if got := rows(); got != "1,3" {
		t.Fatalf("first run: want o1's row 1, then row 3; got %s", got)
	}
	run(t, b, "XA COMMIT 'o2'")
	run(t, c, "INSERT INTO xao.t VALUES (4,4)")
	h.catchUp()
	if got := rows(); got != "1,3,2,4" {
		t.Fatalf("want rows 1, 3, then 2 (at o2's commit), 4, each once; got %s", got)
	}
	if cp := h.checkpoint(); cp.Emitted != "" || cp.Position.Compare(before) <= 0 {
		t.Fatalf("checkpoint after both commits at %s, emitted %q", cp.Position, cp.Emitted)
	}
}

// TestSessionRowImageHalts: a session that sets binlog_row_image=MINIMAL or
// NOBLOB for itself logs rows without some columns. The pipeline halts
// naming the table, the columns and the session setting; nothing of that
// transaction is written (the transaction before it is).
func TestSessionRowImageHalts(t *testing.T) {
	for _, image := range []string{"MINIMAL", "NOBLOB"} {
		t.Run(image, func(t *testing.T) {
			h := newHarness(t, srv)
			db := "rowimg_" + strings.ToLower(image)
			c := conns(t, 1)[0]
			run(t, c, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db,
				"CREATE TABLE "+db+".t (a INT PRIMARY KEY, b INT, doc BLOB)",
				"INSERT INTO "+db+".t VALUES (1, 1, 'x')",
				"SET SESSION binlog_row_image="+image,
				"UPDATE "+db+".t SET b = 2 WHERE a = 1",
				"SET SESSION binlog_row_image=FULL")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := h.pipeline(true).Run(ctx)
			if err == nil {
				t.Fatal("the pipeline emitted rows with columns left out")
			}
			for _, w := range []string{"table " + db + ".t", "leaves out columns", "doc", "binlog_row_image=MINIMAL or NOBLOB", "SET SESSION binlog_row_image"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			evs := rowEvents(t, h, db)
			if len(evs) != 1 || evs[0]["type"] != "insert" {
				t.Fatalf("want only the insert before the halt, got\n%s", describe(evs))
			}
		})
	}
}
