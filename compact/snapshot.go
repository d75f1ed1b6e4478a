package compact

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/sluicecdc/sluice/internal/atomicfile"
)

// loadState restores a table's bookkeeping from its current snapshot: the
// state file the summary names, and the columns' types.
func loadState(ctx context.Context, tbl *table.Table, st *tableState) (manifestState, error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return manifestState{}, nil
	}
	path := snap.Summary.Properties[PropState]
	if path == "" {
		return manifestState{}, fmt.Errorf("snapshot %d has no %s property: the table was not written by sluice compact", snap.SnapshotID, PropState)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return manifestState{}, err
	}
	b, err := readFile(fs, path)
	if err != nil {
		return manifestState{}, fmt.Errorf("read compaction state %s: %w", path, err)
	}
	ms, err := decodeState(b, st)
	if err != nil {
		return manifestState{}, fmt.Errorf("compaction state %s: %w", path, err)
	}
	for _, f := range tbl.Schema().Fields() {
		if f.Name == ColumnPlace || f.Name == ColumnGeneration {
			continue
		}
		ct, ok := colTypeOf(f.Type)
		if !ok {
			return manifestState{}, fmt.Errorf("column %s has type %s, which sluice compact never writes", f.Name, f.Type)
		}
		st.types[f.Name] = ct
		st.col(f.Name)
	}
	return ms, nil
}

// loadRows reads every row of the table's current snapshot.
func loadRows(ctx context.Context, tbl *table.Table, st *tableState) error {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil
	}
	_, records, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return fmt.Errorf("scan snapshot %d: %w", snap.SnapshotID, err)
	}
	for rec, err := range records {
		if err != nil {
			return fmt.Errorf("scan snapshot %d: %w", snap.SnapshotID, err)
		}
		err = st.addRecord(rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("snapshot %d: %w", snap.SnapshotID, err)
		}
	}
	return nil
}

func readFile(fs icebergio.IO, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(f)
}

// column is a snapshot column: its name and type.
type column struct {
	name string
	typ  colType
}

// columns decides the snapshot's columns: the current shape (or, before
// any row image, the previous snapshot's), each typed by its values and
// its previous type.
func (s *tableState) columns(prev *iceberg.Schema) []column {
	names := s.shape
	if len(names) == 0 && prev != nil {
		for _, f := range prev.Fields() {
			if f.Name != ColumnPlace && f.Name != ColumnGeneration {
				names = append(names, f.Name)
			}
		}
	}
	out := make([]column, 0, len(names))
	for _, name := range names {
		var ts typeStats
		if t, ok := s.types[name]; ok && !s.untyped[name] {
			ts.addType(t)
		}
		if h, ok := s.hints[name]; ok {
			ts.addType(h)
		}
		if ci, ok := s.colIdx[name]; ok {
			for _, r := range s.rows {
				ts.add(r.value(ci))
			}
		}
		if vs := s.valStats[name]; vs != nil {
			ts.join(vs)
		}
		t := ts.result()
		if t.kind.isTemporal() && slices.Contains(s.pk, name) {
			// A key column stays text: rows read back must key as
			// the lake's text does.
			t = colType{kind: typeString}
		}
		if h, ok := s.hints[name]; ok && t.kind.isTemporal() && h.kind == t.kind {
			s.fracs[name] = h.prec
		}
		delete(s.untyped, name)
		if t.kind == typeNone {
			t.kind = typeString
			s.untyped[name] = true
		}
		out = append(out, column{name: name, typ: t})
	}
	return out
}

// newSchema is the schema of a new snapshot table; gen adds the
// generation column.
func newSchema(cols []column, gen bool) *iceberg.Schema {
	fields := make([]iceberg.NestedField, 0, len(cols)+2)
	for i, c := range cols {
		fields = append(fields, iceberg.NestedField{ID: i + 1, Name: c.name, Type: c.typ.iceberg()})
	}
	fields = append(fields, iceberg.NestedField{ID: len(cols) + 1, Name: ColumnPlace, Type: iceberg.PrimitiveTypes.String,
		Doc: "dedupe key (server_id:file:offset:row) of the change that wrote the row"})
	if gen {
		fields = append(fields, iceberg.NestedField{ID: len(cols) + 2, Name: ColumnGeneration, Type: iceberg.PrimitiveTypes.Int64,
			Doc: generationDoc})
	}
	return iceberg.NewSchema(0, fields...)
}

const generationDoc = "source generation of the change that wrote the row (null: 0); orders before the dedupe key"

