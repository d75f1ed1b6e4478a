package filter

import (
	"fmt"
	"slices"
)

// Column is one column of the live schema, as information_schema lists it.
type Column struct {
	Database, Table, Name string
	// Key marks a primary key column.
	Key bool
}

// TablePlan is what streams of one table.
type TablePlan struct {
	Table           string // "db.table"
	Dropped, Hashed []string
}

// Report is a filter applied to a live schema: what `sluice config check`
// prints and what a pipeline logs at start.
type Report struct {
	// Streamed lists the tables that stream, with their masked columns.
	Streamed []TablePlan
	// Excluded lists the tables left out.
	Excluded []string
	// Unmatched lists the patterns that match nothing (a warning).
	Unmatched []string
	// Problems are errors the filter will halt on: a dropped key column.
	Problems []string
}

// Apply applies f to the live schema's columns, in their order.
func (f *Filter) Apply(cols []Column) Report {
	var r Report
	var tables, names []string
	byTable := map[string]int{}
	for _, c := range cols {
		qn := c.Database + "." + c.Table
		names = append(names, qn+"."+c.Name)
		i, seen := byTable[qn]
		if !seen {
			tables = append(tables, qn)
			if !f.Table(c.Database, c.Table) {
				byTable[qn] = -1
				r.Excluded = append(r.Excluded, qn)
				continue
			}
			i = len(r.Streamed)
			byTable[qn] = i
			r.Streamed = append(r.Streamed, TablePlan{Table: qn})
		}
		if i < 0 {
			continue
		}
		switch f.Column(c.Database, c.Table, c.Name) {
		case Drop:
			r.Streamed[i].Dropped = append(r.Streamed[i].Dropped, c.Name)
			if c.Key {
				r.Problems = append(r.Problems, fmt.Sprintf("%s.%s: %v", qn, c.Name, ErrKeyColumnDropped))
			}
		case Hash:
			r.Streamed[i].Hashed = append(r.Streamed[i].Hashed, c.Name)
		}
	}
	r.Unmatched = f.Unmatched(tables, names)
	return r
}

// Tables returns the tables of a report that stream.
func (r *Report) Tables() []string {
	out := make([]string, len(r.Streamed))
	for i := range r.Streamed {
		out[i] = r.Streamed[i].Table
	}
	return out
}

// Diff returns the tables that stream under now but not before (added) and
// those that streamed before but not now (removed).
func Diff(before, now *Report) (added, removed []string) {
	b, n := before.Tables(), now.Tables()
	for _, t := range n {
		if !slices.Contains(b, t) {
			added = append(added, t)
		}
	}
	for _, t := range b {
		if !slices.Contains(n, t) {
			removed = append(removed, t)
		}
	}
	return added, removed
}
