// Package compact turns the lake the S3 sink writes into snapshot tables:
// for each source table, its current rows (the latest change per primary
// key, in binlog order) as an Apache Iceberg table of Parquet files.
//
// A run reads the manifests the previous run of each table had not
// consumed, the objects they list for the table, and merges their events
// into the rows of the table's current snapshot:
//
//   - events are ordered by their binlog place (file sequence number,
//     offset, row), copies (one dedupe_key) are dropped;
//   - inserts and updates write the row, deletes remove it, an update that
//     changed the primary key also removes the old key;
//   - table-truncate, table-drop and database-drop clear the table;
//   - a change older than what it would overwrite is ignored (each row
//     keeps the place of its last change in the _sluice_dedupe_key column;
//     deleted keys and the last truncate are remembered), so reading an
//     event twice, late, or in a replay changes nothing.
//
// Each run commits one Iceberg snapshot per changed table, replacing all
// its data files, with the run's bookkeeping (which manifests it consumed;
// tombstones, in a file it names) in a state file the snapshot's summary
// names: the rows and the bookkeeping change together or not at all.
//
// See types.go for how JSON values map to Iceberg types.
package compact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/filter"
)

// Compactor compacts a lake's tables into an Iceberg catalog.
type Compactor struct {
	cfg       Config
	metrics   *metrics
	lake      *lake
	cat       *Catalog
	log       *slog.Logger
	filter    *filter.Filter
	closeOnce sync.Once
	closeErr  error
}

// New opens the catalog and returns a compactor reading the lake through
// api. Close it when done.
func New(ctx context.Context, api LakeAPI, cfg Config) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l, err := newLake(api, &cfg)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	cat, err := OpenCatalog(ctx, cfg.Catalog)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	f, err := filter.New(cfg.Filter)
	if err != nil {
		_ = cat.Close()
		return nil, fmt.Errorf("compact: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		_ = cat.Close()
		return nil, fmt.Errorf("compact: %w", err)
	}
	return &Compactor{cfg: cfg, metrics: m, lake: l, cat: cat, log: log.With("component", "compact"), filter: f}, nil
}

// beforeCommit calls the test hook.
func (c *Compactor) beforeCommit(tg *target) {
	if c.cfg.beforeCommit != nil {
		c.cfg.beforeCommit(tg.name)
	}
}

func (c *Compactor) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

// Catalog is the compactor's catalog.
func (c *Compactor) Catalog() *Catalog { return c.cat }

// Close closes the catalog. It is idempotent.
func (c *Compactor) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.cat.Close() })
	return c.closeErr
}

// target is one table of a run.
type target struct {
	name            string
	database, table string
	id              table.Identifier
	tbl             *table.Table // nil before the first run
	st              *tableState
	pending         []string // manifests not yet consumed
}

