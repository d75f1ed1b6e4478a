package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Values are compared in one text form on both sides, chosen by the
// source column's type:
//
//	integers, YEAR, BIT        decimal digits
//	DECIMAL(p,s)               exactly s fraction digits
//	FLOAT, DOUBLE              Go's shortest form of the float32 or float64
//	DATE, TIME, DATETIME,      the server's text, which is sluice's form
//	  TIMESTAMP                  (TIMESTAMP in UTC), without the fraction's
//	                             trailing zeros; zero and invalid dates and
//	                             TIME outside 00:00:00–23:59:59.999999 as
//	                             NULL, as sluice compact writes them (except
//	                             in primary key columns, which stay text)
//	SET                        a JSON array of the members
//	JSON                       JSON with sorted keys
//	BINARY, VARBINARY, BLOB    base64 (BINARY without trailing zero bytes)
//	everything else            the text
//	NULL                       a marker no text equals
type kind uint8

const (
	kindText kind = iota
	kindInt
	kindBit
	kindDecimal
	kindFloat
	kindDouble
	kindSet
	kindJSON
	kindBinary   // VARBINARY, BLOB: base64
	kindBinaryN  // BINARY(n): base64 without trailing zero bytes
	kindGeometry // selected as ST_AsText
	kindDate
	kindDateTime // DATETIME, TIMESTAMP
	kindTime
)

// nullMarker stands for NULL: no text value holds a NUL byte first.
const nullMarker = "\x00NULL"

// column is a source column as verify compares it.
type column struct {
	name  string
	kind  kind
	scale int // of a DECIMAL
	key   bool
}

// kindOf maps information_schema.COLUMNS.DATA_TYPE.
func kindOf(dataType string) kind {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		return kindInt
	case "bit":
		return kindBit
	case "decimal", "numeric":
		return kindDecimal
	case "float":
		return kindFloat
	case "double", "real", "double precision":
		return kindDouble
	case "set":
		return kindSet
	case "json":
		return kindJSON
	case "binary":
		return kindBinaryN
	case "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return kindBinary
	case "date":
		return kindDate
	case "datetime", "timestamp":
		return kindDateTime
	case "time":
		return kindTime
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return kindGeometry
	}
	return kindText
}

// sourceValue normalizes a value the driver returned (binary protocol:
// int64, uint64, float32, float64, []byte, nil).
func (c *column) sourceValue(v any) string {
	if v == nil {
		return nullMarker
	}
	switch x := v.(type) {
	case int64:
		return c.fromText(strconv.FormatInt(x, 10))
	case uint64:
		return c.fromText(strconv.FormatUint(x, 10))
	case float32:
		return c.fromText(strconv.FormatFloat(float64(x), 'g', -1, 32))
	case float64:
		return c.fromText(strconv.FormatFloat(x, 'g', -1, 64))
	case []byte:
		switch c.kind {
		case kindBit:
			var n uint64
			for _, b := range x {
				n = n<<8 | uint64(b)
			}
			return strconv.FormatUint(n, 10)
		case kindBinary:
			return base64.StdEncoding.EncodeToString(x)
		case kindBinaryN:
			return base64.StdEncoding.EncodeToString(bytes.TrimRight(x, "\x00"))
		case kindSet:
			members := []string{}
			if len(x) > 0 {
				members = strings.Split(string(x), ",")
			}
			b, _ := json.Marshal(members)
			return string(b)
		}
		return c.fromText(string(x))
	case string:
		return c.fromText(x)
	}
	return c.fromText(fmt.Sprint(v))
}

// snapshotValue normalizes a value read from the snapshot: nil, int64,
// a decimal's text (isNumber), or a string.
func (c *column) snapshotValue(v any, isNumber bool) string {
	switch x := v.(type) {
	case nil:
		return nullMarker
	case int64:
		return c.fromText(strconv.FormatInt(x, 10))
	case string:
		switch c.kind {
		case kindSet, kindJSON:
			return canonicalJSON(x)
		case kindBinary, kindBinaryN, kindText, kindGeometry:
			if !isNumber {
				return x
			}
		}
		return c.fromText(x)
	}
	return c.fromText(fmt.Sprint(v))
}

// fromText normalizes a value's text by the column's kind.
func (c *column) fromText(s string) string {
	switch c.kind {
	case kindInt, kindBit:
		return canonicalInteger(s)
	case kindDecimal:
		return rescale(s, c.scale)
	case kindFloat:
		if f, err := strconv.ParseFloat(s, 32); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 32)
		}
	case kindDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	case kindJSON:
		return canonicalJSON(s)
	case kindDate, kindDateTime, kindTime:
		return c.temporal(s)
	}
	return s
}

// canonicalInteger renders an integral number without a fraction
// ("12.000" → "12"); other text is returned as is.
func canonicalInteger(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return s
	}
	return r.Num().String()
}

// rescale renders a decimal with exactly scale fraction digits, when that
// loses nothing; other text is returned as is.
func rescale(s string, scale int) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	out := r.FloatString(scale)
	if back, ok := new(big.Rat).SetString(out); !ok || back.Cmp(r) != 0 {
		return s
	}
	return out
}

// canonicalJSON re-encodes JSON with sorted keys and no spaces; text that
// is not JSON is returned as is.
func canonicalJSON(s string) string {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return s
	}
	return string(b)
}
