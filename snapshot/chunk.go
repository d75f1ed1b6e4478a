package snapshot

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// PrepareSession sets a connection up for chunk reads: TIMESTAMP values in
// UTC (as the binlog decoder renders them) and text in each column's own
// character set, unconverted, as the binlog holds it.
func PrepareSession(conn *client.Conn) error {
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION character_set_results = NULL"} {
		if _, err := conn.Execute(q); err != nil {
			return fmt.Errorf("prepare snapshot session (%s): %w", q, err)
		}
	}
	return nil
}

// Chunk is the rows of one chunk.
type Chunk struct {
	// Rows hold the values in t's column order, of the Go types go-mysql's
	// binlog decoder gives for each column type, so the event encoder
	// renders a snapshot row exactly as it renders the same row from the
	// binlog.
	Rows [][]any
	// Last is the primary key of the last row as SQL literals, in key
	// order: where the next chunk starts. Nil when Rows is empty.
	Last []string
}

// ReadChunk reads up to limit rows of t in primary-key order, after the key
// after (nil: from the start). The connection must have been prepared
// with PrepareSession.
func ReadChunk(conn *client.Conn, t *schema.Table, after []string, limit int) (*Chunk, error) {
	q, err := chunkQuery(t, after, limit)
	if err != nil {
		return nil, &TableError{err}
	}
	n := len(t.Columns)
	c := &Chunk{Rows: make([][]any, 0, limit)}
	// Streamed: each row is converted as it arrives, while the server
	// sends the next ones, instead of after the whole result is in.
	// Values are copied out of the packet, which the next row reuses. A
	// row that cannot be converted ends the chunk's rows with its error,
	// but the stream is read to its end: the connection stays usable.
	var last []string
	var rowErr error
	var slab []any
	perRow := func(vals []mysql.FieldValue) error {
		if rowErr != nil {
			return nil
		}
		if len(vals) != n+len(t.PrimaryKey) {
			rowErr = fmt.Errorf("read a chunk of %s: %d columns returned, want %d", t.QualifiedName(), len(vals), n+len(t.PrimaryKey))
			return nil
		}
		if len(slab) < n {
			slab = make([]any, n*256) // rows' values allocated 256 rows at a time
		}
		row := slab[:n:n]
		slab = slab[n:]
		for i := range t.Columns {
			if row[i], err = binlogValue(&t.Columns[i], &vals[i]); err != nil {
				rowErr = &TableError{fmt.Errorf("%s column %s: %w", t.QualifiedName(), t.Columns[i].Name, err)}
				return nil
			}
		}
		c.Rows = append(c.Rows, row)
		if last == nil {
			last = make([]string, len(t.PrimaryKey))
		}
		for k, i := range t.PrimaryKey {
			if last[k], err = literal(&t.Columns[i], &vals[n+k]); err != nil {
				rowErr = &TableError{fmt.Errorf("%s key column %s: %w", t.QualifiedName(), t.Columns[i].Name, err)}
				return nil
			}
		}
		return nil
	}
	perResult := func(r *mysql.Result) error {
		if len(r.Fields) != n+len(t.PrimaryKey) {
			rowErr = fmt.Errorf("read a chunk of %s: %d columns returned, want %d", t.QualifiedName(), len(r.Fields), n+len(t.PrimaryKey))
		}
		return nil
	}
	var r mysql.Result
	if err := conn.ExecuteSelectStreaming(q, &r, perRow, perResult); err != nil {
		return nil, fmt.Errorf("read a chunk of %s: %w", t.QualifiedName(), err)
	}
	if rowErr != nil {
		return nil, rowErr
	}
	c.Last = last
	return c, nil
}

// chunkQuery selects every column in the form binlogValue converts, then
// the key columns again as they compare (for the next chunk's start).
func chunkQuery(t *schema.Table, after []string, limit int) (string, error) {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(selectExpr(&t.Columns[i]))
	}
	for _, i := range t.PrimaryKey {
		b.WriteString(", " + selectExpr(&t.Columns[i]))
	}
	b.WriteString(" FROM " + quoteName(t.Database) + "." + quoteName(t.Name))
	if len(after) > 0 {
		if len(after) != len(t.PrimaryKey) {
			return "", fmt.Errorf("%s: resume key has %d values but the primary key has %d columns: the key changed since the snapshot began", t.QualifiedName(), len(after), len(t.PrimaryKey))
		}
		for _, l := range after {
			if !validLiteral(l) {
				return "", fmt.Errorf("%s: resume key value %q is not a literal sluice writes", t.QualifiedName(), l)
			}
		}
		// (a > x) OR (a = x AND b > y) OR ...: the range optimizer of
		// MySQL and MariaDB both read this as a key range.
		b.WriteString(" WHERE ")
		for k := range t.PrimaryKey {
			if k > 0 {
				b.WriteString(" OR ")
			}
			b.WriteByte('(')
			for j := 0; j < k; j++ {
				b.WriteString(quoteName(t.Columns[t.PrimaryKey[j]].Name) + " = " + after[j] + " AND ")
			}
			b.WriteString(quoteName(t.Columns[t.PrimaryKey[k]].Name) + " > " + after[k] + ")")
		}
	}
	b.WriteString(" ORDER BY ")
	for k, i := range t.PrimaryKey {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteName(t.Columns[i].Name))
	}
	b.WriteString(" LIMIT " + strconv.Itoa(limit))
	return b.String(), nil
}

