package compact

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Merge on read: a run whose changes are all row changes newer than
// anything the table holds does not read the table at all. The latest
// image of each changed key goes into one new data file, and every changed
// key (written or deleted) into an equality delete file on the primary
// key; both are committed in one snapshot (an Iceberg row delta). Readers
// drop the rows of older data files whose key is in the delete file, so
// the table shows each key's latest image. The run's cost follows the
// number of changes, not the table's size.
//
// A change is newer than anything the table holds when its binlog place is
// past the table's position (the highest place any run applied): it then
// wins over the row of its key whatever that row is, which is the only
// thing the table would have to be read for. Everything else takes the
// copy-on-write path, which reads the table and rewrites all its files,
// and with them removes the delete files merge-on-read runs left:
//
//   - schema changes, truncates and drops, a change of primary key;
//   - a table snapshot's bootstrap-insert events (their keys may hold rows
//     already, which the table's row count needs to know);
//   - a change at or before the table's position (a replay, a late object);
//   - a column whose type must change in a way Iceberg cannot promote
//     (a long column receiving a fraction, say): the old files hold the
//     old type;
//   - a table that has MaxDeleteFiles delete files already, so reads do
//     not slow down without bound.

// mergeOnRead reports why a run's changes cannot be merged on read, or ""
// when they can.
func mergeOnRead(tg *target, changes []*change, maxDeleteFiles int) string {
	st := tg.st
	snap := tg.tbl.CurrentSnapshot()
	if snap == nil {
		return "no snapshot yet"
	}
	if len(st.pk) == 0 {
		return "no primary key yet"
	}
	if n, _ := strconv.Atoi(snap.Summary.Properties["total-delete-files"]); n >= maxDeleteFiles {
		return fmt.Sprintf("%d delete files: rewriting the table", n)
	}
	for _, c := range changes {
		switch {
		case c.kind != kindUpsert && c.kind != kindDelete:
			return c.typ + " event"
		case c.typ == "bootstrap-insert":
			// A snapshot's rows may be there already: the row count
			// would need the table.
			return "bootstrap-insert events"
		case c.place.compare(st.maxAt) <= 0:
			return "a change at or before the table's position " + placeString(st.maxAt, st.maxSID)
		case !slices.Equal(c.pk, st.pk):
			return "primary key changed"
		}
	}
	return ""
}

// typesKeep reports whether the old data files can be read with cols'
// types: every column is new, of the same type, promoted the way Iceberg
// allows, or held only NULLs so far.
func typesKeep(prev *iceberg.Schema, cols []column, untyped map[string]bool) bool {
	for _, c := range cols {
		f, ok := prev.FindFieldByName(c.name)
		if !ok || untyped[c.name] {
			continue
		}
		if t := c.typ.iceberg(); !f.Type.Equals(t) && !promotable(f.Type, t) {
			return false
		}
	}
	return true
}

// commitMergeOnRead writes the run's rows as one data file and its keys as
// an equality delete file, with the run's state, in one snapshot. st holds
// only the rows the run wrote and, in st.deleted, the keys it deleted.
func commitMergeOnRead(ctx context.Context, tbl *table.Table, st *tableState, cols []column, state []byte, props iceberg.Properties, targetFileSize int64) (*table.Table, error) {
	tx, err := newTransaction(tbl)
	if err != nil {
		return nil, err
	}
	if err := evolve(tx, tbl.Schema(), cols, st.genColumn()); err != nil {
		return nil, err
	}
	staged, err := tx.StagedTable()
	if err != nil {
		return nil, err
	}
	schema := staged.Schema()
	sc, err := table.SchemaToArrowSchema(schema, nil, true, false)
	if err != nil {
		return nil, err
	}
	var added []iceberg.DataFile
	if len(st.rows) > 0 {
		for df, err := range table.WriteRecords(ctx, staged.Table, sc, st.records(sc, cols, st.sortedRows()), table.WithTargetFileSize(targetFileSize), table.WithRecordBatchBufferSize(2)) {
			if err != nil {
				return nil, fmt.Errorf("write data files: %w", err)
			}
			added = append(added, df)
		}
	}
	ids := make([]int, len(st.pk))
	for i, name := range st.pk {
		f, ok := schema.FindFieldByName(name)
		if !ok {
			return nil, fmt.Errorf("primary key column %s is not in the table", name)
		}
		ids[i] = f.ID
	}
	keySchema, err := schema.Select(true, st.pk...)
	if err != nil {
		return nil, fmt.Errorf("primary key columns: %w", err)
	}
	ksc, err := table.SchemaToArrowSchema(keySchema, nil, true, false)
	if err != nil {
		return nil, err
	}
	types := make(map[string]colType, len(cols))
	for _, c := range cols {
		types[c.name] = c.typ
	}
	deletes, err := tx.WriteEqualityDeletes(ctx, ids, st.changedKeys(ksc, types))
	if err != nil {
		return nil, fmt.Errorf("write equality deletes: %w", err)
	}
	loc, err := writeStateFile(ctx, tbl, state)
	if err != nil {
		return nil, err
	}
	props[PropState] = loc
	props[PropMode] = ModeMergeOnRead
	if len(added) == 0 && len(deletes) == 0 {
		err = tx.AddFiles(ctx, nil, props, false)
	} else {
		err = tx.NewRowDelta(props).AddRows(added...).AddDeletes(deletes...).Commit(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("stage snapshot: %w", err)
	}
	out, err := tx.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("commit snapshot: %w", err)
	}
	return out, nil
}

