package schema

import (
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TypeName renders a column's type for people, as far as the binlog tells
// it ("int unsigned", "decimal(20,10)", "datetime(6)", "enum('a','b')").
// Lengths of character columns are not in the binlog and are left out.
func (c *Column) TypeName() string {
	var s string
	switch c.Type {
	case mysql.MYSQL_TYPE_TINY:
		s = "tinyint"
	case mysql.MYSQL_TYPE_SHORT:
		s = "smallint"
	case mysql.MYSQL_TYPE_INT24:
		s = "mediumint"
	case mysql.MYSQL_TYPE_LONG:
		s = "int"
	case mysql.MYSQL_TYPE_LONGLONG:
		s = "bigint"
	case mysql.MYSQL_TYPE_FLOAT:
		s = "float"
	case mysql.MYSQL_TYPE_DOUBLE:
		s = "double"
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
		s = "decimal(" + strconv.Itoa(c.Precision) + "," + strconv.Itoa(c.Scale) + ")"
	case mysql.MYSQL_TYPE_BIT:
		s = "bit(" + strconv.Itoa(int(c.Meta>>8)*8+int(c.Meta&0xff)) + ")"
	case mysql.MYSQL_TYPE_YEAR:
		s = "year"
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		s = "date"
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		s = withFsp("time", c.Fsp)
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
		s = withFsp("datetime", c.Fsp)
	case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		s = withFsp("timestamp", c.Fsp)
	case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		s = "enum"
		if c.Type == mysql.MYSQL_TYPE_SET {
			s = "set"
		}
		q := make([]string, len(c.Values))
		for i, v := range c.Values {
			q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		s += "(" + strings.Join(q, ",") + ")"
	case mysql.MYSQL_TYPE_JSON:
		s = "json"
	case mysql.MYSQL_TYPE_GEOMETRY:
		s = "geometry"
	case mysql.MYSQL_TYPE_VECTOR:
		s = "vector"
	case mysql.MYSQL_TYPE_STRING:
		s = "char"
		if c.Binary() {
			s = "binary(" + strconv.Itoa(c.Length) + ")"
		}
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		s = "varchar"
		if c.Binary() {
			s = "varbinary"
		}
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		s = "text"
		switch {
		case c.JSON:
			s = "json"
		case c.Binary():
			s = "blob"
		}
	default:
		s = "type-" + strconv.Itoa(int(c.Type))
	}
	if c.Unsigned {
		s += " unsigned"
	}
	if c.Charset != "" && c.Charset != "binary" && !c.JSON {
		s += " " + c.Charset
	}
	return s
}

func withFsp(s string, fsp int) string {
	if fsp == 0 {
		return s
	}
	return s + "(" + strconv.Itoa(fsp) + ")"
}
