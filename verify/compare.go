package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
)

// snapshot is a snapshot table's rows, hashed: per row, one hash per
// source column, by normalized primary key.
type snapshot struct {
	rows            map[string][]uint64
	missing, extra  []string
	colInSnapshot   []bool // by source column
	snapshotColumns map[string]bool
}

// masked names the columns the pipeline's filter drops or hashes: they are
// not compared.
func readSnapshot(ctx context.Context, tbl *table.Table, src *sourceTable, masked map[string]bool) (*snapshot, error) {
	s := &snapshot{rows: make(map[string][]uint64), snapshotColumns: map[string]bool{}}
	for _, f := range tbl.Schema().Fields() {
		if !strings.HasPrefix(f.Name, "_sluice_") {
			s.snapshotColumns[f.Name] = true
		}
	}
	s.colInSnapshot = make([]bool, len(src.cols))
	inSource := map[string]bool{}
	for i, c := range src.cols {
		inSource[c.name] = true
		s.colInSnapshot[i] = s.snapshotColumns[c.name] && !masked[c.name]
		if !s.snapshotColumns[c.name] && !masked[c.name] {
			s.missing = append(s.missing, c.name)
		}
	}
	for name := range s.snapshotColumns {
		if !inSource[name] && !masked[name] {
			s.extra = append(s.extra, name)
		}
	}
	slices.Sort(s.extra)
	for _, ci := range src.pk {
		if masked[src.cols[ci].name] {
			return nil, fmt.Errorf("primary key column %s is hashed by the filter: snapshot rows cannot be matched with the source's", src.cols[ci].name)
		}
		if !s.colInSnapshot[ci] {
			return nil, fmt.Errorf("the snapshot lacks primary key column %s", src.cols[ci].name)
		}
	}
	return s, s.scan(ctx, tbl, src, func(key string, hashes []uint64, _ []string) {
		s.rows[key] = hashes
	})
}

// scan reads every snapshot row and calls fn with its normalized key, the
// hashes of its normalized values, and the values themselves.
func (s *snapshot) scan(ctx context.Context, tbl *table.Table, src *sourceTable, fn func(key string, hashes []uint64, vals []string)) error {
	_, recs, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return fmt.Errorf("scan snapshot: %w", err)
	}
	for rec, err := range recs {
		if err != nil {
			return fmt.Errorf("scan snapshot: %w", err)
		}
		err = s.record(rec, src, fn)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *snapshot) record(rec arrow.RecordBatch, src *sourceTable, fn func(string, []uint64, []string)) error {
	byName := map[string]int{}
	for i, f := range rec.Schema().Fields() {
		byName[f.Name] = i
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		vals := make([]string, len(src.cols))
		hashes := make([]uint64, len(src.cols))
		for ci := range src.cols {
			if !s.colInSnapshot[ci] {
				continue
			}
			c := &src.cols[ci]
			v, isNumber, err := arrowValue(rec.Column(byName[c.name]), r)
			if err != nil {
				return fmt.Errorf("snapshot column %s: %w", c.name, err)
			}
			vals[ci] = c.snapshotValue(v, isNumber)
			hashes[ci] = hashValue(vals[ci])
		}
		fn(keyOf(src, vals), hashes, vals)
	}
	return nil
}

func arrowValue(col arrow.Array, i int) (any, bool, error) {
	if col.IsNull(i) {
		return nil, false, nil
	}
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(i), false, nil
	case *array.Int32:
		return int64(a.Value(i)), false, nil
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale), true, nil
	case *array.Float64:
		return fmt.Sprint(a.Value(i)), true, nil
	case *array.Float32:
		return fmt.Sprint(a.Value(i)), true, nil
	case *array.String:
		return a.Value(i), false, nil
	case *array.LargeString:
		return a.Value(i), false, nil
	case *array.Date32:
		return a.Value(i).FormattedString(), false, nil
	case *array.Timestamp:
		t := a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC()
		return t.Format("2006-01-02 15:04:05.999999"), false, nil
	case *array.Time64:
		return a.Value(i).FormattedString(a.DataType().(*arrow.Time64Type).Unit), false, nil
	}
	return nil, false, fmt.Errorf("unexpected Arrow type %s", col.DataType())
}

