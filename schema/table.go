// Package schema describes tables as the binlog describes them: every column's
// name, type and attributes come from TABLE_MAP events written with
// binlog_row_metadata=FULL, never from the live information_schema, so a row is
// always decoded with the shape it was written with.
package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// ErrNoColumnNames is returned for a TABLE_MAP event that carries no column
// names: the server does not log full row metadata.
var ErrNoColumnNames = errors.New("TABLE_MAP event has no column names: the server must run with binlog_row_metadata=FULL (SET GLOBAL binlog_row_metadata=FULL, and set it in my.cnf)")

// Column is one column of a table as of one binlog position.
type Column struct {
	Name string
	// Type is the binlog column type (mysql.MYSQL_TYPE_*), with MYSQL_TYPE_STRING
	// resolved to ENUM or SET where the metadata says so.
	Type     byte
	Meta     uint16
	Unsigned bool
	Nullable bool
	// Charset is the character set of a character column ("utf8mb4", "latin1",
	// "binary", ...), empty for other columns.
	Charset string
	// Values are the ENUM or SET members in definition order.
	Values []string
	// Fsp is the fractional-seconds precision of TIME, DATETIME and TIMESTAMP.
	Fsp int
	// Precision and Scale describe a DECIMAL.
	Precision, Scale int
	// Length is the declared byte length of a CHAR or BINARY column.
	Length int
	// JSON marks a text column that holds JSON: MariaDB logs JSON columns
	// as LONGTEXT; the registry sets this from the table's DDL.
	JSON bool `json:",omitempty"`
}

// Binary reports whether the column holds bytes rather than text.
func (c *Column) Binary() bool {
	switch c.Type {
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING,
		mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		return c.Charset == "binary"
	}
	return false
}

// Table is the shape of one table at one point of the binlog.
type Table struct {
	Database string
	Name     string
	Columns  []Column
	// PrimaryKey holds the indexes into Columns of the primary key, in key order.
	// It is empty for a table without one.
	PrimaryKey []int
	// Version numbers the shapes a table has had in this pipeline, from 1.
	Version int
}

// QualifiedName is "database.table".
func (t *Table) QualifiedName() string { return t.Database + "." + t.Name }

// FromTableMap builds a table from a TABLE_MAP event logged with full metadata.
func FromTableMap(ev *replication.TableMapEvent) (t *Table, err error) {
	t = &Table{Database: string(ev.Schema), Name: string(ev.Table)}
	n := int(ev.ColumnCount)
	if len(ev.ColumnType) != n || len(ev.ColumnMeta) != n {
		return nil, fmt.Errorf("table %s: malformed TABLE_MAP: %d columns, %d types, %d metadata", t.QualifiedName(), n, len(ev.ColumnType), len(ev.ColumnMeta))
	}
	if n > 0 && len(ev.ColumnName) != n {
		return nil, fmt.Errorf("table %s: %w", t.QualifiedName(), ErrNoColumnNames)
	}
	defer func() {
		// go-mysql's metadata accessors index without checking; metadata
		// that does not match the columns must be an error, not a crash.
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("table %s: malformed TABLE_MAP metadata: %v", t.QualifiedName(), r)
		}
	}()
	unsigned := ev.UnsignedMap()
	collations := ev.CollationMap()
	enumSetCollations := ev.EnumSetCollationMap()
	enums := ev.EnumStrValueMap()
	sets := ev.SetStrValueMap()
	t.Columns = make([]Column, n)
	for i := range n {
		c := &t.Columns[i]
		c.Name = string(ev.ColumnName[i])
		c.Type = ev.ColumnType[i]
		c.Meta = ev.ColumnMeta[i]
		c.Unsigned = unsigned[i]
		_, c.Nullable = ev.Nullable(i)
		if c.Type == mysql.MYSQL_TYPE_STRING {
			// ENUM and SET are logged as STRING with the real type in the
			// high byte of the metadata; CHAR and BINARY keep their byte
			// length there, its top bits folded into the high byte.
			b0, b1 := byte(c.Meta>>8), int(c.Meta&0xff)
			switch {
			case c.Meta < 256:
				c.Length = int(c.Meta)
			case b0 == mysql.MYSQL_TYPE_ENUM || b0 == mysql.MYSQL_TYPE_SET:
				c.Type = b0
			case b0&0x30 != 0x30:
				c.Length = b1 | int((b0&0x30)^0x30)<<4
			default:
				c.Length = b1
			}
		}
		switch c.Type {
		case mysql.MYSQL_TYPE_ENUM:
			c.Values = enums[i]
			c.Charset = charsetName(enumSetCollations[i])
		case mysql.MYSQL_TYPE_SET:
			c.Values = sets[i]
			c.Charset = charsetName(enumSetCollations[i])
		case mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
			c.Fsp = int(c.Meta)
		case mysql.MYSQL_TYPE_NEWDECIMAL:
			c.Precision, c.Scale = int(c.Meta>>8), int(c.Meta&0xff)
		}
		if id, ok := collations[i]; ok {
			c.Charset = charsetName(id)
		}
	}
	for _, i := range ev.PrimaryKey {
		if int(i) >= n {
			return nil, fmt.Errorf("table %s: primary key column %d out of range (%d columns)", t.QualifiedName(), i, n)
		}
		t.PrimaryKey = append(t.PrimaryKey, int(i))
	}
	return t, nil
}

func charsetName(collation uint64) string {
	if cs, ok := CharsetOf(collation); ok {
		return cs
	}
	return fmt.Sprintf("collation-%d", collation)
}

// SameShape reports whether two tables decode rows identically: same names,
// types, metadata, signedness, charsets, members and key.
func (t *Table) SameShape(o *Table) bool {
	if t.Database != o.Database || t.Name != o.Name || len(t.Columns) != len(o.Columns) || len(t.PrimaryKey) != len(o.PrimaryKey) {
		return false
	}
	for i := range t.PrimaryKey {
		if t.PrimaryKey[i] != o.PrimaryKey[i] {
			return false
		}
	}
	for i := range t.Columns {
		a, b := &t.Columns[i], &o.Columns[i]
		if a.Name != b.Name || a.Type != b.Type || a.Meta != b.Meta || a.Unsigned != b.Unsigned ||
			a.Nullable != b.Nullable || a.Charset != b.Charset || a.JSON != b.JSON || strings.Join(a.Values, "\x00") != strings.Join(b.Values, "\x00") {
			return false
		}
	}
	return true
}
