package compact

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// Row images name a table's columns only once a row is written; schema
// change events tell what CREATE TABLE and ALTER TABLE did before that:
// columns added (where, of which type, with which default for the rows
// already there), dropped, renamed, moved. A schema change older than a
// row image already applied is ignored: the image shows its result.

// colDef is a column as a statement declares it.
type colDef struct {
	name string
	hint colType // typeNone when the declared type does not decide
	// def is a literal DEFAULT (nil for none or NULL); defNote is set
	// when the default is not a literal the compactor can use.
	def     any
	defNote string
}

// alterOp is one column change of an ALTER TABLE.
type alterOp struct {
	op      string // "add", "drop", "change" (rename and/or redefine), "rename"
	name    string // the column before the change
	def     colDef // the column after ("add", "change")
	first   bool
	after   string
	hasDef  bool
	hasMove bool
}

// schemaChange is what a DDL statement does to a table's columns.
type schemaChange struct {
	create bool     // CREATE TABLE with a column list: cols replace the shape
	ifNot  bool     // CREATE TABLE IF NOT EXISTS: a no-op if the table is there
	cols   []colDef // of a CREATE
	pk     []string // of a CREATE
	ops    []alterOp
}

// mariadbOnly matches MariaDB clauses the parser does not know and that
// do not change columns.
var mariadbOnly = regexp.MustCompile(`(?i)(CREATE)\s+OR\s+REPLACE\b|\bWITH(?:OUT)?\s+SYSTEM\s+VERSIONING\b|\bINVISIBLE\b`)

