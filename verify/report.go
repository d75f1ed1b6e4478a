package verify

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Table statuses in a Report.
const (
	StatusOK     = "OK"
	StatusDiff   = "DIFF"   // rows or columns differ
	StatusBehind = "BEHIND" // the source has changes the snapshot cannot have yet
	StatusMoved  = "MOVED"  // the source changed while verify read it
	StatusError  = "ERROR"
)

// Report is a verification's result, per table.
type Report struct {
	Tables []TableReport
}

// TableReport is one table's result.
type TableReport struct {
	Table  string // "database.table"
	Status string
	// SourceRows and SnapshotRows count the rows of each side; Chunks the
	// source chunks compared, DiffChunks those whose checksums differed.
	SourceRows, SnapshotRows int64
	Chunks, DiffChunks       int
	// Diffs are the first differing keys, in source key order, then keys
	// only the snapshot holds.
	Diffs []Diff
	// MissingColumns are source columns the snapshot lacks; ExtraColumns
	// snapshot columns the source lacks.
	MissingColumns, ExtraColumns []string
	// MaskedColumns are source columns the filter drops or hashes: not compared.
	MaskedColumns []string
	// SnapshotPosition is the lake position the snapshot reflects;
	// SourceHead the source's binlog head when verify began.
	SnapshotPosition, SourceHead string
	Note                         string
	Err                          error
}

// Diff is one differing row.
type Diff struct {
	Key    string // the primary key, "id=5" or "a=1,b=\"x\""
	What   string // "missing from the snapshot", "only in the snapshot", "values differ"
	Column string // the first differing column
	// Source and Snapshot are the column's normalized values.
	Source, Snapshot string
}

func (d Diff) String() string {
	if d.Column == "" {
		return d.Key + ": " + d.What
	}
	return fmt.Sprintf("%s: %s: source %s, snapshot %s", d.Key, d.Column, strconv.Quote(d.Source), strconv.Quote(d.Snapshot))
}

// OK reports whether every table matched.
func (r *Report) OK() bool {
	for _, t := range r.Tables {
		if t.Status != StatusOK {
			return false
		}
	}
	return len(r.Tables) > 0
}

// Render writes the report as a table, then the differences.
func (r *Report) Render(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSTATUS\tSOURCE ROWS\tSNAPSHOT ROWS\tCHUNKS\tDIFF CHUNKS\tFIRST DIFFERENCE")
	for _, t := range r.Tables {
		first := "-"
		switch {
		case t.Err != nil:
			first = t.Err.Error()
		case len(t.Diffs) > 0:
			first = t.Diffs[0].String()
		case len(t.MissingColumns) > 0 || len(t.ExtraColumns) > 0:
			first = columnsNote(t)
		case t.Note != "":
			first = t.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", t.Table, t.Status, t.SourceRows, t.SnapshotRows, t.Chunks, t.DiffChunks, first)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range r.Tables {
		if t.Status == StatusOK || t.Err != nil {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s (snapshot at %s, source head %s)\n", t.Table, t.Status, dash(t.SnapshotPosition), dash(t.SourceHead))
		if t.Note != "" {
			fmt.Fprintf(w, "  %s\n", t.Note)
		}
		if n := columnsNote(t); n != "" {
			fmt.Fprintf(w, "  %s\n", n)
		}
		for _, d := range t.Diffs {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	return nil
}

func columnsNote(t TableReport) string {
	var parts []string
	if len(t.MissingColumns) > 0 {
		parts = append(parts, "columns missing from the snapshot: "+strings.Join(t.MissingColumns, ", "))
	}
	if len(t.ExtraColumns) > 0 {
		parts = append(parts, "columns only in the snapshot: "+strings.Join(t.ExtraColumns, ", "))
	}
	if len(t.MaskedColumns) > 0 {
		parts = append(parts, "columns masked by the filter, not compared: "+strings.Join(t.MaskedColumns, ", "))
	}
	return strings.Join(parts, "; ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
