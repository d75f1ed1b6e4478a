package compact_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
)

// TestWatchKeepsFresh runs a workload on a table while the lake follows it
// and Compactor.Watch compacts every interval, with a second compactor
// (another process's, on the same catalog) running its own watch on the
// same table. Every run of either must leave the table at most two
// intervals behind the source (plus one second: the source's commit
// times have a resolution of one second), and in the end the table must
// equal the source.
func TestWatchKeepsFresh(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS cw", "CREATE DATABASE cw", "USE cw",
		"CREATE TABLE t (id INT PRIMARY KEY, n INT, s VARCHAR(20))")
	lake.CatchUp()

	const interval = 2 * time.Second
	run := 12 * time.Second
	if testing.Short() {
		run = 8 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	// The workload: a few changes every 100 ms.
	db := srv.DB(t)
	workErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ctx.Err() == nil; i++ {
			stmt := fmt.Sprintf("INSERT INTO cw.t VALUES (%d, %d, 'r%d') ON DUPLICATE KEY UPDATE n = n + 1", i%300, i, i)
			if i%7 == 0 {
				stmt = fmt.Sprintf("DELETE FROM cw.t WHERE id = %d", (i*13)%300)
			}
			if _, err := db.ExecContext(ctx, stmt); err != nil && ctx.Err() == nil {
				workErr <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	cfg := compactConfig(lake, t.TempDir(), "cw.t")
	type seen struct {
		end time.Time
		tr  compact.TableReport
	}
	var (
		mu    sync.Mutex
		runs  []seen
		fails []error
	)
	watch := func(name string) {
		defer wg.Done()
		c, err := compact.New(ctx, env.S3Client(), cfg)
		if err != nil {
			mu.Lock()
			fails = append(fails, err)
			mu.Unlock()
			return
		}
		defer c.Close()
		err = c.Watch(ctx, interval, func(rep *compact.Report, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails = append(fails, fmt.Errorf("%s: %w", name, err))
				return
			}
			runs = append(runs, seen{time.Now(), rep.Tables[0]})
		})
		if !errors.Is(err, context.Canceled) {
			mu.Lock()
			fails = append(fails, fmt.Errorf("%s: watch ended with %v", name, err))
			mu.Unlock()
		}
	}
	wg.Add(2)
	go watch("a")
	time.Sleep(interval / 2)
	go watch("b")

	// The lake follows the source.
	deadline := time.Now().Add(run)
	for time.Now().Before(deadline) {
		lake.CatchUp()
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case err := <-workErr:
		t.Fatal(err)
	default:
	}
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(fails) > 0 {
		t.Fatalf("watch runs failed: %v", fails)
	}
	attempts, modes := 0, map[string]int{}
	checked := 0
	for i, r := range runs {
		attempts += r.tr.Attempts - 1
		modes[r.tr.Mode]++
		if i < 2 || r.tr.Freshness.IsZero() {
			continue // the first run of each compactor catches up
		}
		checked++
		if lag := r.end.Sub(r.tr.Freshness); lag > 2*interval+time.Second {
			t.Errorf("run %d (%s, ended %s): the table holds changes up to %s: %s behind, more than two intervals",
				i, r.tr.Status, r.end.Format(time.TimeOnly), r.tr.Freshness.Format(time.TimeOnly), lag)
		}
	}
	t.Logf("%d runs (%d checked), modes %v, %d runs again after another process committed first", len(runs), checked, modes, attempts)
	if checked < 3 {
		t.Fatalf("only %d runs checked in %s with a %s interval", checked, run, interval)
	}

	// Stopped: one more run, and the table equals the source.
	lake.CatchUp()
	runCompaction(t, lake, cfg)
	checkEqual(t, cfg, "cw.t", "id")
}

// TestCommitConflict: while one compactor is about to commit a table,
// another commits it first (the table's creation, then a merge-on-read
// run). The first one's commit is refused (Iceberg's optimistic commit),
// it runs again on the new snapshot, finds the changes consumed, and the
// table equals the source: nothing applied twice, nothing lost.
func TestCommitConflict(t *testing.T) {
	srv.RequireOwned(t)
	lake := laketest.New(t, srv, env)
	srv.Exec(t, "DROP DATABASE IF EXISTS cc", "CREATE DATABASE cc", "USE cc",
		"CREATE TABLE t (id INT PRIMARY KEY, n INT)",
		"INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
	lake.CatchUp()
	dir := t.TempDir()
	other := compactConfig(lake, dir, "cc.t")
	for i, batch := range []string{"", "UPDATE cc.t SET n = n + 10 WHERE id < 3"} {
		if batch != "" {
			srv.Exec(t, batch, "DELETE FROM cc.t WHERE id = 3", "INSERT INTO cc.t VALUES (4, 4)")
			lake.CatchUp()
		}
		cfg := compactConfig(lake, dir, "cc.t")
		var once sync.Once
		compact.SetBeforeCommit(&cfg, func(string) {
			once.Do(func() {
				rep := runCompaction(t, lake, other)
				if tr := rep.Tables[0]; tr.Status != compact.StatusCompacted {
					t.Errorf("round %d: the other compactor: %+v", i, tr)
				}
			})
		})
		rep := runCompaction(t, lake, cfg)
		tr := rep.Tables[0]
		if tr.Attempts != 2 || tr.Status != compact.StatusUnchanged {
			t.Errorf("round %d: %+v: want a second attempt that finds nothing left to do", i, tr)
		}
		checkEqual(t, cfg, "cc.t", "id")
	}
}