// parseSchemaChange parses a table-create or table-alter statement.
func parseSchemaChange(sql string) (*schemaChange, error) {
	p := parser.New()
	stmts, _, err := p.ParseSQL(sql)
	if err != nil {
		if alt := mariadbOnly.ReplaceAllString(sql, "$1"); alt != sql {
			stmts, _, err = p.ParseSQL(alt)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("%d statements", len(stmts))
	}
	sc := &schemaChange{}
	switch s := stmts[0].(type) {
	case *ast.CreateTableStmt:
		if s.ReferTable != nil || s.Select != nil || len(s.Cols) == 0 {
			return nil, errors.New("CREATE TABLE without a column list")
		}
		sc.create, sc.ifNot = true, s.IfNotExists
		for _, c := range s.Cols {
			sc.cols = append(sc.cols, columnDef(c))
			for _, o := range c.Options {
				if o.Tp == ast.ColumnOptionPrimaryKey {
					sc.pk = []string{c.Name.Name.O}
				}
			}
		}
		for _, con := range s.Constraints {
			if con.Tp == ast.ConstraintPrimaryKey {
				sc.pk = nil
				for _, k := range con.Keys {
					if k.Column != nil {
						sc.pk = append(sc.pk, k.Column.Name.O)
					}
				}
			}
		}
	case *ast.AlterTableStmt:
		for _, spec := range s.Specs {
			switch spec.Tp {
			case ast.AlterTableAddColumns:
				for _, c := range spec.NewColumns {
					op := alterOp{op: "add", def: columnDef(c), hasDef: true}
					if len(spec.NewColumns) == 1 {
						op.position(spec.Position)
					}
					sc.ops = append(sc.ops, op)
				}
			case ast.AlterTableDropColumn:
				sc.ops = append(sc.ops, alterOp{op: "drop", name: spec.OldColumnName.Name.O})
			case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
				if len(spec.NewColumns) != 1 {
					continue
				}
				op := alterOp{op: "change", def: columnDef(spec.NewColumns[0]), hasDef: true}
				op.name = op.def.name
				if spec.OldColumnName != nil {
					op.name = spec.OldColumnName.Name.O
				}
				op.position(spec.Position)
				sc.ops = append(sc.ops, op)
			case ast.AlterTableRenameColumn:
				sc.ops = append(sc.ops, alterOp{op: "rename", name: spec.OldColumnName.Name.O, def: colDef{name: spec.NewColumnName.Name.O}})
			}
		}
	default:
		return nil, fmt.Errorf("not CREATE or ALTER TABLE: %T", s)
	}
	return sc, nil
}

func (op *alterOp) position(p *ast.ColumnPosition) {
	if p == nil {
		return
	}
	switch p.Tp {
	case ast.ColumnPositionFirst:
		op.first, op.hasMove = true, true
	case ast.ColumnPositionAfter:
		if p.RelativeColumn != nil {
			op.after, op.hasMove = p.RelativeColumn.Name.O, true
		}
	}
}

func columnDef(c *ast.ColumnDef) colDef {
	d := colDef{name: c.Name.Name.O, hint: typeHint(c.Tp)}
	for _, o := range c.Options {
		if o.Tp != ast.ColumnOptionDefaultValue || o.Expr == nil {
			continue
		}
		ve, ok := o.Expr.(ast.ValueExpr)
		if !ok {
			d.defNote = "a computed default"
			continue
		}
		switch v := ve.GetValue().(type) {
		case nil:
		case int64:
			d.def = v
		case uint64:
			d.def = number(fmt.Sprint(v))
		case string:
			if temporal(c.Tp) {
				d.defNote = "a date or time default"
				continue
			}
			d.def = v
		case fmt.Stringer: // *MyDecimal
			d.def = number(v.String())
		default:
			d.defNote = fmt.Sprintf("a default of kind %T", v)
		}
	}
	return d
}

func temporal(ft *types.FieldType) bool {
	switch ft.GetType() {
	case mysql.TypeDate, mysql.TypeDatetime, mysql.TypeTimestamp, mysql.TypeDuration, mysql.TypeNewDate:
		return true
	}
	return false
}

// typeHint is the snapshot type a declared column type implies, or none
// when only the values can tell (FLOAT, DOUBLE).
func typeHint(ft *types.FieldType) colType {
	if ft == nil {
		return colType{}
	}
	unsigned := mysql.HasUnsignedFlag(ft.GetFlag())
	switch ft.GetType() {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeYear:
		return colType{kind: typeInt}
	case mysql.TypeLong:
		if unsigned {
			return colType{kind: typeLong}
		}
		return colType{kind: typeInt}
	case mysql.TypeLonglong:
		if unsigned {
			return colType{kind: typeDecimal}
		}
		return colType{kind: typeLong}
	case mysql.TypeBit:
		switch {
		case ft.GetFlen() > 63:
			return colType{kind: typeDecimal}
		case ft.GetFlen() > 31:
			return colType{kind: typeLong}
		}
		return colType{kind: typeInt}
	case mysql.TypeNewDecimal:
		if ft.GetFlen() > decimalPrecision || ft.GetDecimal() < 0 {
			return colType{kind: typeString}
		}
		return decimalType(max(ft.GetFlen(), 1), ft.GetDecimal())
	case mysql.TypeFloat, mysql.TypeDouble:
		return colType{}
	case mysql.TypeDate, mysql.TypeNewDate:
		return colType{kind: typeDate}
	case mysql.TypeDatetime:
		return colType{kind: typeTimestamp, prec: max(ft.GetDecimal(), 0)}
	case mysql.TypeTimestamp:
		return colType{kind: typeTimestampTz, prec: max(ft.GetDecimal(), 0)}
	case mysql.TypeDuration:
		return colType{kind: typeTime, prec: max(ft.GetDecimal(), 0)}
	}
	return colType{kind: typeString}
}

// applySchemaChange applies a DDL event's column changes to the shape.
func (s *tableState) applySchemaChange(c *change) {
	if c.sql == "" || c.place.compare(s.shapeAt) <= 0 {
		return
	}
	sc, err := parseSchemaChange(c.sql)
	if err != nil {
		s.note(fmt.Sprintf("schema change at %s not understood (%v): columns follow the next row image", c.dedupe, err))
		return
	}
	s.filterSchemaChange(sc)
	if sc.create && sc.ifNot && len(s.shape) > 0 && !s.dropped {
		return // the table existed: the statement changed nothing
	}
	s.shapeAt = c.place
	if sc.create {
		s.dropped = false
		s.shape = nil
		for _, d := range sc.cols {
			s.shape = append(s.shape, d.name)
			s.setHint(d)
			s.fill(d, c)
		}
		if len(sc.pk) > 0 && len(s.rows) == 0 && !s.hasRows {
			s.pk, s.pkAt = sc.pk, c.place
		}
		return
	}
	shape := slices.Clone(s.shape)
	for _, op := range sc.ops {
		i := slices.Index(shape, op.name)
		switch op.op {
		case "add":
			if slices.Contains(shape, op.def.name) {
				continue
			}
			shape = insertAt(shape, op.def.name, op)
			s.setHint(op.def)
			s.fill(op.def, c)
		case "drop":
			if i >= 0 {
				shape = slices.Delete(shape, i, i+1)
			}
		case "change", "rename":
			if i < 0 {
				continue
			}
			if op.def.name != op.name {
				s.renameColumn(op.name, op.def.name)
				shape[i] = op.def.name
			}
			if op.hasDef {
				s.setHint(op.def)
			}
			if op.hasMove {
				shape = insertAt(slices.Delete(shape, i, i+1), op.def.name, op)
			}
		}
	}
	s.shape = shape
}

func insertAt(shape []string, name string, op alterOp) []string {
	switch {
	case op.first:
		return slices.Insert(shape, 0, name)
	case op.after != "":
		if j := slices.Index(shape, op.after); j >= 0 {
			return slices.Insert(shape, j+1, name)
		}
	}
	return append(shape, name)
}

// setHint records the type a column was declared with.
func (s *tableState) setHint(d colDef) {
	if d.hint.kind == typeNone {
		delete(s.hints, d.name)
		return
	}
	s.hints[d.name] = d.hint
}

// fill gives a column added at c its default in the rows written before c:
// the server filled them in without logging rows.
func (s *tableState) fill(d colDef, c *change) {
	if d.defNote != "" {
		s.note(fmt.Sprintf("column %s was added at %s with %s, which the binlog does not carry: rows written before hold NULL until they change", d.name, c.dedupe, d.defNote))
	}
	idx := s.col(d.name)
	if s.recordFills {
		s.fills = append(s.fills, fillOp{idx: idx, def: d.def, at: c.place})
	}
	for _, r := range s.rows {
		if r.at.compare(c.place) >= 0 {
			continue
		}
		if idx >= len(r.vals) {
			if d.def == nil {
				continue
			}
			r.vals = append(r.vals, make([]any, idx+1-len(r.vals))...)
		}
		r.vals[idx] = d.def
	}
}

// renameColumn moves the values of column from to column to.
func (s *tableState) renameColumn(from, to string) {
	i, ok := s.colIdx[from]
	if !ok {
		return
	}
	if j, ok := s.colIdx[to]; ok {
		// A column of that name existed once: its old values go.
		s.cols[j] = "\x00dropped:" + to
		delete(s.colIdx, to)
	}
	delete(s.colIdx, from)
	s.cols[i] = to
	s.colIdx[to] = i
	if t, ok := s.types[from]; ok {
		s.types[to] = t
		delete(s.types, from)
	}
	if h, ok := s.hints[from]; ok {
		s.hints[to] = h
		delete(s.hints, from)
	}
	if d, ok := s.fracs[from]; ok {
		s.fracs[to] = d
		delete(s.fracs, from)
	}
	for k, pk := range s.pk {
		if pk == from {
			s.pk[k] = to
		}
	}
}

// note records something the report should tell.
func (s *tableState) note(msg string) {
	if !slices.Contains(s.notes, msg) {
		s.notes = append(s.notes, msg)
	}
}