// Run compacts every table (Config.Tables, or all the lake holds). A table
// that fails is reported and the others go on; the error joins the
// failures.
func (c *Compactor) Run(ctx context.Context) (*Report, error) {
	refs, err := c.lake.listManifests(ctx)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	rep := &Report{Manifests: len(refs)}
	manifests := make(map[string]*manifest)
	names, err := c.tables(ctx, refs, manifests)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	targets := make([]*target, 0, len(names))
	need := make(map[string]bool)
	for _, name := range names {
		tg, err := c.target(ctx, name, refs)
		if err != nil {
			return nil, fmt.Errorf("compact: %w", err)
		}
		targets = append(targets, tg)
		for _, k := range tg.pending {
			if manifests[k] == nil {
				need[k] = true
			}
		}
	}
	keys := make([]string, 0, len(need))
	for k := range need {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bar := newProgress(c.cfg.Progress, len(keys), "manifests")
	read, err := c.lake.readManifests(ctx, keys, c.cfg.Concurrency, func() { bar.add(1) })
	bar.finish()
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	for k, m := range read {
		manifests[k] = m
	}
	rep.ManifestsRead = len(manifests)
	c.checkLayout(manifests)
	next := nextManifestState(refs, c.cfg.ManifestMargin)
	rep.Tables = make([]TableReport, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Parallel)
	for i, tg := range targets {
		g.Go(func() error {
			rep.Tables[i] = c.compactRetrying(gctx, tg, refs, manifests, next)
			return nil
		})
	}
	_ = g.Wait() // each table's failure is in its report
	var errs []error
	now := c.now()
	for i := range rep.Tables {
		tr := &rep.Tables[i]
		if tr.Table == "" { // not run: the context ended
			tr.Table, tr.Status, tr.Err = targets[i].name, StatusFailed, ctx.Err()
		}
		if !tr.Freshness.IsZero() {
			tr.Lag = max(0, now.Sub(tr.Freshness))
		}
		if tr.Err != nil {
			errs = append(errs, fmt.Errorf("compact %s: %w", tr.Table, tr.Err))
			c.log.Error("table not compacted", "table", tr.Table, "err", tr.Err)
		} else {
			c.log.Info("table compacted", "table", tr.Table, "status", tr.Status, "mode", tr.Mode, "objects", tr.Objects,
				"events", tr.Events, "rows", tr.Rows, "position", tr.Position, "lag", tr.Lag)
		}
	}
	c.metrics.observe(rep)
	return rep, errors.Join(errs...)
}

// commitAttempts is how many times a table's run is tried when another
// process commits the table first.
const commitAttempts = 5

// isConflict reports a commit refused because another process committed
// the table (or created it) after this run read it. iceberg-go reports a
// failed snapshot requirement as a plain error ("requirement failed: branch
// "main" has changed ..."), hence the text match.
func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, table.ErrCommitFailed) || errors.Is(err, catalog.ErrTableAlreadyExists) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "requirement failed: ") && (strings.Contains(msg, "has changed") || strings.Contains(msg, "created concurrently"))
}

// compactRetrying compacts one table; when another process committed the
// table meanwhile (Iceberg's optimistic commit failed), it reloads the
// table and runs again from the new snapshot.
func (c *Compactor) compactRetrying(ctx context.Context, tg *target, refs []manifestRef, manifests map[string]*manifest, next manifestState) TableReport {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return TableReport{Table: tg.name, Status: StatusFailed, Err: err}
		}
		tr := c.compactTable(ctx, tg, manifests, next)
		tr.Attempts = attempt
		if !isConflict(tr.Err) || attempt == commitAttempts {
			return tr
		}
		c.log.Warn("another process committed the table first: running again on its snapshot", "table", tg.name, "attempt", attempt, "err", tr.Err)
		fresh, err := c.target(ctx, tg.name, refs)
		if err != nil {
			tr.Err = errors.Join(tr.Err, err)
			return tr
		}
		tg = fresh
	}
}

