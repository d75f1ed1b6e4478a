package schema

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	pmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TableMeta is a table's definition as a DDL statement leaves it, with what
// Debezium's schema change events carry in tableChanges[].table: column
// types as declared (name, JDBC type code, length, scale), charsets,
// nullability, AUTO_INCREMENT, ENUM/SET members and the primary key. The
// registry keeps it per version, built by applying each CREATE or ALTER to
// the previous definition (or, for a table created before sluice began, to
// the shape its TABLE_MAP showed).
type TableMeta struct {
	// DefaultCharset is the table's default character set, empty when no
	// statement sluice read named it.
	DefaultCharset string       `json:"default_charset,omitempty"`
	PrimaryKey     []string     `json:"primary_key,omitempty"`
	Columns        []ColumnMeta `json:"columns"`
}

// ColumnMeta is one column of a TableMeta.
type ColumnMeta struct {
	Name string `json:"name"`
	// TypeName is the declared type in upper case with its UNSIGNED or
	// ZEROFILL modifiers ("INT", "VARCHAR", "BIGINT UNSIGNED"), as Debezium
	// writes typeName and typeExpression.
	TypeName string `json:"type"`
	// JDBCType is the java.sql.Types code Debezium's MySQL connector maps
	// the type to.
	JDBCType int `json:"jdbc"`
	// Charset is a character column's character set, empty if unknown or
	// not a character column.
	Charset string `json:"charset,omitempty"`
	// Length and Scale are the declared length (or precision, or fractional
	// seconds) and scale; -1 when not declared.
	Length        int      `json:"length"`
	Scale         int      `json:"scale"`
	Optional      bool     `json:"optional,omitempty"`
	AutoIncrement bool     `json:"auto_increment,omitempty"`
	Generated     bool     `json:"generated,omitempty"`
	EnumValues    []string `json:"enum_values,omitempty"`
}

// java.sql.Types codes.
const (
	jdbcBit         = -7
	jdbcTinyint     = -6
	jdbcSmallint    = 5
	jdbcInteger     = 4
	jdbcBigint      = -5
	jdbcFloat       = 6
	jdbcReal        = 7
	jdbcDouble      = 8
	jdbcDecimal     = 3
	jdbcChar        = 1
	jdbcVarchar     = 12
	jdbcDate        = 91
	jdbcTime        = 92
	jdbcTimestamp   = 93
	jdbcTimestampTZ = 2014
	jdbcBinary      = -2
	jdbcVarbinary   = -3
	jdbcBlob        = 2004
	jdbcBoolean     = 16
	jdbcOther       = 1111
)

func (m *TableMeta) clone() *TableMeta {
	c := &TableMeta{DefaultCharset: m.DefaultCharset, PrimaryKey: append([]string(nil), m.PrimaryKey...)}
	c.Columns = append([]ColumnMeta(nil), m.Columns...)
	return c
}