// evolve changes the transaction's schema to cols (then the place
// column, and the generation column when gen or the table has it), in
// one schema update: iceberg-go asserts the base schema of
// each, so a transaction holds one. Columns gone from the source are
// dropped; new ones added; types widen in place where Iceberg allows
// (int→long), and otherwise the column is dropped and added again under a
// new field id: every run rewrites all data files, so the current snapshot
// never reads a file written with the old type. Columns are kept in the
// source's order (except in a run that re-adds one: iceberg-go cannot move
// a column re-added in the same update; the next run orders it).
func evolve(tx *table.Transaction, cur *iceberg.Schema, cols []column, gen bool) error {
	want := make(map[string]iceberg.Type, len(cols)+2)
	for _, c := range cols {
		want[c.name] = c.typ.iceberg()
	}
	want[ColumnPlace] = iceberg.PrimitiveTypes.String
	if _, ok := cur.FindFieldByName(ColumnGeneration); ok {
		gen = true // never dropped: its rows' places need it
	}
	if gen {
		want[ColumnGeneration] = iceberg.PrimitiveTypes.Int64
	}
	up := tx.UpdateSchema(true, false)
	changed := false
	readd := make(map[string]bool)
	var order []string // after drops and adds, before moves
	for _, f := range cur.Fields() {
		t, ok := want[f.Name]
		switch {
		case !ok:
			up.DeleteColumn([]string{f.Name})
			changed = true
			continue
		case f.Type.Equals(t):
		case promotable(f.Type, t):
			up.UpdateColumn([]string{f.Name}, table.ColumnUpdate{FieldType: iceberg.Optional[iceberg.Type]{Valid: true, Val: t}})
			changed = true
		default:
			up.DeleteColumn([]string{f.Name})
			readd[f.Name], changed = true, true
			continue
		}
		order = append(order, f.Name)
	}
	for _, c := range cols {
		if _, ok := cur.FindFieldByName(c.name); !ok || readd[c.name] {
			up.AddColumn([]string{c.name}, c.typ.iceberg(), "", false, nil)
			order = append(order, c.name)
			changed = true
		}
	}
	if _, ok := cur.FindFieldByName(ColumnGeneration); gen && !ok {
		up.AddColumn([]string{ColumnGeneration}, iceberg.PrimitiveTypes.Int64, generationDoc, false, nil)
		order = append(order, ColumnGeneration)
		changed = true
	}
	target := make([]string, 0, len(cols)+2)
	for _, c := range cols {
		target = append(target, c.name)
	}
	target = append(target, ColumnPlace)
	if gen {
		target = append(target, ColumnGeneration)
	}
	if !slices.Equal(order, target) && len(readd) == 0 {
		up.MoveFirst([]string{target[0]})
		for i := 1; i < len(target); i++ {
			up.MoveAfter([]string{target[i]}, []string{target[i-1]})
		}
		changed = true
	}
	if !changed {
		return nil
	}
	if err := up.Commit(); err != nil {
		return fmt.Errorf("evolve schema: %w", err)
	}
	return nil
}

// promotable reports the type changes Iceberg makes in place.
func promotable(from, to iceberg.Type) bool {
	switch f := from.(type) {
	case iceberg.Int32Type:
		_, ok := to.(iceberg.Int64Type)
		return ok
	case iceberg.Float32Type:
		_, ok := to.(iceberg.Float64Type)
		return ok
	case iceberg.DecimalType:
		t, ok := to.(iceberg.DecimalType)
		return ok && t.Scale() == f.Scale() && t.Precision() >= f.Precision()
	}
	return false
}

// writeStateFile writes a run's state under the table's metadata directory
// and returns its location. The name is new for every run, so the file is
// used only once a snapshot naming it is committed.
func writeStateFile(ctx context.Context, tbl *table.Table, data []byte) (string, error) {
	loc := strings.TrimSuffix(tbl.Location(), "/") + "/metadata/sluice-state-" + uuid.NewString() + ".json.gz"
	if p, ok := localPath(loc); ok {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("write compaction state: %w", err)
		}
		return loc, atomicfile.Write(p, data)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return "", err
	}
	wfs, ok := fs.(icebergio.WriteFileIO)
	if !ok {
		return "", fmt.Errorf("write compaction state %s: the table's file IO cannot write", loc)
	}
	if err := wfs.WriteFile(loc, data); err != nil {
		return "", fmt.Errorf("write compaction state %s: %w", loc, err)
	}
	return loc, nil
}