// target loads what a table's run needs before reading the lake: its
// snapshot table, its state file, and which manifests are new to it.
func (c *Compactor) target(ctx context.Context, name string, refs []manifestRef) (*target, error) {
	database, tbl, _ := splitTable(name)
	tg := &target{name: name, database: database, table: tbl, id: Identifier(c.cfg.Namespace, database, tbl), st: newTableState(database, tbl)}
	tg.st.filter = c.filter
	t, err := c.cat.loadTable(ctx, tg.id)
	if err != nil {
		return nil, err
	}
	tg.tbl = t
	var ms manifestState
	if t != nil {
		if ms, err = loadState(ctx, t, tg.st); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	tg.pending = ms.pending(refs, c.cfg.ManifestMargin)
	return tg, nil
}

// pending lists the manifests of refs not consumed yet.
func (ms manifestState) pending(refs []manifestRef, margin time.Duration) []string {
	var out []string
	if ms.Horizon.IsZero() {
		for _, r := range refs {
			out = append(out, r.Key)
		}
		return out
	}
	from := ms.Horizon.Add(-margin)
	seen := make(map[string]bool, len(ms.Recent))
	for _, k := range ms.Recent {
		seen[k] = true
	}
	for _, r := range refs {
		if !r.LastModified.Before(from) && !seen[r.Key] {
			out = append(out, r.Key)
		}
	}
	return out
}

// nextManifestState is the manifest state after consuming every manifest
// of refs: the newest stamp, and the manifests within the margin of it.
func nextManifestState(refs []manifestRef, margin time.Duration) manifestState {
	var ms manifestState
	for _, r := range refs {
		if r.LastModified.After(ms.Horizon) {
			ms.Horizon = r.LastModified
		}
	}
	from := ms.Horizon.Add(-margin)
	for _, r := range refs {
		if !r.LastModified.Before(from) {
			ms.Recent = append(ms.Recent, r.Key)
		}
	}
	slices.Sort(ms.Recent)
	return ms
}

// compactTable runs one table.
func (c *Compactor) compactTable(ctx context.Context, tg *target, manifests map[string]*manifest, next manifestState) (tr TableReport) {
	tr = TableReport{Table: tg.name, Identifier: strings.Join(tg.id, "."), Status: StatusUnchanged}
	if tg.tbl != nil {
		tr.Rows = rowCount(tg.tbl)
		tr.Position = placeString(tg.st.maxAt, tg.st.maxSID)
	}
	defer func() {
		if ts := tg.st.maxTS; ts > 0 && tr.Status != StatusFailed && tr.Position != "" {
			tr.Freshness = time.Unix(int64(ts), 0).UTC()
		}
	}()
	if len(tg.pending) == 0 {
		return tr
	}
	st := tg.st
	objects := make(map[string]int64) // key → uncompressed bytes
	for _, k := range tg.pending {
		m := manifests[k]
		if m == nil {
			tr.Status, tr.Err = StatusFailed, fmt.Errorf("manifest %s was not read", k)
			return tr
		}
		for _, o := range m.Objects {
			if o.Last != "" {
				if at, sid, err := parseDedupeKey(o.Last); err == nil {
					if at.gen = o.LastGen; at.compare(st.lakeAt) > 0 {
						st.lakeAt, st.lakeSID = at, sid
					}
				}
			}
			db, t, ok := c.lake.objectTable(o.Key)
			if !ok && (c.lake.dbIdx >= 0 && c.lake.tblIdx >= 0) {
				continue // not a partition of the layout
			}
			if !ok || db == tg.database && (t == tg.table || t == "") {
				objects[o.Key] = int64(o.Bytes)
			}
		}
	}
	for k := range objects {
		tr.ObjectKeys = append(tr.ObjectKeys, k)
	}
	slices.Sort(tr.ObjectKeys)
	tr.Objects = len(tr.ObjectKeys)
	var batchBytes int64
	for _, n := range objects {
		batchBytes += n
	}
	// restart starts again from the table's state after a path that could
	// not finish the run.
	restart := func(why string) bool {
		tr.ModeWhy = why
		fresh := newTableState(tg.database, tg.table)
		if tg.tbl != nil {
			if _, err := loadState(ctx, tg.tbl, fresh); err != nil {
				tr.Status, tr.Err = StatusFailed, err
				return false
			}
		}
		fresh.lakeAt, fresh.lakeSID = st.lakeAt, st.lakeSID
		st, tg.st = fresh, fresh
		return true
	}
	// sorted runs the run as a sorted rewrite; it reports whether the run
	// is over (done or failed).
	notSorted := false
	sorted := func(feed func(add func(*change) error) error) bool {
		err := c.sortedRewrite(ctx, tg, &tr, feed, next)
		var ns errNotSorted
		switch {
		case err == nil:
			return true
		case errors.As(err, &ns) && ns.why != whyNoChange && !c.cfg.holdTable:
			// A schema or primary key change: replay the run in
			// binlog order through the sort.
			if !restart(ns.why) {
				return true
			}
			err = c.orderedRewrite(ctx, tg, &tr, feed, next)
			if err == nil {
				return true
			}
		case errors.As(err, &ns):
			notSorted = true
			if ns.why != whyNoChange {
				c.log.Warn("run holds the table in memory", "table", tg.name, "why", ns.why)
			}
			return !restart(ns.why)
		}
		tr.Status, tr.Err = StatusFailed, err
		if errors.Is(err, errNoPrimaryKey) {
			tr.Status = StatusSkipped
		}
		return true
	}
	if _, stream := c.cfg.sortBudgets(); batchBytes > stream {
		// More than memory should hold as parsed changes: stream them
		// into the external sort.
		done := sorted(func(add func(*change) error) error {
			notes, err := c.eachChange(ctx, tg, tr.ObjectKeys, add)
			tr.Note = strings.Join(notes, "; ")
			return err
		})
		if done {
			return tr
		}
	}
	changes, notes, err := c.readChanges(ctx, tg, tr.ObjectKeys)
	if err != nil {
		tr.Status, tr.Err = StatusFailed, err
		return tr
	}
	tr.Events = len(changes)
	tr.Note = strings.Join(notes, "; ")
	if len(changes) > 0 && tg.tbl != nil && tg.tbl.CurrentSnapshot() != nil {
		tr.ModeWhy = mergeOnRead(tg, changes, c.cfg.MaxDeleteFiles)
		if tr.ModeWhy == "" {
			if c.mergeOnRead(ctx, tg, &tr, changes, next) {
				return tr
			}
			// A column's type cannot be promoted: rewrite the table.
			if !restart(tr.ModeWhy) {
				return tr
			}
		}
	}
	if len(changes) > 0 && !notSorted {
		done := sorted(func(add func(*change) error) error {
			for _, ch := range changes {
				if err := add(ch); err != nil {
					return err
				}
			}
			return nil
		})
		if done {
			return tr
		}
	}
	if len(changes) > 0 && tg.tbl != nil && tg.tbl.CurrentSnapshot() != nil {
		if err := loadRows(ctx, tg.tbl, st); err != nil {
			tr.Status, tr.Err = StatusFailed, fmt.Errorf("read snapshot: %w", err)
			return tr
		}
		if err := st.loadTombs(ctx, tg.tbl); err != nil {
			tr.Status, tr.Err = StatusFailed, err
			return tr
		}
	}
	if err := st.applyAll(changes); err != nil {
		tr.Status = StatusFailed
		if errors.Is(err, errNoPrimaryKey) {
			tr.Status = StatusSkipped
		}
		tr.Err = err
		return tr
	}
	tr.Applied, tr.Stale, tr.Duplicates = st.stats.Applied, st.stats.Stale, st.stats.Duplicates
	if len(st.notes) > 0 {
		tr.Note = strings.TrimSpace(tr.Note + " " + strings.Join(st.notes, "; "))
	}
	st.expireTombstones(c.cfg.TombstoneRetention)
	var prev *iceberg.Schema
	if tg.tbl != nil {
		prev = tg.tbl.Schema()
	}
	cols := st.columns(prev)
	if len(cols) == 0 {
		tr.Note = strings.TrimSpace(tr.Note + " no row has been seen yet")
		return tr
	}
	props := iceberg.Properties{
		PropPosition:     placeString(st.maxAt, st.maxSID),
		PropLakePosition: placeString(st.lakeAt, st.lakeSID),
		PropObjects:      fmt.Sprint(tr.Objects),
		PropEvents:       fmt.Sprint(tr.Events),
	}
	tbl := tg.tbl
	if tbl == nil {
		if tbl, err = c.createTable(ctx, tg, cols); err != nil {
			tr.Status, tr.Err = StatusFailed, err
			return tr
		}
		tr.Identifier = strings.Join(tg.id, ".")
	}
	if len(changes) > 0 {
		if err := c.saveTombs(ctx, tbl, st, nil); err != nil {
			tr.Status, tr.Err = StatusFailed, err
			return tr
		}
	}
	state, err := encodeState(st, next)
	if err != nil {
		tr.Status, tr.Err = StatusFailed, fmt.Errorf("encode state: %w", err)
		return tr
	}
	c.beforeCommit(tg)
	if len(changes) == 0 && tg.tbl != nil {
		props[PropRows] = fmt.Sprint(rowCount(tbl))
		tbl, err = commitState(ctx, tbl, state, props)
		tr.Status = StatusAdvanced
	} else {
		props[PropMode] = ModeCopyOnWrite
		props[PropRows] = fmt.Sprint(len(st.rows))
		tbl, err = commitSnapshot(ctx, tbl, st, cols, state, props, c.cfg.TargetFileSize)
		tr.Status, tr.Mode = StatusCompacted, ModeCopyOnWrite
	}
	if err != nil {
		tr.Status, tr.Err = StatusFailed, err
		return tr
	}
	tr.Rows = rowCount(tbl)
	tr.Columns = len(cols)
	tr.Nulled = st.nulled
	tr.Position = placeString(st.maxAt, st.maxSID)
	if s := tbl.CurrentSnapshot(); s != nil {
		tr.SnapshotID = s.SnapshotID
	}
	return tr
}

// readChanges reads the objects and returns the events of tg's table.
func (c *Compactor) readChanges(ctx context.Context, tg *target, keys []string) ([]*change, []string, error) {
	var changes []*change
	notes, err := c.eachChange(ctx, tg, keys, func(ch *change) error {
		changes = append(changes, ch)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return changes, notes, nil
}

// eachChange reads the objects and calls fn with each event of tg's
// table, one call at a time.
func (c *Compactor) eachChange(ctx context.Context, tg *target, keys []string, fn func(*change) error) ([]string, error) {
	bar := newProgress(c.cfg.Progress, len(keys), tg.name)
	defer bar.finish()
	var (
		mu    sync.Mutex
		notes []string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for _, key := range keys {
		g.Go(func() error {
			data, err := c.lake.readObject(gctx, key)
			if err != nil {
				return err
			}
			var mine []*change
			var note []string
			for n, line := range splitLines(data) {
				ch, err := parseChange(line)
				if err != nil {
					return fmt.Errorf("s3://%s/%s line %d: %w", c.lake.bucket, key, n+1, err)
				}
				if ch.database != tg.database {
					continue
				}
				switch {
				case ch.table == tg.table:
				case ch.typ == "database-drop":
				default:
					continue
				}
				if ch.typ == "table-rename" && ch.renamedFrom != "" {
					note = append(note, "renamed from "+ch.renamedFrom+" at "+ch.dedupe+": rows from before the rename are not in this table's lake")
				}
				mine = append(mine, ch)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ch := range mine {
				if err := fn(ch); err != nil {
					return err
				}
			}
			notes = append(notes, note...)
			bar.add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return notes, nil
}

// splitLines returns data's non-empty lines.
func splitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := 0
		for i < len(data) && data[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, data[:i])
		}
		if i == len(data) {
			break
		}
		data = data[i+1:]
	}
	return out
}

// createTable creates a table's snapshot table.
func (c *Compactor) createTable(ctx context.Context, tg *target, cols []column) (*table.Table, error) {
	if err := c.cat.ensureNamespace(ctx, tg.id[:len(tg.id)-1]); err != nil {
		return nil, err
	}
	t, err := c.cat.CreateTable(ctx, tg.id, newSchema(cols, tg.st.genColumn()), catalogProps(tg.name))
	if err != nil {
		return nil, fmt.Errorf("create iceberg table %s: %w", strings.Join(tg.id, "."), err)
	}
	return t, nil
}