func hashValue(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// keyOf renders a row's normalized primary key, for people and as a map
// key: text values are quoted, so no two keys render alike.
func keyOf(src *sourceTable, vals []string) string {
	parts := make([]string, len(src.pk))
	for i, ci := range src.pk {
		c := &src.cols[ci]
		v := vals[ci]
		switch {
		case v == nullMarker:
			v = "NULL"
		case c.kind == kindInt || c.kind == kindBit || c.kind == kindDecimal || c.kind == kindFloat || c.kind == kindDouble:
		default:
			v = strconv.Quote(v)
		}
		parts[i] = c.name + "=" + v
	}
	return strings.Join(parts, ",")
}

func display(v string) string {
	if v == nullMarker {
		return "NULL"
	}
	return v
}

// comparison walks the source's chunks against the snapshot.
type comparison struct {
	src        *sourceTable
	snap       *snapshot
	max        int
	seen       map[string]bool
	sourceRows int64
	chunks     int
	diffChunks int
	diffs      []Diff
}

func newComparison(src *sourceTable, snap *snapshot, max int) *comparison {
	return &comparison{src: src, snap: snap, max: max, seen: make(map[string]bool, len(snap.rows))}
}

// chunk compares one chunk of source rows with the snapshot's rows of the
// same keys: checksums first, then row by row where they differ.
func (c *comparison) chunk(rows [][]any) error {
	c.chunks++
	c.sourceRows += int64(len(rows))
	srcSum, snapSum := sha256.New(), sha256.New()
	type rowHashes struct {
		key      string
		src      []uint64
		vals     []string
		snap     []uint64
		inSource bool
	}
	hashed := make([]rowHashes, len(rows))
	var b [8]byte
	for i, r := range rows {
		vals := make([]string, len(c.src.cols))
		hs := make([]uint64, len(c.src.cols))
		for ci := range c.src.cols {
			vals[ci] = c.src.cols[ci].sourceValue(r[ci])
			hs[ci] = hashValue(vals[ci])
		}
		key := keyOf(c.src, vals)
		c.seen[key] = true
		snap := c.snap.rows[key]
		hashed[i] = rowHashes{key: key, src: hs, vals: vals, snap: snap}
		for ci, h := range hs {
			putUint64(b[:], h)
			srcSum.Write(b[:])
			var sh uint64 // a missing row or column hashes as zeros
			if snap != nil && c.snap.colInSnapshot[ci] {
				sh = snap[ci]
			}
			putUint64(b[:], sh)
			snapSum.Write(b[:])
		}
	}
	if string(srcSum.Sum(nil)) == string(snapSum.Sum(nil)) {
		return nil
	}
	c.diffChunks++
	for _, h := range hashed {
		if len(c.diffs) >= c.max {
			break
		}
		if h.snap == nil {
			c.diffs = append(c.diffs, Diff{Key: h.key, What: "missing from the snapshot"})
			continue
		}
		for ci, sh := range h.src {
			if c.snap.colInSnapshot[ci] && sh != h.snap[ci] {
				c.diffs = append(c.diffs, Diff{Key: h.key, Column: c.src.cols[ci].name, Source: display(h.vals[ci]), What: "values differ"})
				break
			}
		}
	}
	return nil
}

// finish reports the snapshot's rows no source row matched.
func (c *comparison) finish() {
	var extra []string
	for k := range c.snap.rows {
		if !c.seen[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		if len(c.diffs) >= c.max {
			break
		}
		c.diffs = append(c.diffs, Diff{Key: k, What: "only in the snapshot"})
	}
}

// describeDiffs fills in the snapshot's values of differing columns: a
// second scan, only when something differs.
func (s *snapshot) describeDiffs(ctx context.Context, tbl *table.Table, src *sourceTable, diffs []Diff) error {
	want := map[string][]int{}
	for i, d := range diffs {
		if d.Column != "" {
			want[d.Key] = append(want[d.Key], i)
		}
	}
	if len(want) == 0 {
		return nil
	}
	colIdx := map[string]int{}
	for i, c := range src.cols {
		colIdx[c.name] = i
	}
	return s.scan(ctx, tbl, src, func(key string, _ []uint64, vals []string) {
		for _, i := range want[key] {
			diffs[i].Snapshot = display(vals[colIdx[diffs[i].Column]])
		}
	})
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
