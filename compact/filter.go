package compact

import (
	"slices"

	"github.com/sluicecdc/sluice/filter"
)

// The pipeline's filter (package filter) also applies here: lake objects
// written before a table or column was filtered out must not bring it back
// into a snapshot table. Excluded tables are not compacted, dropped
// columns are left out of every image and schema change, and hashed
// columns are typed as text (the hex digests they hold), whatever the
// schema change declared.

// dropFiltered removes the columns the filter drops from c's images.
func (s *tableState) dropFiltered(c *change) {
	if s.filter == nil {
		return
	}
	keep := func(name string) bool { return s.filter.Column(s.database, s.table, name) != filter.Drop }
	if !slices.ContainsFunc(c.cols, func(n string) bool { return !keep(n) }) {
		for name := range c.old {
			if !keep(name) {
				delete(c.old, name)
			}
		}
		return
	}
	cols, vals := c.cols[:0:0], c.vals[:0:0]
	for i, name := range c.cols {
		if keep(name) {
			cols, vals = append(cols, name), append(vals, c.vals[i])
		}
	}
	c.cols, c.vals = cols, vals
	for name := range c.old {
		if !keep(name) {
			delete(c.old, name)
		}
	}
}

// filterSchemaChange applies the filter to a schema change's columns.
func (s *tableState) filterSchemaChange(sc *schemaChange) {
	if s.filter == nil {
		return
	}
	fix := func(d *colDef) bool {
		switch s.filter.Column(s.database, s.table, d.name) {
		case filter.Drop:
			return false
		case filter.Hash:
			d.hint, d.def, d.defNote = colType{kind: typeString}, nil, ""
		}
		return true
	}
	sc.cols = slices.DeleteFunc(sc.cols, func(d colDef) bool { return !fix(&d) })
	for i := range sc.cols {
		fix(&sc.cols[i])
	}
	sc.ops = slices.DeleteFunc(sc.ops, func(op alterOp) bool {
		return (op.op == "add" || op.op == "change" || op.op == "rename") && s.filter.Column(s.database, s.table, op.def.name) == filter.Drop
	})
	for i := range sc.ops {
		fix(&sc.ops[i].def)
	}
}
