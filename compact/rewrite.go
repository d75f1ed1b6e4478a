package compact

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// A sorted rewrite is a copy-on-write run whose memory does not grow with
// the table: every version of every key (the table's rows, its
// tombstones, the run's changes) goes through an external sort by key and
// binlog place, bounded by Config.Memory, and the latest version of each
// key is written out as it comes, in key order. Only the run's schema
// bookkeeping, the tombstones and one Arrow batch are held at a time.
//
// It covers runs of row changes, truncates and drops, and a CREATE TABLE
// older than every row change of a table with no rows yet (a first run).
// ALTER TABLE events (whose defaults and renames change rows written
// before them) and a change of primary key need the run in binlog order:
// those runs are ordered rewrites (ordered.go).

// sortedBatchRows is how many rows a sorted rewrite hands the Parquet
// writer at once.
const sortedBatchRows = 16 << 10

// whyNoChange: a streamed run found no change of the table (its objects
// held only other tables' events).
const whyNoChange = "no change for the table"

// errNotSorted says a run cannot be a sorted rewrite: the caller falls
// back to the in-memory path.
type errNotSorted struct{ why string }

func (e errNotSorted) Error() string { return "not a sorted rewrite: " + e.why }

// rewriteRun collects a run's changes for a sorted rewrite.
type rewriteRun struct {
	st      *tableState
	srt     *sorter
	globals []*change // schema changes, truncates, drops
	events  int
	pk      []string
	minRow  place // lowest place of a row change
	shape   []string
	shapeAt place
	stats   map[int]*typeStats // by column index
	scratch []any
	// spilled counts the versions spilled by sorters replaced (rekey).
	spilled int
	// tombs receives the deleted keys as rows are written out.
	tombs *tombWriter
}

func newRewriteRun(st *tableState, srt *sorter) *rewriteRun {
	return &rewriteRun{st: st, srt: srt, stats: make(map[int]*typeStats)}
}

// add takes one change of the run.
func (w *rewriteRun) add(c *change) error {
	w.events++
	st := w.st
	if c.place.compare(st.maxAt) > 0 {
		st.maxAt, st.maxSID = c.place, c.serverID
	}
	st.maxTS = max(st.maxTS, c.ts)
	if c.kind != kindUpsert && c.kind != kindDelete {
		if c.typ == "table-alter" && c.sql != "" {
			// Stop reading: the run is an ordered rewrite.
			return errNotSorted{"ALTER TABLE at " + c.dedupe}
		}
		w.globals = append(w.globals, c)
		return nil
	}
	if len(c.pk) == 0 {
		return errNoPrimaryKey
	}
	st.dropFiltered(c)
	switch {
	case w.pk == nil && len(st.pk) > 0 && !slices.Equal(st.pk, c.pk):
		return errNotSorted{"the primary key changed"}
	case w.pk == nil:
		w.pk = c.pk
	case !slices.Equal(w.pk, c.pk):
		return errNotSorted{"the primary key changed"}
	}
	if w.minRow.isZero() || c.place.compare(w.minRow) < 0 {
		w.minRow = c.place
	}
	if c.place.compare(w.shapeAt) > 0 && len(c.cols) > 0 {
		w.shape, w.shapeAt = c.cols, c.place
	}
	return w.addVersions(c)
}

// addVersions adds the versions a row change makes: its row image (or
// deletion) under its key, and the deletion of its old key when an update
// changed the key. Values go by the columns' indexes at the time.
func (w *rewriteRun) addVersions(c *change) error {
	st := w.st
	key := keyOf(c.key)
	if c.kind == kindDelete {
		return w.srt.add(version{key: key, at: c.place, sid: c.serverID, ts: c.ts, del: true})
	}
	if c.old != nil {
		oldVals := make([]any, len(c.pk))
		changed := false
		for i, name := range c.pk {
			oldVals[i] = c.key[i]
			if v, ok := c.old[name]; ok {
				oldVals[i], changed = v, true
			}
		}
		if oldKey := keyOf(oldVals); changed && oldKey != key {
			if err := w.srt.add(version{key: oldKey, at: c.place, sid: c.serverID, ts: c.ts, del: true}); err != nil {
				return err
			}
		}
	}
	vals := w.scratch[:0]
	for i, name := range c.cols {
		idx := st.col(name)
		if idx >= len(vals) {
			vals = append(vals, make([]any, idx+1-len(vals))...)
		}
		vals[idx] = c.vals[i]
		w.stat(idx).add(c.vals[i])
	}
	w.scratch = vals
	enc := encodeValues(nil, vals)
	clear(vals)
	return w.srt.add(version{key: key, at: c.place, sid: c.serverID, ts: c.ts, vals: enc})
}

