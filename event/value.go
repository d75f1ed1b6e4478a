package event

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// valueKind says how a column's decoded value becomes JSON.
type valueKind uint8

const (
	kindInt valueKind = iota
	kindBit
	kindFloat32
	kindFloat64
	kindDecimal
	kindTime // TIME: quoted, fraction padded to the column's fsp
	kindQuoted
	kindYear
	kindEnum
	kindSet
	kindText
	kindBinary
	kindJSON
	kindJSONText // a MariaDB JSON column: text that holds JSON
	kindGeometry
)

// columnCodec is what the encoder precomputes for one column.
type columnCodec struct {
	col  *schema.Column
	key  []byte // `"name":`
	kind valueKind
	// decode converts text in the column's charset to UTF-8; nil for UTF-8.
	decode func(dst, raw []byte) ([]byte, error)
}

func newColumnCodec(c *schema.Column) (columnCodec, error) {
	cc := columnCodec{col: c, key: append(appendString(nil, c.Name), ':')}
	switch c.Type {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
		cc.kind = kindInt
	case mysql.MYSQL_TYPE_BIT:
		cc.kind = kindBit
	case mysql.MYSQL_TYPE_FLOAT:
		cc.kind = kindFloat32
	case mysql.MYSQL_TYPE_DOUBLE:
		cc.kind = kindFloat64
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
		cc.kind = kindDecimal
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		cc.kind = kindTime
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2,
		mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		cc.kind = kindQuoted
	case mysql.MYSQL_TYPE_YEAR:
		cc.kind = kindYear
	case mysql.MYSQL_TYPE_ENUM:
		cc.kind = kindEnum
	case mysql.MYSQL_TYPE_SET:
		cc.kind = kindSet
	case mysql.MYSQL_TYPE_JSON:
		cc.kind = kindJSON
	case mysql.MYSQL_TYPE_GEOMETRY:
		cc.kind = kindGeometry
	case mysql.MYSQL_TYPE_VECTOR:
		cc.kind = kindBinary
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_BLOB,
		mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		if c.Binary() {
			cc.kind = kindBinary
			break
		}
		cc.kind = kindText
		if c.JSON {
			cc.kind = kindJSONText
		}
		switch c.Charset {
		case "utf8mb4", "utf8mb3", "utf8", "ascii", "":
		default:
			dec, ok := schema.Decoder(c.Charset)
			if !ok {
				return cc, fmt.Errorf("column %s: no decoder for character set %s", c.Name, c.Charset)
			}
			cc.decode = dec
		}
	default:
		return cc, fmt.Errorf("column %s: unsupported binlog column type %d", c.Name, c.Type)
	}
	return cc, nil
}

// newColumnCodecs returns the codecs of every column of t.
func newColumnCodecs(t *schema.Table) ([]columnCodec, error) {
	cols := make([]columnCodec, len(t.Columns))
	for i := range t.Columns {
		cc, err := newColumnCodec(&t.Columns[i])
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.QualifiedName(), err)
		}
		cols[i] = cc
	}
	return cols, nil
}

