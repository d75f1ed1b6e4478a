// Package snapshot reads the rows that existed before sluice started, in
// primary-key chunks, the way DBLog does: each chunk is read between a low
// and a high watermark row written to a signal table, and the pipeline drops
// the chunk's rows that a binlog event between the two watermarks changed,
// so the snapshot never goes back in time against the binlog and never
// locks the source. This package does the SQL side: table shapes, chunk
// queries, values in the form the binlog decoder gives them, and the
// signal table. The pipeline runs the window.
package snapshot

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// ErrNoTable is returned for a table the source does not have.
var ErrNoTable = errors.New("no such table")

// ErrNoPrimaryKey is returned for a table without a primary key: chunks
// are read in key order, and the pipeline matches chunk rows with binlog
// events by key.
var ErrNoPrimaryKey = errors.New("table has no primary key; a snapshot reads in primary-key chunks (add a primary key, or leave the table out of snapshot.tables)")

// TableError is a problem of the table itself, which reading again does
// not fix: a type snapshots cannot read, a primary key that changed under
// a resume key.
type TableError struct{ Err error }

func (e *TableError) Error() string { return e.Err.Error() }
func (e *TableError) Unwrap() error { return e.Err }

// TableProblem reports whether err is the table's own problem (no such
// table, no primary key, a TableError, or the server refusing the query as
// unknown, denied or malformed) rather than the connection's or the
// server's passing state.
func TableProblem(err error) bool {
	var te *TableError
	if errors.Is(err, ErrNoTable) || errors.Is(err, ErrNoPrimaryKey) || errors.As(err, &te) {
		return true
	}
	var me *mysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case mysql.ER_NO_SUCH_TABLE, mysql.ER_TABLEACCESS_DENIED_ERROR, mysql.ER_COLUMNACCESS_DENIED_ERROR,
			mysql.ER_BAD_FIELD_ERROR, mysql.ER_PARSE_ERROR, mysql.ER_BAD_DB_ERROR, mysql.ER_DBACCESS_DENIED_ERROR:
			return true
		}
	}
	return false
}

// Refused reports the server refusing sluice itself rather than a
// table: access denied, or a read-only server. Retrying does not help.
func Refused(err error) bool {
	var me *mysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case mysql.ER_ACCESS_DENIED_ERROR, mysql.ER_DBACCESS_DENIED_ERROR, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
			mysql.ER_OPTION_PREVENTS_STATEMENT, 1792: // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
			return true
		}
	}
	return false
}

// ReadShape describes a table from information_schema, in the form TABLE_MAP
// events give (schema.FromTableMap): the shape snapshot rows are encoded
// with when the binlog has not shown the table yet. mariaDB marks columns
// with a json_valid() CHECK as JSON, as MariaDB logs JSON as LONGTEXT.
//
// Read it between the watermarks of the chunk it describes: a schema
// change that lands between reading the shape and reading the rows is
// then inside the window, and the pipeline reads the chunk again.
func ReadShape(conn *client.Conn, database, table string, mariaDB bool) (*schema.Table, error) {
	r, err := execute(conn, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COALESCE(CHARACTER_SET_NAME, ''),
		COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), COALESCE(DATETIME_PRECISION, 0), COALESCE(CHARACTER_OCTET_LENGTH, 0),
		TABLE_SCHEMA, TABLE_NAME
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, database, table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s.%s: %w", database, table, err)
	}
	if r.RowNumber() == 0 {
		return nil, fmt.Errorf("%s.%s: %w", database, table, ErrNoTable)
	}
	// information_schema compares names without regard to case; the
	// server's own spelling is what the binlog and the queries use.
	database, _ = r.GetString(0, 9)
	table, _ = r.GetString(0, 10)
	t := &schema.Table{Database: database, Name: table, Columns: make([]schema.Column, r.RowNumber())}
	for i := range r.RowNumber() {
		c := &t.Columns[i]
		c.Name, _ = r.GetString(i, 0)
		dataType, _ := r.GetString(i, 1)
		columnType, _ := r.GetString(i, 2)
		nullable, _ := r.GetString(i, 3)
		c.Charset, _ = r.GetString(i, 4)
		precision, _ := r.GetInt(i, 5)
		scale, _ := r.GetInt(i, 6)
		fsp, _ := r.GetInt(i, 7)
		octets, _ := r.GetInt(i, 8)
		c.Nullable = nullable == "YES"
		c.Unsigned = strings.Contains(strings.ToLower(columnType), " unsigned")
		if err := setType(c, strings.ToLower(dataType), columnType, int(precision), int(scale), int(fsp), int(octets)); err != nil {
			return nil, &TableError{fmt.Errorf("%s.%s column %s: %w", database, table, c.Name, err)}
		}
	}
	r, err = execute(conn, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, database, table)
	if err != nil {
		return nil, fmt.Errorf("read the primary key of %s.%s: %w", database, table, err)
	}
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		found := false
		for j := range t.Columns {
			if t.Columns[j].Name == name {
				t.PrimaryKey = append(t.PrimaryKey, j)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s.%s: primary key column %s is not among its columns", database, table, name)
		}
	}
	if len(t.PrimaryKey) == 0 {
		return nil, fmt.Errorf("%s.%s: %w", database, table, ErrNoPrimaryKey)
	}
	if mariaDB {
		r, err = execute(conn, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
			WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'`, database, table)
		if err != nil {
			return nil, fmt.Errorf("read the JSON columns of %s.%s: %w", database, table, err)
		}
		for i := range r.RowNumber() {
			clause, _ := r.GetString(i, 0)
			name, ok := schema.JSONCheckColumn(clause)
			if !ok {
				continue
			}
			for j := range t.Columns {
				c := &t.Columns[j]
				if strings.EqualFold(c.Name, name) && c.Type == mysql.MYSQL_TYPE_BLOB && c.Charset != "binary" {
					c.JSON = true
				}
			}
		}
	}
	return t, nil
}