// prepare applies the run's schema changes, truncates and drops to the
// state once every change is in. hasRows tells whether the table has rows.
func (w *rewriteRun) prepare(hasRows bool) error {
	st := w.st
	// add has refused a change of key and stopped at an ALTER TABLE.
	slices.SortStableFunc(w.globals, func(a, b *change) int { return a.place.compare(b.place) })
	for _, c := range w.globals {
		if c.sql == "" || c.typ != "table-create" {
			continue
		}
		if hasRows || !w.minRow.isZero() && c.place.compare(w.minRow) > 0 {
			return errNotSorted{"CREATE TABLE at " + c.dedupe + " after rows"}
		}
	}
	var prev *change
	for _, c := range w.globals {
		if prev != nil && prev.place == c.place {
			st.stats.Duplicates++
			continue
		}
		prev = c
		if err := st.apply(c); err != nil {
			return fmt.Errorf("%s: apply %s event %s: %w", st.name(), c.typ, c.dedupe, err)
		}
	}
	if w.shapeAt.compare(st.shapeAt) > 0 {
		st.shape, st.shapeAt = w.shape, w.shapeAt
	}
	if len(st.pk) == 0 && w.pk != nil {
		st.pk = slices.Clone(w.pk)
	}
	if st.maxAt.compare(st.pkAt) > 0 && w.pk != nil {
		st.pkAt = st.maxAt
	}
	w.setValStats()
	return nil
}

// stat returns the value statistics of column index idx.
func (w *rewriteRun) stat(idx int) *typeStats {
	ts := w.stats[idx]
	if ts == nil {
		ts = &typeStats{}
		w.stats[idx] = ts
	}
	return ts
}

// setValStats names the run's value statistics by the columns' current
// names.
func (w *rewriteRun) setValStats() {
	st := w.st
	st.valStats = make(map[string]*typeStats, len(w.stats))
	for idx, ts := range w.stats {
		st.valStats[st.cols[idx]] = ts
	}
}

// addTable adds the table's current rows and tombstones as old versions.
func (w *rewriteRun) addTable(ctx context.Context, tbl *table.Table) error {
	st := w.st
	err := st.eachTomb(ctx, tbl, func(k string, t tomb) error {
		return w.srt.add(version{key: k, at: t.at, ts: t.ts, del: true, old: true})
	})
	if err != nil {
		return err
	}
	clear(st.tombs)
	st.tombFile, st.tombCount = "", 0
	if tbl == nil || tbl.CurrentSnapshot() == nil {
		return nil
	}
	snap := tbl.CurrentSnapshot()
	// One file at a time: a file's row group decodes into memory.
	_, records, err := tbl.Scan(table.WithMaxConcurrency(1)).ToArrowRecords(ctx)
	if err != nil {
		return fmt.Errorf("scan snapshot %d: %w", snap.SnapshotID, err)
	}
	for rec, err := range records {
		if err != nil {
			return fmt.Errorf("scan snapshot %d: %w", snap.SnapshotID, err)
		}
		err = st.recordRows(rec, func(key string, r *row) error {
			return w.srt.add(version{key: key, at: r.at, sid: r.sid, old: true, vals: encodeValues(nil, r.vals)})
		})
		rec.Release()
		if err != nil {
			return fmt.Errorf("snapshot %d: %w", snap.SnapshotID, err)
		}
	}
	return nil
}

// latest returns the version of a key's versions (by place) that holds,
// nil when a truncate or drop voids them all, and counts the run's
// changes as applied, stale or copies.
func (w *rewriteRun) latest(vs []version) *version {
	st := w.st
	var oldAt place
	for i := range vs {
		if vs[i].old && vs[i].at.compare(oldAt) > 0 {
			oldAt = vs[i].at
		}
	}
	var last *version
	for i := range vs {
		v := &vs[i]
		switch {
		case i > 0 && vs[i-1].at == v.at:
			if !v.old {
				st.stats.Duplicates++
			}
			continue
		case v.at.compare(st.cleared) <= 0:
			if !v.old {
				st.stats.Stale++
			}
			continue
		case !v.old && v.at.compare(oldAt) < 0:
			st.stats.Stale++
		case !v.old:
			st.stats.Applied++
		}
		last = v
	}
	return last
}