// appendValue appends one decoded value as JSON. scratch is reused for
// charset conversion and returned for reuse.
func (cc *columnCodec) appendValue(dst []byte, v any, scratch []byte) ([]byte, []byte, error) {
	if v == nil {
		return append(dst, "null"...), scratch, nil
	}
	switch cc.kind {
	case kindInt, kindYear:
		switch x := v.(type) {
		case int8:
			return strconv.AppendInt(dst, int64(x), 10), scratch, nil
		case int16:
			return strconv.AppendInt(dst, int64(x), 10), scratch, nil
		case int32:
			return strconv.AppendInt(dst, int64(x), 10), scratch, nil
		case int64:
			return strconv.AppendInt(dst, x, 10), scratch, nil
		case int:
			return strconv.AppendInt(dst, int64(x), 10), scratch, nil
		case uint8:
			return strconv.AppendUint(dst, uint64(x), 10), scratch, nil
		case uint16:
			return strconv.AppendUint(dst, uint64(x), 10), scratch, nil
		case uint32:
			return strconv.AppendUint(dst, uint64(x), 10), scratch, nil
		case uint64:
			return strconv.AppendUint(dst, x, 10), scratch, nil
		}
	case kindBit:
		if x, ok := v.(int64); ok {
			return strconv.AppendUint(dst, uint64(x), 10), scratch, nil
		}
	case kindFloat32:
		if x, ok := v.(float32); ok {
			return appendFloat(dst, float64(x), 32), scratch, nil
		}
	case kindFloat64:
		if x, ok := v.(float64); ok {
			return appendFloat(dst, x, 64), scratch, nil
		}
	case kindDecimal:
		if x, ok := v.(string); ok && validDecimal(x) {
			return append(dst, x...), scratch, nil
		}
	case kindTime:
		if x, ok := v.(string); ok {
			return appendTime(dst, x, cc.col.Fsp), scratch, nil
		}
	case kindQuoted:
		if x, ok := v.(string); ok {
			return appendString(dst, x), scratch, nil
		}
	case kindEnum:
		if x, ok := v.(int64); ok {
			if x >= 1 && int(x) <= len(cc.col.Values) {
				return appendString(dst, cc.col.Values[x-1]), scratch, nil
			}
			// index 0 is the "invalid value" MySQL stores as ''.
			return append(dst, '"', '"'), scratch, nil
		}
	case kindSet:
		if x, ok := v.(int64); ok {
			dst = append(dst, '[')
			first := true
			for m := uint64(x); m != 0; m &= m - 1 {
				i := bits.TrailingZeros64(m)
				if i >= len(cc.col.Values) {
					break
				}
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = appendString(dst, cc.col.Values[i])
			}
			return append(dst, ']'), scratch, nil
		}
	case kindJSONText:
		// Embedded when it is valid JSON (MariaDB's CHECK (json_valid(...))
		// sees to that), a string otherwise: output is never invalid JSON.
		var err error
		var text []byte
		switch x := v.(type) {
		case string:
			text = unsafeBytes(x)
		case []byte:
			text = x
		default:
			return dst, scratch, cc.typeError(v)
		}
		if cc.decode != nil {
			if scratch, err = cc.decode(scratch[:0], text); err != nil {
				return dst, scratch, fmt.Errorf("column %s: decode %s text: %w", cc.col.Name, cc.col.Charset, err)
			}
			text = scratch
		}
		if len(text) == 0 {
			return append(dst, "null"...), scratch, nil
		}
		if out, ok := appendCompactJSON(dst, text); ok {
			return out, scratch, nil
		}
		return appendBytesString(dst, text), scratch, nil
	case kindText:
		var raw []byte
		switch x := v.(type) {
		case string:
			if cc.decode == nil {
				return appendString(dst, x), scratch, nil
			}
			raw = []byte(x)
		case []byte:
			raw = x
		default:
			return dst, scratch, cc.typeError(v)
		}
		if cc.decode == nil {
			return appendBytesString(dst, raw), scratch, nil
		}
		var err error
		scratch, err = cc.decode(scratch[:0], raw)
		if err != nil {
			return dst, scratch, fmt.Errorf("column %s: decode %s text: %w", cc.col.Name, cc.col.Charset, err)
		}
		return appendBytesString(dst, scratch), scratch, nil
	case kindBinary:
		switch x := v.(type) {
		case string:
			// BINARY(n) is logged without its trailing zero bytes and is
			// rendered as logged, as Maxwell does (its test_blob fixture):
			// the column's length tells a consumer the padding.
			return appendBase64(dst, []byte(x)), scratch, nil
		case []byte:
			return appendBase64(dst, x), scratch, nil
		}
	case kindJSON:
		switch x := v.(type) {
		case string:
			if x == "" {
				return append(dst, "null"...), scratch, nil
			}
			return append(dst, x...), scratch, nil
		case []byte:
			if len(x) == 0 {
				return append(dst, "null"...), scratch, nil
			}
			return append(dst, x...), scratch, nil
		}
	case kindGeometry:
		if x, ok := v.([]byte); ok {
			return appendGeometry(dst, x), scratch, nil
		}
	}
	return dst, scratch, cc.typeError(v)
}

func (cc *columnCodec) typeError(v any) error {
	return fmt.Errorf("column %s (binlog type %d): unexpected decoded value of Go type %T", cc.col.Name, cc.col.Type, v)
}

// appendTime appends a TIME value with exactly fsp fraction digits; the
// binlog decoder leaves out a fraction that is zero.
func appendTime(dst []byte, s string, fsp int) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	if fsp > 0 {
		have := 0
		if i := strings.IndexByte(s, '.'); i >= 0 {
			have = len(s) - i - 1
		} else {
			dst = append(dst, '.')
		}
		for ; have < fsp; have++ {
			dst = append(dst, '0')
		}
	}
	return append(dst, '"')
}

// validDecimal reports whether s is a plain decimal number, which is also a
// valid JSON number: -?digits(.digits)?.
func validDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		fstart := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == fstart {
			return false
		}
	}
	return i == len(s)
}

func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// appendCompactJSON appends JSON text without insignificant white space,
// so MariaDB's JSON (kept as written) and MySQL's (normalised by the server)
// read alike; newlines inside would also break JSON lines. It reports false,
// with dst unchanged, for text that is not valid JSON (compactJSON validates
// as it goes: one pass; its output is encoding/json.Compact's).
func appendCompactJSON(dst, text []byte) ([]byte, bool) {
	return compactJSON(dst, text)
}