// changedKeys yields the primary key of every row the run wrote or deleted,
// once each, as record batches of schema sc (the key columns).
func (s *tableState) changedKeys(sc *arrow.Schema, types map[string]colType) iter.Seq2[arrow.RecordBatch, error] {
	pkIdx := make([]int, len(s.pk))
	for i, name := range s.pk {
		pkIdx[i] = s.col(name)
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		n := 0
		flush := func() bool {
			if n == 0 {
				return true
			}
			rec := b.NewRecordBatch()
			n = 0
			return yield(rec, nil)
		}
		add := func(vals []any) bool {
			for fi, f := range sc.Fields() {
				i := slices.Index(s.pk, f.Name)
				if i < 0 {
					yield(nil, fmt.Errorf("equality delete column %s is not in the primary key", f.Name))
					return false
				}
				if _, err := appendValue(b.Field(fi), types[f.Name], vals[i]); err != nil {
					yield(nil, fmt.Errorf("primary key column %s: %w", f.Name, err))
					return false
				}
			}
			n++
			return n < batchRows || flush()
		}
		vals := make([]any, len(s.pk))
		for k, r := range s.rows {
			if _, ok := s.deleted[k]; ok {
				continue // also deleted in the run: added below
			}
			for i, ci := range pkIdx {
				vals[i] = r.value(ci)
			}
			if !add(vals) {
				return
			}
		}
		for _, vals := range s.deleted {
			if !add(vals) {
				return
			}
		}
		flush()
	}
}

// mergeOnRead compacts tg's changes merge-on-read into tr. It returns
// false, having committed nothing, when a column's type changes in a way
// the old data files cannot be read with: the caller rewrites the table.
func (c *Compactor) mergeOnRead(ctx context.Context, tg *target, tr *TableReport, changes []*change, next manifestState) bool {
	st := tg.st
	st.deleted = make(map[string][]any)
	st.existed = make(map[string]bool)
	untyped := maps.Clone(st.untyped)
	fail := func(err error) bool {
		tr.Status, tr.Err = StatusFailed, err
		return true
	}
	if err := st.applyAll(changes); err != nil {
		return fail(err)
	}
	prev := tg.tbl.Schema()
	cols := st.columns(prev)
	if !typesKeep(prev, cols, untyped) {
		tr.ModeWhy = "a column's type changed beyond what Iceberg promotes"
		return false
	}
	tr.Applied, tr.Stale, tr.Duplicates = st.stats.Applied, st.stats.Stale, st.stats.Duplicates
	if len(st.notes) > 0 {
		tr.Note = strings.TrimSpace(tr.Note + " " + strings.Join(st.notes, "; "))
	}
	rows := rowCount(tg.tbl)
	for k, existed := range st.existed {
		_, now := st.rows[k]
		switch {
		case now && !existed:
			rows++
		case !now && existed:
			rows--
		}
	}
	st.expireTombstones(c.cfg.TombstoneRetention)
	// The previous tombstones carry over but for the keys the run
	// changed: its own tombstones, or rows again. A run that deleted
	// nothing keeps the file as it is: a tombstone older than its key's
	// row changes nothing, and the expired go with the next new file.
	if len(st.tombs) > 0 {
		err := c.saveTombs(ctx, tg.tbl, st, func(k string) bool {
			_, touched := st.existed[k]
			return !touched
		})
		if err != nil {
			return fail(err)
		}
	}
	state, err := encodeState(st, next)
	if err != nil {
		return fail(fmt.Errorf("encode state: %w", err))
	}
	props := iceberg.Properties{
		PropPosition:     placeString(st.maxAt, st.maxSID),
		PropLakePosition: placeString(st.lakeAt, st.lakeSID),
		PropObjects:      fmt.Sprint(tr.Objects),
		PropEvents:       fmt.Sprint(tr.Events),
		PropRows:         fmt.Sprint(rows),
	}
	c.beforeCommit(tg)
	tbl, err := commitMergeOnRead(ctx, tg.tbl, st, cols, state, props, c.cfg.TargetFileSize)
	if err != nil {
		return fail(err)
	}
	tr.Status, tr.Mode = StatusCompacted, ModeMergeOnRead
	tr.Rows = rowCount(tbl)
	tr.Columns = len(cols)
	tr.Nulled = st.nulled
	tr.Position = placeString(st.maxAt, st.maxSID)
	if s := tbl.CurrentSnapshot(); s != nil {
		tr.SnapshotID = s.SnapshotID
	}
	return true
}
