package laketest

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// Rows is a table's content as text, for comparing a snapshot with its
// source: column → value, nil for NULL.
type Rows struct {
	Columns []string
	// Numeric marks the columns whose values compare by number (the
	// snapshot's decimal columns: 1.5 and 1.50 are one value).
	Numeric map[string]bool
	// Temporal marks the snapshot's date, timestamp and time columns:
	// their values compare without the fraction's trailing zeros, and a
	// NULL equals a source value the type cannot hold (zero dates, TIME
	// outside a day), which sluice compact writes as NULL.
	Temporal map[string]bool
	Rows     []map[string]*string
}

// ReadSnapshot reads an Iceberg table through iceberg-go's scan (Arrow
// records), independently of the compactor's own reader. Columns whose
// name starts with "_sluice_" are left out.
func ReadSnapshot(t testing.TB, cat catalog.Catalog, id table.Identifier) *Rows {
	t.Helper()
	ctx := context.Background()
	tbl, err := cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatalf("load %v: %v", id, err)
	}
	out := &Rows{Numeric: map[string]bool{}, Temporal: map[string]bool{}}
	for _, f := range tbl.Schema().Fields() {
		if !strings.HasPrefix(f.Name, "_sluice_") {
			out.Columns = append(out.Columns, f.Name)
		}
	}
	if tbl.CurrentSnapshot() == nil {
		return out
	}
	_, recs, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		t.Fatalf("scan %v: %v", id, err)
	}
	for rec, err := range recs {
		if err != nil {
			t.Fatalf("scan %v: %v", id, err)
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make(map[string]*string)
			for i, f := range rec.Schema().Fields() {
				if strings.HasPrefix(f.Name, "_sluice_") {
					continue
				}
				col := rec.Column(i)
				if _, ok := col.(*array.Decimal128); ok {
					out.Numeric[f.Name] = true
				}
				switch col.(type) {
				case *array.Date32, *array.Timestamp, *array.Time64:
					out.Temporal[f.Name] = true
				}
				row[f.Name] = arrowText(t, col, r)
			}
			out.Rows = append(out.Rows, row)
		}
		rec.Release()
	}
	return out
}

func arrowText(t testing.TB, col arrow.Array, i int) *string {
	if col.IsNull(i) {
		return nil
	}
	var s string
	switch a := col.(type) {
	case *array.Int64:
		s = strconv.FormatInt(a.Value(i), 10)
	case *array.Int32:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Decimal128:
		s = a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.String:
		s = a.Value(i)
	case *array.LargeString:
		s = a.Value(i)
	case *array.Float64:
		s = strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Date32:
		s = a.Value(i).FormattedString()
	case *array.Timestamp:
		s = a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC().Format("2006-01-02 15:04:05.999999")
	case *array.Time64:
		s = trimFraction(a.Value(i).FormattedString(a.DataType().(*arrow.Time64Type).Unit))
	default:
		t.Fatalf("unexpected Arrow type %s", col.DataType())
	}
	return &s
}

// ReadSource reads SELECT * FROM table (text protocol: values as the
// server prints them; TIMESTAMP in the session's zone, so use UTC).
func ReadSource(t testing.TB, db *sql.DB, qualified string) *Rows {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + qualified)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	out := &Rows{Columns: cols, Numeric: map[string]bool{}}
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make(map[string]*string, len(cols))
		for i, c := range cols {
			if vals[i] != nil {
				s := string(vals[i])
				row[c] = &s
			} else {
				row[c] = nil
			}
		}
		out.Rows = append(out.Rows, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Diff compares a snapshot with its source by primary key and returns the
// differences (at most 20), or nil when they hold the same rows.
func Diff(snapshot, source *Rows, pk []string) []string {
	var diffs []string
	add := func(format string, args ...any) bool {
		diffs = append(diffs, fmt.Sprintf(format, args...))
		return len(diffs) < 20
	}
	a, b := slices.Clone(snapshot.Columns), slices.Clone(source.Columns)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		add("columns: snapshot %v, source %v", a, b)
	}
	key := func(r map[string]*string) string {
		var parts []string
		for _, c := range pk {
			parts = append(parts, text(r[c]))
		}
		return strings.Join(parts, ",")
	}
	snap := make(map[string]map[string]*string, len(snapshot.Rows))
	for _, r := range snapshot.Rows {
		k := key(r)
		if _, dup := snap[k]; dup && !add("snapshot holds key %s twice", k) {
			return diffs
		}
		snap[k] = r
	}
	if len(snapshot.Rows) != len(source.Rows) {
		add("rows: snapshot %d, source %d", len(snapshot.Rows), len(source.Rows))
	}
	seen := make(map[string]bool)
	for _, r := range source.Rows {
		k := key(r)
		seen[k] = true
		s, ok := snap[k]
		if !ok {
			if !add("key %s: missing from the snapshot", k) {
				return diffs
			}
			continue
		}
		for _, c := range source.Columns {
			if !sameValue(s[c], r[c], snapshot.Numeric[c], snapshot.Temporal[c]) {
				if !add("key %s column %s: snapshot %s, source %s", k, c, text(s[c]), text(r[c])) {
					return diffs
				}
			}
		}
	}
	for k := range snap {
		if !seen[k] && !add("key %s: in the snapshot only", k) {
			return diffs
		}
	}
	return diffs
}

func sameValue(snap, src *string, numeric, temporal bool) bool {
	if temporal && snap == nil && src != nil {
		return !fitsTemporal(*src)
	}
	if temporal && snap != nil && src != nil {
		return *snap == trimFraction(*src)
	}
	if snap == nil || src == nil {
		return snap == nil && src == nil
	}
	if *snap == *src {
		return true
	}
	if numeric {
		x, ok1 := new(big.Rat).SetString(*snap)
		y, ok2 := new(big.Rat).SetString(*src)
		return ok1 && ok2 && x.Cmp(y) == 0
	}
	return false
}

func text(s *string) string {
	if s == nil {
		return "NULL"
	}
	return strconv.Quote(*s)
}

// trimFraction drops a time's trailing fraction zeros ("10:00:00.500" →
// "10:00:00.5", "10:00:00.000" → "10:00:00").
func trimFraction(s string) string {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s
	}
	f := strings.TrimRight(s[i+1:], "0")
	if f == "" {
		return s[:i]
	}
	return s[:i+1] + f
}

// fitsTemporal reports whether a source DATE, DATETIME, TIMESTAMP or TIME
// value fits an Iceberg date, timestamp or time: a real calendar date,
// a time of day within 00:00:00–23:59:59.999999.
func fitsTemporal(s string) bool {
	switch {
	case len(s) == 10 && s[4] == '-':
		_, err := time.Parse("2006-01-02", s)
		return err == nil
	case len(s) >= 19 && s[4] == '-':
		_, err := time.Parse("2006-01-02 15:04:05.999999", s)
		return err == nil
	}
	_, err := time.Parse("15:04:05.999999", s)
	return err == nil && len(s) >= 8 && s[2] == ':'
}