func (m *TableMeta) index(name string) int {
	for i := range m.Columns {
		if strings.EqualFold(m.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// metaFromTable describes a table from the shape a TABLE_MAP showed: its
// types, charsets, nullability, members and key; character lengths and
// AUTO_INCREMENT are not in the binlog.
func metaFromTable(t *Table) *TableMeta {
	m := &TableMeta{}
	for i := range t.Columns {
		c := &t.Columns[i]
		cm := ColumnMeta{Name: c.Name, Length: -1, Scale: -1, Optional: c.Nullable}
		switch c.Type {
		case mysql.MYSQL_TYPE_TINY:
			cm.TypeName, cm.JDBCType = "TINYINT", jdbcTinyint
		case mysql.MYSQL_TYPE_SHORT:
			cm.TypeName, cm.JDBCType = "SMALLINT", jdbcSmallint
		case mysql.MYSQL_TYPE_INT24:
			cm.TypeName, cm.JDBCType = "MEDIUMINT", jdbcInteger
		case mysql.MYSQL_TYPE_LONG:
			cm.TypeName, cm.JDBCType = "INT", jdbcInteger
		case mysql.MYSQL_TYPE_LONGLONG:
			cm.TypeName, cm.JDBCType = "BIGINT", jdbcBigint
		case mysql.MYSQL_TYPE_FLOAT:
			cm.TypeName, cm.JDBCType = "FLOAT", jdbcFloat
		case mysql.MYSQL_TYPE_DOUBLE:
			cm.TypeName, cm.JDBCType = "DOUBLE", jdbcDouble
		case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
			cm.TypeName, cm.JDBCType, cm.Length, cm.Scale = "DECIMAL", jdbcDecimal, c.Precision, c.Scale
		case mysql.MYSQL_TYPE_BIT:
			cm.TypeName, cm.JDBCType, cm.Length = "BIT", jdbcBit, int(c.Meta>>8)*8+int(c.Meta&0xff)
		case mysql.MYSQL_TYPE_YEAR:
			cm.TypeName, cm.JDBCType = "YEAR", jdbcInteger
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
			cm.TypeName, cm.JDBCType = "DATE", jdbcDate
		case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
			cm.TypeName, cm.JDBCType = "TIME", jdbcTime
		case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
			cm.TypeName, cm.JDBCType = "DATETIME", jdbcTimestamp
		case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
			cm.TypeName, cm.JDBCType = "TIMESTAMP", jdbcTimestampTZ
		case mysql.MYSQL_TYPE_ENUM:
			cm.TypeName, cm.JDBCType, cm.Length = "ENUM", jdbcChar, 1
		case mysql.MYSQL_TYPE_SET:
			cm.TypeName, cm.JDBCType, cm.Length = "SET", jdbcChar, max(0, 2*len(c.Values)-1)
		case mysql.MYSQL_TYPE_JSON:
			cm.TypeName, cm.JDBCType = "JSON", jdbcOther
		case mysql.MYSQL_TYPE_GEOMETRY:
			cm.TypeName, cm.JDBCType = "GEOMETRY", jdbcOther
		case mysql.MYSQL_TYPE_STRING:
			cm.TypeName, cm.JDBCType, cm.Length = "CHAR", jdbcChar, c.Length
			if c.Binary() {
				cm.TypeName, cm.JDBCType = "BINARY", jdbcBinary
			} else if cs := c.Charset; cs != "" {
				if n := charsetMaxLen[cs]; n > 0 {
					cm.Length = c.Length / n
				}
			}
		case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
			cm.TypeName, cm.JDBCType = "VARCHAR", jdbcVarchar
			if c.Binary() {
				cm.TypeName, cm.JDBCType, cm.Length = "VARBINARY", jdbcVarbinary, int(c.Meta)
			} else if n := charsetMaxLen[c.Charset]; n > 0 {
				cm.Length = int(c.Meta) / n
			}
		case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
			// the metadata is the length prefix's size: TINY, -, MEDIUM, LONG
			names := [...]string{1: "TINY", 2: "", 3: "MEDIUM", 4: "LONG"}
			prefix := ""
			if int(c.Meta) < len(names) {
				prefix = names[c.Meta]
			}
			switch {
			case c.JSON:
				cm.TypeName, cm.JDBCType = "JSON", jdbcOther
			case c.Binary():
				cm.TypeName, cm.JDBCType = prefix+"BLOB", jdbcBlob
			default:
				cm.TypeName, cm.JDBCType = prefix+"TEXT", jdbcVarchar
			}
		default:
			cm.TypeName, cm.JDBCType = strings.ToUpper(c.TypeName()), jdbcOther
		}
		if c.Unsigned {
			cm.TypeName += " UNSIGNED"
		}
		if c.Charset != "" && c.Charset != "binary" && !c.JSON {
			cm.Charset = c.Charset
		}
		if c.Type == mysql.MYSQL_TYPE_ENUM || c.Type == mysql.MYSQL_TYPE_SET {
			cm.EnumValues = quoteMembers(c.Values)
		}
		m.Columns = append(m.Columns, cm)
	}
	for _, i := range t.PrimaryKey {
		m.PrimaryKey = append(m.PrimaryKey, t.Columns[i].Name)
	}
	return m
}

// charsetMaxLen is the bytes per character of the character sets whose
// columns a TABLE_MAP shows by their byte length.
var charsetMaxLen = map[string]int{
	"utf8mb4": 4, "utf8mb3": 3, "utf8": 3, "latin1": 1, "ascii": 1, "ucs2": 2, "utf16": 4, "utf32": 4,
	"cp1250": 1, "cp1251": 1, "cp1256": 1, "cp1257": 1, "latin2": 1, "latin5": 1, "latin7": 1, "greek": 1, "hebrew": 1,
	"koi8r": 1, "koi8u": 1, "big5": 2, "gbk": 2, "gb2312": 2, "gb18030": 4, "sjis": 2, "cp932": 2, "ujis": 3, "eucjpms": 3, "euckr": 2,
}

// quoteMembers writes ENUM/SET members as Debezium keeps them: quoted as
// in the DDL.
func quoteMembers(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return out
}

// parseStatements parses sql as ClassifyDDL does; nil if it cannot.
func parseStatements(sql string) []ast.StmtNode {
	defer func() { _ = recover() }()
	p := parser.New()
	stmts, _, err := p.ParseSQL(sql)
	if err != nil {
		if alt := mariadbClauses.ReplaceAllString(sql, "$1"); alt != sql {
			stmts, _, err = p.ParseSQL(alt)
		}
	}
	if err != nil {
		return nil
	}
	return stmts
}

// metaAfter returns the definition d leaves its table with, given the
// statement sql and the definition before (nil when unknown): nil when
// the table is dropped, or when the statement cannot be read or changes a
// table sluice knows nothing of.
func metaAfter(d *DDL, sql string, before, like *TableMeta) (m *TableMeta) {
	defer func() {
		if recover() != nil {
			m = nil
		}
	}()
	switch d.Kind {
	case TableRename:
		if before == nil || !d.Parsed {
			return before
		}
	case TableCreate:
		if d.LikeTable != "" {
			if like == nil {
				return nil
			}
			return like.clone()
		}
	case TableAlter:
	default:
		return nil
	}
	if !d.Parsed {
		return nil
	}
	for _, s := range parseStatements(sql) {
		switch s := s.(type) {
		case *ast.CreateTableStmt:
			if d.Kind == TableCreate && s.Table.Name.O == d.Table {
				return metaFromCreate(s)
			}
		case *ast.AlterTableStmt:
			if s.Table.Name.O == d.Table || d.Kind == TableRename && s.Table.Name.O == d.OldTable {
				if before == nil {
					return nil
				}
				return applyAlter(before.clone(), s)
			}
		case *ast.RenameTableStmt, *ast.CreateIndexStmt, *ast.DropIndexStmt:
			if before == nil {
				return nil
			}
			return before.clone()
		}
	}
	return nil
}

func metaFromCreate(s *ast.CreateTableStmt) *TableMeta {
	m := &TableMeta{}
	for _, o := range s.Options {
		switch o.Tp {
		case ast.TableOptionCharset:
			m.DefaultCharset = strings.ToLower(o.StrValue)
		case ast.TableOptionCollate:
			if m.DefaultCharset == "" {
				m.DefaultCharset = collationCharset(o.StrValue)
			}
		}
	}
	for _, c := range s.Cols {
		m.Columns = append(m.Columns, m.columnMeta(c))
		m.columnKey(c)
	}
	for _, c := range s.Constraints {
		m.constraint(c)
	}
	return m
}

// collationCharset is the character set a collation name starts with.
func collationCharset(collation string) string {
	cs, _, _ := strings.Cut(strings.ToLower(collation), "_")
	return cs
}

// columnKey records a column-level PRIMARY KEY, and a column-level UNIQUE
// as the key of a table that has none yet, as Debezium's parser does.
func (m *TableMeta) columnKey(c *ast.ColumnDef) {
	for _, o := range c.Options {
		if o.Tp == ast.ColumnOptionUniqKey && len(m.PrimaryKey) == 0 {
			m.PrimaryKey = []string{c.Name.Name.O}
		}
		if o.Tp == ast.ColumnOptionPrimaryKey {
			m.PrimaryKey = []string{c.Name.Name.O}
			if i := m.index(c.Name.Name.O); i >= 0 {
				m.Columns[i].Optional = false
			}
		}
	}
}

func (m *TableMeta) constraint(c *ast.Constraint) {
	if c == nil || c.Tp != ast.ConstraintPrimaryKey {
		return
	}
	m.PrimaryKey = nil
	for _, k := range c.Keys {
		if k.Column == nil {
			continue
		}
		m.PrimaryKey = append(m.PrimaryKey, k.Column.Name.O)
		if i := m.index(k.Column.Name.O); i >= 0 {
			m.Columns[i].Optional = false
		}
	}
}

// columnMeta describes a column definition as Debezium's MySQL DDL parser
// does.
func (m *TableMeta) columnMeta(c *ast.ColumnDef) ColumnMeta {
	tp := c.Tp
	cm := ColumnMeta{Name: c.Name.Name.O, Length: -1, Scale: -1, Optional: true}
	flen, dec := tp.GetFlen(), tp.GetDecimal()
	binary := tp.GetCharset() == "binary"
	text := false
	switch tp.GetType() {
	case pmysql.TypeTiny:
		cm.TypeName, cm.JDBCType = "TINYINT", jdbcTinyint
	case pmysql.TypeShort:
		cm.TypeName, cm.JDBCType = "SMALLINT", jdbcSmallint
	case pmysql.TypeInt24:
		cm.TypeName, cm.JDBCType = "MEDIUMINT", jdbcInteger
	case pmysql.TypeLong:
		cm.TypeName, cm.JDBCType = "INT", jdbcInteger
	case pmysql.TypeLonglong:
		cm.TypeName, cm.JDBCType = "BIGINT", jdbcBigint
	case pmysql.TypeFloat:
		cm.TypeName, cm.JDBCType = "FLOAT", jdbcFloat
	case pmysql.TypeDouble:
		cm.TypeName, cm.JDBCType = "DOUBLE", jdbcDouble
	case pmysql.TypeNewDecimal:
		cm.TypeName, cm.JDBCType = "DECIMAL", jdbcDecimal
		if flen < 0 {
			flen, dec = 10, 0
		}
		cm.Scale = max(dec, 0)
	case pmysql.TypeBit:
		cm.TypeName, cm.JDBCType = "BIT", jdbcBit
		if flen < 0 {
			flen = 1
		}
	case pmysql.TypeYear:
		cm.TypeName, cm.JDBCType = "YEAR", jdbcInteger
	case pmysql.TypeDate:
		cm.TypeName, cm.JDBCType = "DATE", jdbcDate
	case pmysql.TypeDuration, pmysql.TypeDatetime, pmysql.TypeTimestamp:
		cm.TypeName, cm.JDBCType = map[byte]string{pmysql.TypeDuration: "TIME", pmysql.TypeDatetime: "DATETIME", pmysql.TypeTimestamp: "TIMESTAMP"}[tp.GetType()],
			map[byte]int{pmysql.TypeDuration: jdbcTime, pmysql.TypeDatetime: jdbcTimestamp, pmysql.TypeTimestamp: jdbcTimestampTZ}[tp.GetType()]
		flen = -1
		if dec > 0 {
			flen = dec // the fractional seconds
		}
	case pmysql.TypeString:
		cm.TypeName, cm.JDBCType, text = "CHAR", jdbcChar, true
		if binary {
			cm.TypeName, cm.JDBCType, text = "BINARY", jdbcBinary, false
		}
	case pmysql.TypeVarchar, pmysql.TypeVarString:
		cm.TypeName, cm.JDBCType, text = "VARCHAR", jdbcVarchar, true
		if binary {
			cm.TypeName, cm.JDBCType, text = "VARBINARY", jdbcVarbinary, false
		}
	case pmysql.TypeTinyBlob, pmysql.TypeBlob, pmysql.TypeMediumBlob, pmysql.TypeLongBlob:
		size := map[byte]string{pmysql.TypeTinyBlob: "TINY", pmysql.TypeBlob: "", pmysql.TypeMediumBlob: "MEDIUM", pmysql.TypeLongBlob: "LONG"}[tp.GetType()]
		cm.TypeName, cm.JDBCType, text = size+"TEXT", jdbcVarchar, true
		if binary {
			cm.TypeName, cm.JDBCType, text = size+"BLOB", jdbcBlob, false
		}
	case pmysql.TypeEnum:
		cm.TypeName, cm.JDBCType, text = "ENUM", jdbcChar, true
		cm.EnumValues, flen = quoteMembers(tp.GetElems()), 1
	case pmysql.TypeSet:
		cm.TypeName, cm.JDBCType, text = "SET", jdbcChar, true
		cm.EnumValues, flen = quoteMembers(tp.GetElems()), max(0, 2*len(tp.GetElems())-1)
	case pmysql.TypeJSON:
		cm.TypeName, cm.JDBCType = "JSON", jdbcOther
	case pmysql.TypeGeometry:
		cm.TypeName, cm.JDBCType = "GEOMETRY", jdbcOther
	default:
		cm.TypeName, cm.JDBCType = strings.ToUpper(types.TypeToStr(tp.GetType(), tp.GetCharset())), jdbcOther
	}
	if flen >= 0 && flen != types.UnspecifiedLength {
		cm.Length = flen
	}
	if pmysql.HasZerofillFlag(tp.GetFlag()) {
		cm.TypeName += " UNSIGNED ZEROFILL"
	} else if pmysql.HasUnsignedFlag(tp.GetFlag()) {
		cm.TypeName += " UNSIGNED"
	}
	if text {
		cm.Charset = strings.ToLower(tp.GetCharset())
		if cm.Charset == "" && tp.GetCollate() != "" {
			cm.Charset = collationCharset(tp.GetCollate())
		}
	}
	for _, o := range c.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull, ast.ColumnOptionPrimaryKey:
			cm.Optional = false
		case ast.ColumnOptionNull:
			cm.Optional = true
		case ast.ColumnOptionAutoIncrement, ast.ColumnOptionOnUpdate:
			// Debezium's parser marks both AUTO_INCREMENT and ON UPDATE
			// columns as auto-incremented and generated
			cm.AutoIncrement, cm.Generated = true, true
		case ast.ColumnOptionCollate:
			if cm.Charset == "" && text {
				cm.Charset = collationCharset(o.StrValue)
			}
		}
	}
	if text && cm.Charset == "" {
		cm.Charset = m.DefaultCharset
	}
	return cm
}

// applyAlter applies the column and key changes of an ALTER TABLE to m.
func applyAlter(m *TableMeta, s *ast.AlterTableStmt) *TableMeta {
	for _, spec := range s.Specs {
		switch spec.Tp {
		case ast.AlterTableOption:
			for _, o := range spec.Options {
				switch o.Tp {
				case ast.TableOptionCharset:
					m.DefaultCharset = strings.ToLower(o.StrValue)
				case ast.TableOptionCollate:
					m.DefaultCharset = collationCharset(o.StrValue)
				}
			}
		case ast.AlterTableAddColumns:
			pos := spec.Position
			for _, c := range spec.NewColumns {
				m.place(-1, m.columnMeta(c), pos)
				m.columnKey(c)
				if pos != nil && pos.Tp == ast.ColumnPositionNone {
					continue
				}
				// the next of several columns goes after this one
				pos = &ast.ColumnPosition{Tp: ast.ColumnPositionAfter, RelativeColumn: c.Name}
			}
			for _, c := range spec.NewConstraints {
				m.constraint(c)
			}
		case ast.AlterTableDropColumn:
			if i := m.index(spec.OldColumnName.Name.O); i >= 0 {
				m.Columns = append(m.Columns[:i], m.Columns[i+1:]...)
				m.dropKey(spec.OldColumnName.Name.O)
			}
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			if len(spec.NewColumns) == 0 {
				continue
			}
			c := spec.NewColumns[0]
			old := c.Name.Name.O
			if spec.OldColumnName != nil {
				old = spec.OldColumnName.Name.O
			}
			i := m.index(old)
			if i < 0 {
				continue
			}
			m.renameKey(old, c.Name.Name.O)
			cm := m.columnMeta(c)
			if m.inKey(cm.Name) {
				cm.Optional = false
			}
			m.place(i, cm, spec.Position)
			m.columnKey(c)
		case ast.AlterTableRenameColumn:
			if i := m.index(spec.OldColumnName.Name.O); i >= 0 {
				m.renameKey(m.Columns[i].Name, spec.NewColumnName.Name.O)
				m.Columns[i].Name = spec.NewColumnName.Name.O
			}
		case ast.AlterTableAddConstraint:
			m.constraint(spec.Constraint)
		case ast.AlterTableDropPrimaryKey:
			m.PrimaryKey = nil
		}
	}
	return m
}

// place puts cm at position pos: replacing column i (-1: a new column)
// where pos says nothing, else moved FIRST or AFTER a column.
func (m *TableMeta) place(i int, cm ColumnMeta, pos *ast.ColumnPosition) {
	if pos == nil || pos.Tp == ast.ColumnPositionNone {
		if i >= 0 {
			m.Columns[i] = cm
		} else {
			m.Columns = append(m.Columns, cm)
		}
		return
	}
	if i >= 0 {
		m.Columns = append(m.Columns[:i], m.Columns[i+1:]...)
	}
	at := 0
	if pos.Tp == ast.ColumnPositionAfter {
		at = m.index(pos.RelativeColumn.Name.O) + 1
		if at == 0 {
			at = len(m.Columns)
		}
	}
	m.Columns = append(m.Columns, ColumnMeta{})
	copy(m.Columns[at+1:], m.Columns[at:])
	m.Columns[at] = cm
}

func (m *TableMeta) inKey(name string) bool {
	for _, k := range m.PrimaryKey {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func (m *TableMeta) dropKey(name string) {
	for i, k := range m.PrimaryKey {
		if strings.EqualFold(k, name) {
			m.PrimaryKey = append(m.PrimaryKey[:i], m.PrimaryKey[i+1:]...)
			return
		}
	}
}

func (m *TableMeta) renameKey(old, name string) {
	for i, k := range m.PrimaryKey {
		if strings.EqualFold(k, old) {
			m.PrimaryKey[i] = name
		}
	}
}