// localPath returns the file path of a local location.
func localPath(loc string) (string, bool) {
	if !strings.Contains(loc, "://") {
		return loc, true
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	return u.Path, true
}

// dataFiles lists the data files of the table's current snapshot and the
// delete files (of merge-on-read runs) that apply to them.
func dataFiles(ctx context.Context, tbl *table.Table) (data, deletes []iceberg.DataFile, err error) {
	if tbl.CurrentSnapshot() == nil {
		return nil, nil, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("plan files: %w", err)
	}
	seen := make(map[string]bool)
	data = make([]iceberg.DataFile, 0, len(tasks))
	for _, t := range tasks {
		if len(t.DeletionVectorFiles) > 0 {
			return nil, nil, fmt.Errorf("data file %s has deletion vectors: the table was changed by another writer", t.File.FilePath())
		}
		data = append(data, t.File)
		for _, d := range slices.Concat(t.DeleteFiles, t.EqualityDeleteFiles) {
			if !seen[d.FilePath()] {
				seen[d.FilePath()] = true
				deletes = append(deletes, d)
			}
		}
	}
	return data, deletes, nil
}

// commitSnapshot writes the table's rows as new data files replacing all
// the old ones, with the run's state, in one transaction: one snapshot.
func commitSnapshot(ctx context.Context, tbl *table.Table, st *tableState, cols []column, state []byte, props iceberg.Properties, targetFileSize int64) (*table.Table, error) {
	tx, err := newTransaction(tbl)
	if err != nil {
		return nil, err
	}
	if err := evolve(tx, tbl.Schema(), cols, st.genColumn()); err != nil {
		return nil, err
	}
	if err := setTableProps(tx, tbl, st); err != nil {
		return nil, err
	}
	staged, err := tx.StagedTable()
	if err != nil {
		return nil, err
	}
	sc, err := table.SchemaToArrowSchema(staged.Schema(), nil, true, false)
	if err != nil {
		return nil, err
	}
	rows := st.sortedRows()
	var added []iceberg.DataFile
	for df, err := range table.WriteRecords(ctx, staged.Table, sc, st.records(sc, cols, rows), table.WithTargetFileSize(targetFileSize), table.WithRecordBatchBufferSize(2)) {
		if err != nil {
			return nil, fmt.Errorf("write data files: %w", err)
		}
		added = append(added, df)
	}
	return commitFiles(ctx, tbl, tx, added, state, props)
}

// rowGroupBytes is the Parquet row group size of snapshot tables: a
// writer holds one row group in memory (Iceberg's default is 128 MiB).
const rowGroupBytes = "16777216"

// newTransaction starts a transaction that commits only on top of the
// snapshot the run read: when another process committed the table
// meanwhile, Commit fails with table.ErrCommitFailed (the run is then
// retried from the new snapshot) instead of replaying this run's changes
// on top of that snapshot.
func newTransaction(tbl *table.Table) (*table.Transaction, error) {
	tx := tbl.NewTransaction()
	if err := tx.AssertRefSnapshotID(table.MainBranch); err != nil {
		return nil, fmt.Errorf("pin the table's snapshot: %w", err)
	}
	return tx, nil
}

// setTableProps records the source table and its primary key, and the
// row group size.
func setTableProps(tx *table.Transaction, tbl *table.Table, st *tableState) error {
	pk, _ := json.Marshal(st.pk)
	props := tbl.Properties()
	if props[PropPrimaryKey] != string(pk) || props[PropSource] != st.name() || props[table.ParquetRowGroupSizeBytesKey] == "" {
		return tx.SetProperties(iceberg.Properties{PropPrimaryKey: string(pk), PropSource: st.name(), table.ParquetRowGroupSizeBytesKey: rowGroupBytes})
	}
	return nil
}

// commitFiles commits tx with added as the table's only data files (the
// current ones and their delete files removed) and the run's state.
func commitFiles(ctx context.Context, tbl *table.Table, tx *table.Transaction, added []iceberg.DataFile, state []byte, props iceberg.Properties) (*table.Table, error) {
	old, oldDeletes, err := dataFiles(ctx, tbl)
	if err != nil {
		return nil, err
	}
	loc, err := writeStateFile(ctx, tbl, state)
	if err != nil {
		return nil, err
	}
	props[PropState] = loc
	switch {
	case len(oldDeletes) > 0:
		err = tx.ReplaceFiles(ctx, old, added, oldDeletes, props)
	case len(old) > 0:
		err = tx.ReplaceDataFilesWithDataFiles(ctx, old, added, props)
	case len(added) > 0:
		err = tx.AddDataFiles(ctx, added, props)
	default:
		err = tx.AddFiles(ctx, nil, props, false) // an empty snapshot, to carry the state
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

// commitState commits a snapshot that changes no data and carries the
// run's state: the table had nothing new, but its bookkeeping moved.
func commitState(ctx context.Context, tbl *table.Table, state []byte, props iceberg.Properties) (*table.Table, error) {
	tx, err := newTransaction(tbl)
	if err != nil {
		return nil, err
	}
	loc, err := writeStateFile(ctx, tbl, state)
	if err != nil {
		return nil, err
	}
	props[PropState] = loc
	if err := tx.AddFiles(ctx, nil, props, false); err != nil {
		return nil, fmt.Errorf("stage snapshot: %w", err)
	}
	out, err := tx.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("commit snapshot: %w", err)
	}
	return out, nil
}

// catalogProps are a new snapshot table's properties.
func catalogProps(source string) catalog.CreateTableOpt {
	return catalog.WithProperties(iceberg.Properties{PropSource: source, "format-version": "2", table.ParquetRowGroupSizeBytesKey: rowGroupBytes})
}

// rowCount is the table's row count: the summary's sluice.rows, or
// total-records in a snapshot without it (copy-on-write snapshots, where
// the two are equal).
func rowCount(tbl *table.Table) int64 {
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.Summary == nil {
		return 0
	}
	s, ok := snap.Summary.Properties[PropRows]
	if !ok {
		s = snap.Summary.Properties["total-records"]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