// setType sets the binlog type and its attributes from information_schema.
func setType(c *schema.Column, dataType, columnType string, precision, scale, fsp, octets int) error {
	switch dataType {
	case "tinyint":
		c.Type = mysql.MYSQL_TYPE_TINY
	case "smallint":
		c.Type = mysql.MYSQL_TYPE_SHORT
	case "mediumint":
		c.Type = mysql.MYSQL_TYPE_INT24
	case "int", "integer":
		c.Type = mysql.MYSQL_TYPE_LONG
	case "bigint":
		c.Type = mysql.MYSQL_TYPE_LONGLONG
	case "bit":
		c.Type = mysql.MYSQL_TYPE_BIT
		c.Meta = uint16(precision/8)<<8 | uint16(precision%8)
	case "float":
		c.Type = mysql.MYSQL_TYPE_FLOAT
	case "double", "real", "double precision":
		c.Type = mysql.MYSQL_TYPE_DOUBLE
	case "decimal", "numeric":
		c.Type = mysql.MYSQL_TYPE_NEWDECIMAL
		c.Precision, c.Scale = precision, scale
		c.Meta = uint16(precision)<<8 | uint16(scale)
	case "year":
		c.Type = mysql.MYSQL_TYPE_YEAR
	case "date":
		c.Type = mysql.MYSQL_TYPE_DATE
	case "time":
		c.Type, c.Fsp, c.Meta = mysql.MYSQL_TYPE_TIME2, fsp, uint16(fsp)
	case "datetime":
		c.Type, c.Fsp, c.Meta = mysql.MYSQL_TYPE_DATETIME2, fsp, uint16(fsp)
	case "timestamp":
		c.Type, c.Fsp, c.Meta = mysql.MYSQL_TYPE_TIMESTAMP2, fsp, uint16(fsp)
	case "enum", "set":
		c.Type = mysql.MYSQL_TYPE_ENUM
		if dataType == "set" {
			c.Type = mysql.MYSQL_TYPE_SET
		}
		values, err := memberList(columnType)
		if err != nil {
			return err
		}
		c.Values = values
	case "json":
		c.Type = mysql.MYSQL_TYPE_JSON
		c.Charset = ""
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
		"geometrycollection", "geomcollection":
		c.Type = mysql.MYSQL_TYPE_GEOMETRY
		c.Charset = ""
	case "char":
		c.Type, c.Length = mysql.MYSQL_TYPE_STRING, octets
	case "binary":
		c.Type, c.Length, c.Charset = mysql.MYSQL_TYPE_STRING, octets, "binary"
	case "varchar":
		c.Type = mysql.MYSQL_TYPE_VARCHAR
	case "varbinary":
		c.Type, c.Charset = mysql.MYSQL_TYPE_VARCHAR, "binary"
	case "tinytext", "text", "mediumtext", "longtext":
		c.Type = mysql.MYSQL_TYPE_BLOB
	case "tinyblob", "blob", "mediumblob", "longblob":
		c.Type, c.Charset = mysql.MYSQL_TYPE_BLOB, "binary"
	default:
		return fmt.Errorf("type %s is not supported by snapshots yet", columnType)
	}
	switch c.Type {
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
	default:
		c.Charset = ""
	}
	return nil
}

// memberList parses the members of "enum('a','b”c')" or "set(...)".
func memberList(columnType string) ([]string, error) {
	open, end := strings.IndexByte(columnType, '('), strings.LastIndexByte(columnType, ')')
	if open < 0 || end < open {
		return nil, fmt.Errorf("cannot read the members of %s", columnType)
	}
	s := columnType[open+1 : end]
	var out []string
	for len(s) > 0 {
		if s[0] != '\'' {
			return nil, fmt.Errorf("cannot read the members of %s", columnType)
		}
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, fmt.Errorf("cannot read the members of %s", columnType)
		}
		out = append(out, b.String())
		s = strings.TrimPrefix(s[i+1:], ",")
	}
	return out, nil
}

// Compatible reports whether a table shape from the binlog (a registry
// version) can stand for one read from information_schema: same column
// names and the same types, as far as either tells. Snapshot rows are
// then encoded with the binlog's shape, version number included.
func Compatible(binlog, info *schema.Table) bool {
	if len(binlog.Columns) != len(info.Columns) || len(binlog.PrimaryKey) != len(info.PrimaryKey) {
		return false
	}
	for i := range binlog.PrimaryKey {
		if binlog.PrimaryKey[i] != info.PrimaryKey[i] {
			return false
		}
	}
	for i := range binlog.Columns {
		if !SameColumn(&binlog.Columns[i], &info.Columns[i]) {
			return false
		}
	}
	return true
}

// SameColumn reports whether two columns have the same name and type.
// YEAR's signedness is left out: MariaDB's TABLE_MAP marks it unsigned,
// information_schema does not, and it renders the same either way.
func SameColumn(a, b *schema.Column) bool {
	if a.Name != b.Name {
		return false
	}
	if a.Type == mysql.MYSQL_TYPE_YEAR && b.Type == mysql.MYSQL_TYPE_YEAR {
		return true
	}
	return a.TypeName() == b.TypeName()
}