// selectExpr selects a column in the form binlogValue converts: ENUM, SET
// and BIT as the number the binlog holds (member index, bit mask, bits),
// FLOAT as a double so no digits are lost in the text.
func selectExpr(c *schema.Column) string {
	switch c.Type {
	case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET, mysql.MYSQL_TYPE_BIT:
		return quoteName(c.Name) + "+0"
	case mysql.MYSQL_TYPE_FLOAT:
		return quoteName(c.Name) + "+0e0"
	}
	return quoteName(c.Name)
}

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// binlogValue converts a text-protocol value to what the binlog decoder
// gives for the column.
func binlogValue(c *schema.Column, v *mysql.FieldValue) (any, error) {
	if v.Type == mysql.FieldValueTypeNull {
		return nil, nil
	}
	switch c.Type {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG,
		mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_YEAR:
		switch v.Type {
		case mysql.FieldValueTypeUnsigned:
			return v.AsUint64(), nil
		case mysql.FieldValueTypeSigned:
			return v.AsInt64(), nil
		}
	case mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		switch v.Type {
		case mysql.FieldValueTypeUnsigned:
			return int64(v.AsUint64()), nil
		case mysql.FieldValueTypeSigned:
			return v.AsInt64(), nil
		case mysql.FieldValueTypeString:
			// MariaDB types col+0 of a BIT as DECIMAL
			n, err := strconv.ParseUint(string(v.AsString()), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("not a number: %q", v.AsString())
			}
			return int64(n), nil
		}
	case mysql.MYSQL_TYPE_FLOAT:
		if v.Type == mysql.FieldValueTypeFloat {
			return float32(v.AsFloat64()), nil
		}
	case mysql.MYSQL_TYPE_DOUBLE:
		if v.Type == mysql.FieldValueTypeFloat {
			return v.AsFloat64(), nil
		}
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2,
		mysql.MYSQL_TYPE_TIMESTAMP2:
		if v.Type == mysql.FieldValueTypeString {
			return string(v.AsString()), nil
		}
	case mysql.MYSQL_TYPE_JSON:
		// MySQL prints JSON with spaces; the binlog decoder's text has none.
		var buf bytes.Buffer
		if err := json.Compact(&buf, v.AsString()); err != nil {
			return nil, fmt.Errorf("JSON value: %w", err)
		}
		return buf.Bytes(), nil
	case mysql.MYSQL_TYPE_STRING:
		b := bytes.Clone(v.AsString())
		if c.Charset == "binary" {
			// BINARY(n) is logged without its trailing zero bytes
			b = bytes.TrimRight(b, "\x00")
		}
		return b, nil
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_GEOMETRY:
		return bytes.Clone(v.AsString()), nil
	}
	return nil, fmt.Errorf("unexpected %s value %q", c.TypeName(), v.String())
}

// literal renders a key value as an SQL literal that compares with the
// column as the column's own values do.
func literal(c *schema.Column, v *mysql.FieldValue) (string, error) {
	switch v.Type {
	case mysql.FieldValueTypeNull:
		return "", fmt.Errorf("NULL in a primary key")
	case mysql.FieldValueTypeSigned, mysql.FieldValueTypeUnsigned:
		return v.String(), nil
	case mysql.FieldValueTypeFloat:
		return strconv.FormatFloat(v.AsFloat64(), 'e', -1, 64), nil
	}
	raw := v.AsString()
	switch c.Type {
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		return string(raw), nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
		return "'" + string(raw) + "'", nil
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_BLOB:
		if c.Charset == "binary" || c.Charset == "" {
			return "X'" + hex.EncodeToString(raw) + "'", nil
		}
		// The introducer makes the literal text of the column's character
		// set; its coercibility lets the column's collation decide the
		// comparison, as it decides ORDER BY.
		return "_" + c.Charset + " X'" + hex.EncodeToString(raw) + "'", nil
	}
	return "", fmt.Errorf("a %s primary key is not supported by snapshots", c.TypeName())
}

var literalRE = regexp.MustCompile(`^(-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?|(_[a-z0-9]+ )?X'[0-9a-f]*'|'[0-9:. -]*')$`)

// validLiteral reports whether s is a literal literal() writes: resume keys
// come from the checkpoint and are put into SQL.
func validLiteral(s string) bool { return literalRE.MatchString(s) }