// rows yields the latest row of every key, in key order, as record
// batches of schema sc, writes the deleted keys to the tombstone writer
// and leaves the rows' count in *n.
func (w *rewriteRun) rows(sc *arrow.Schema, cols []column, n *int64) iter.Seq2[arrow.RecordBatch, error] {
	st := w.st
	types := make(map[string]colType, len(cols))
	for _, c := range cols {
		types[c.name] = c.typ
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		batch := make([]*row, 0, sortedBatchRows)
		stop := errors.New("stop")
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			rec, err := st.record(sc, types, batch)
			clear(batch)
			batch = batch[:0]
			if err != nil {
				return err
			}
			if !yield(rec, nil) {
				return stop
			}
			return nil
		}
		err := w.srt.groups(func(vs []version) error {
			last := w.latest(vs)
			switch {
			case last == nil:
				return nil
			case last.del:
				return w.tombs.add(last.key, tomb{at: last.at, ts: last.ts})
			}
			vals, err := decodeValues(last.vals)
			if err != nil {
				return fmt.Errorf("sorted run: %w", err)
			}
			vals = st.applyFills(vals, last.at)
			batch = append(batch, &row{vals: vals, at: last.at, sid: last.sid})
			*n++
			if len(batch) == sortedBatchRows {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil && err != stop {
			yield(nil, err)
		}
	}
}

// sortedRewrite compacts tg copy-on-write through the external sort. feed
// hands every change of the run to add.
func (c *Compactor) sortedRewrite(ctx context.Context, tg *target, tr *TableReport, feed func(add func(*change) error) error, next manifestState) error {
	st := tg.st
	buffer, _ := c.cfg.sortBudgets()
	srt := newSorter(c.cfg.TempDir, buffer)
	defer func() {
		if err := srt.close(); err != nil {
			c.log.Warn("sorted runs not removed", "err", err)
		}
	}()
	w := newRewriteRun(st, srt)
	if err := feed(w.add); err != nil {
		return err
	}
	tr.Events = w.events
	if w.events == 0 {
		return errNotSorted{whyNoChange}
	}
	hasRows := tg.tbl != nil && rowCount(tg.tbl) > 0
	if err := w.prepare(hasRows); err != nil {
		return err
	}
	return c.writeRewrite(ctx, tg, tr, w, next, func() error { return w.addTable(ctx, tg.tbl) })
}

// writeRewrite writes the rows of a sorted or ordered rewrite and commits
// them. read, when set, adds the table's rows to the sort once the run's
// columns are known.
func (c *Compactor) writeRewrite(ctx context.Context, tg *target, tr *TableReport, w *rewriteRun, next manifestState, read func() error) error {
	st := tg.st
	var prev *iceberg.Schema
	if tg.tbl != nil {
		prev = tg.tbl.Schema()
	}
	cols := st.columns(prev)
	if len(cols) == 0 {
		tr.Note = strings.TrimSpace(tr.Note + " no row has been seen yet")
		return nil
	}
	if read != nil {
		if err := read(); err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
	}
	c.beforeCommit(tg)
	tbl := tg.tbl
	if tbl == nil {
		var err error
		if tbl, err = c.createTable(ctx, tg, cols); err != nil {
			return err
		}
	}
	tx, err := newTransaction(tbl)
	if err != nil {
		return err
	}
	if err := evolve(tx, tbl.Schema(), cols, st.genColumn()); err != nil {
		return err
	}
	if err := setTableProps(tx, tbl, st); err != nil {
		return err
	}
	staged, err := tx.StagedTable()
	if err != nil {
		return err
	}
	sc, err := table.SchemaToArrowSchema(staged.Schema(), nil, true, false)
	if err != nil {
		return err
	}
	var (
		added []iceberg.DataFile
		rows  int64
	)
	if w.tombs, err = newTombWriter(c.cfg.TempDir, st.tombHorizon(c.cfg.TombstoneRetention)); err != nil {
		return err
	}
	for df, err := range table.WriteRecords(ctx, staged.Table, sc, w.rows(sc, cols, &rows), table.WithTargetFileSize(c.cfg.TargetFileSize), table.WithRecordBatchBufferSize(2)) {
		if err != nil {
			w.tombs.discard()
			return fmt.Errorf("write data files: %w", err)
		}
		added = append(added, df)
	}
	if st.tombFile, st.tombCount, err = w.tombs.finish(ctx, tbl); err != nil {
		return err
	}
	tr.Applied, tr.Stale, tr.Duplicates = st.stats.Applied, st.stats.Stale, st.stats.Duplicates
	if len(st.notes) > 0 {
		tr.Note = strings.TrimSpace(tr.Note + " " + strings.Join(st.notes, "; "))
	}
	st.expireTombstones(c.cfg.TombstoneRetention)
	state, err := encodeState(st, next)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	props := iceberg.Properties{
		PropPosition:     placeString(st.maxAt, st.maxSID),
		PropLakePosition: placeString(st.lakeAt, st.lakeSID),
		PropObjects:      fmt.Sprint(tr.Objects),
		PropEvents:       fmt.Sprint(tr.Events),
		PropRows:         fmt.Sprint(rows),
		PropMode:         ModeCopyOnWrite,
	}
	out, err := commitFiles(ctx, tbl, tx, added, state, props)
	if err != nil {
		return err
	}
	tr.Status, tr.Mode = StatusCompacted, ModeCopyOnWrite
	tr.Identifier = strings.Join(tg.id, ".")
	tr.Rows = rowCount(out)
	tr.Columns = len(cols)
	tr.Nulled = st.nulled
	tr.Position = placeString(st.maxAt, st.maxSID)
	if s := out.CurrentSnapshot(); s != nil {
		tr.SnapshotID = s.SnapshotID
	}
	tr.Spilled = w.spilled + w.srt.spilled
	return nil
}
