package compact

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/iceberg-go"
)

// Column types of a snapshot table, inferred from the JSON values the lake
// holds (sluice's events carry no column types):
//
//	JSON integers in int64                      long
//	other plain numbers (DECIMAL, FLOAT, DOUBLE,
//	  BIGINT UNSIGNED beyond int64)             decimal(38, s), s the most fraction digits seen
//	numbers that need more than 38 digits, or
//	  are written with an exponent              string, as written
//	strings (text, ENUM, DATE, TIME, DATETIME
//	  and TIMESTAMP as sluice writes them,
//	  binary as base64)                         string
//	objects, arrays, booleans (JSON, SET)       string, their JSON text
//
// A column declared DATE, DATETIME, TIMESTAMP or TIME (not in the primary
// key) is a date, timestamp, timestamptz or time instead (temporal.go).
//
// Types only widen from run to run: long → decimal(38, s) → decimal(38, s')
// with s' > s → string. A column with only NULLs so far is a string.
type typeKind uint8

const (
	typeNone typeKind = iota // no value yet
	typeLong
	typeInt // 32 bits: a column declared TINYINT, SMALLINT, MEDIUMINT or INT (signed)
	typeDecimal
	typeString
	// Temporal columns, by declared type only (see temporal.go).
	typeDate        // DATE
	typeTimestamp   // DATETIME: µs, no zone
	typeTimestampTz // TIMESTAMP: µs, UTC
	typeTime        // TIME: µs since midnight
)

// decimalPrecision is the precision of every decimal column: the most
// Iceberg allows, so that values never outgrow their column.
const decimalPrecision = 38

type colType struct {
	kind  typeKind
	scale int // of a decimal
	// prec is a decimal's precision; 0 means decimalPrecision (columns
	// typed by their values, not by a declared DECIMAL(p,s)).
	prec int
}

// precision is the decimal's precision.
func (t colType) precision() int {
	if t.prec == 0 {
		return decimalPrecision
	}
	return t.prec
}

func (t colType) String() string {
	switch t.kind {
	case typeLong:
		return "long"
	case typeInt:
		return "int"
	case typeDecimal:
		return fmt.Sprintf("decimal(%d,%d)", t.precision(), t.scale)
	case typeString:
		return "string"
	case typeDate:
		return "date"
	case typeTimestamp, typeTimestampTz, typeTime:
		name := map[typeKind]string{typeTimestamp: "timestamp", typeTimestampTz: "timestamptz", typeTime: "time"}[t.kind]
		if t.prec > 0 { // a declared type's fraction digits
			return fmt.Sprintf("%s(%d)", name, t.prec)
		}
		return name
	}
	return "none"
}

// parseColType parses what String renders.
func parseColType(s string) (colType, bool) {
	switch s {
	case "long":
		return colType{kind: typeLong}, true
	case "int":
		return colType{kind: typeInt}, true
	case "string":
		return colType{kind: typeString}, true
	case "none":
		return colType{}, true
	case "date":
		return colType{kind: typeDate}, true
	case "timestamp":
		return colType{kind: typeTimestamp}, true
	case "timestamptz":
		return colType{kind: typeTimestampTz}, true
	case "time":
		return colType{kind: typeTime}, true
	}
	for _, k := range []typeKind{typeTimestamp, typeTimestampTz, typeTime} {
		name := colType{kind: k}.String()
		var d int
		if _, err := fmt.Sscanf(s, name+"(%d)", &d); err == nil && d > 0 && d <= 6 && s == fmt.Sprintf("%s(%d)", name, d) {
			return colType{kind: k, prec: d}, true
		}
	}
	var p, sc int
	if _, err := fmt.Sscanf(s, "decimal(%d,%d)", &p, &sc); err == nil && p > 0 && p <= decimalPrecision && sc <= p {
		return decimalType(p, sc), true
	}
	return colType{}, false
}

// iceberg is the column's Iceberg type (string for a column with no values yet).
func (t colType) iceberg() iceberg.Type {
	switch t.kind {
	case typeLong:
		return iceberg.PrimitiveTypes.Int64
	case typeInt:
		return iceberg.PrimitiveTypes.Int32
	case typeDecimal:
		return iceberg.DecimalTypeOf(t.precision(), t.scale)
	case typeDate:
		return iceberg.PrimitiveTypes.Date
	case typeTimestamp:
		return iceberg.PrimitiveTypes.Timestamp
	case typeTimestampTz:
		return iceberg.PrimitiveTypes.TimestampTz
	case typeTime:
		return iceberg.PrimitiveTypes.Time
	}
	return iceberg.PrimitiveTypes.String
}

// colTypeOf maps an Iceberg type back; ok is false for types the compactor
// never writes.
func colTypeOf(t iceberg.Type) (colType, bool) {
	switch t := t.(type) {
	case iceberg.Int64Type:
		return colType{kind: typeLong}, true
	case iceberg.Int32Type:
		return colType{kind: typeInt}, true
	case iceberg.DecimalType:
		return decimalType(t.Precision(), t.Scale()), true
	case iceberg.StringType:
		return colType{kind: typeString}, true
	case iceberg.DateType:
		return colType{kind: typeDate}, true
	case iceberg.TimestampType:
		return colType{kind: typeTimestamp}, true
	case iceberg.TimestampTzType:
		return colType{kind: typeTimestampTz}, true
	case iceberg.TimeType:
		return colType{kind: typeTime}, true
	}
	return colType{}, false
}

// decimalType is decimal(p, s), p 38 written as 0.
func decimalType(p, s int) colType {
	if p >= decimalPrecision {
		p = 0
	}
	return colType{kind: typeDecimal, scale: s, prec: p}
}

// typeStats accumulates what a column's values need.
type typeStats struct {
	str, long, dec bool
	// int: the column is declared (or was written) as a 32-bit int;
	// wide: an integer value beyond 32 bits was seen.
	int, wide bool
	longType  bool // the column was declared or written as a long
	// declInt is the most integer digits a declared or written
	// decimal(p,s) holds (p-s); valDec: a decimal value was seen.
	declInt   int
	declDec   bool
	scale     int // most fraction digits of a decimal
	intDigits int // most integer digits of a number
	// text: a string value was seen; temporal: the column is declared
	// (or was written) with that temporal type.
	text     bool
	temporal typeKind
}

// addType joins a type the column had.
func (s *typeStats) addType(t colType) {
	switch t.kind {
	case typeInt:
		s.int = true
	case typeLong:
		s.long, s.longType = true, true
	case typeDecimal:
		s.dec, s.declDec = true, true
		s.scale = max(s.scale, t.scale)
		s.declInt = max(s.declInt, t.precision()-t.scale)
	case typeString:
		s.str = true
	case typeDate, typeTimestamp, typeTimestampTz, typeTime:
		s.addTemporal(t.kind) // fraction digits aside: tableState.fracs
	}
}

// addTemporal joins a temporal type; two different ones make a string
// (Iceberg promotes none of them to another).
func (s *typeStats) addTemporal(k typeKind) {
	if s.temporal != typeNone && s.temporal != k {
		s.str = true
	}
	s.temporal = k
}

// join adds what another column's values need.
func (s *typeStats) join(o *typeStats) {
	s.str, s.long, s.dec = s.str || o.str, s.long || o.long, s.dec || o.dec
	s.int, s.wide, s.longType = s.int || o.int, s.wide || o.wide, s.longType || o.longType
	s.declDec, s.declInt = s.declDec || o.declDec, max(s.declInt, o.declInt)
	s.scale, s.intDigits = max(s.scale, o.scale), max(s.intDigits, o.intDigits)
	s.text = s.text || o.text
	if o.temporal != typeNone {
		s.addTemporal(o.temporal)
	}
}

func (s *typeStats) add(v any) {
	switch v := v.(type) {
	case nil:
	case int64:
		s.long = true
		s.wide = s.wide || v != int64(int32(v))
		s.intDigits = max(s.intDigits, intDigits(v))
	case number:
		intDigits, scale, ok := decimalShape(string(v))
		if !ok {
			s.str = true
			return
		}
		s.dec = true
		s.scale = max(s.scale, scale)
		s.intDigits = max(s.intDigits, intDigits)
	case string:
		s.text = true
	default:
		s.str = true
	}
}

func (s *typeStats) result() colType {
	switch {
	case s.str:
		return colType{kind: typeString}
	case s.temporal != typeNone:
		// Declared temporal: its values are text (or NULL); a number
		// or a declared number type makes a string.
		if s.dec || s.long || s.int {
			return colType{kind: typeString}
		}
		return colType{kind: s.temporal}
	case s.text:
		return colType{kind: typeString}
	case s.dec:
		if s.intDigits+s.scale > decimalPrecision {
			return colType{kind: typeString}
		}
		if !s.declDec {
			return colType{kind: typeDecimal, scale: s.scale}
		}
		// Declared DECIMAL(p,s): p as declared, grown to what the
		// values need (38 at most).
		return decimalType(min(decimalPrecision, max(s.declInt, s.intDigits)+s.scale), s.scale)
	case s.int && !s.longType && !s.wide:
		return colType{kind: typeInt}
	case s.long || s.int:
		return colType{kind: typeLong}
	}
	return colType{}
}

// decimalShape reports the integer and fraction digits of a plain decimal
// number ("-12.340" → 2, 3); ok is false for exponents and other forms.
func decimalShape(s string) (intDigits, scale int, ok bool) {
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" || !allDigits(ip) || !allDigits(fp) {
		return 0, 0, false
	}
	ip = strings.TrimLeft(ip, "0")
	return len(ip), len(fp), len(ip)+len(fp) <= decimalPrecision
}

// intDigits counts the decimal digits of n's magnitude (0 for 0).
func intDigits(n int64) int {
	d := 0
	for n != 0 {
		n /= 10
		d++
	}
	return d
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// toDecimal converts an int64 or number to a decimal128 of the given scale.
func toDecimal(v any, scale int) (decimal128.Num, error) {
	var s string
	switch v := v.(type) {
	case int64:
		s = strconv.FormatInt(v, 10)
	case number:
		s = string(v)
	default:
		return decimal128.Num{}, fmt.Errorf("%v (%T) is not a number", v, v)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if len(fp) > scale || !allDigits(ip) || !allDigits(fp) {
		return decimal128.Num{}, fmt.Errorf("%s does not fit decimal(%d,%d)", v, decimalPrecision, scale)
	}
	digits := strings.TrimLeft(ip+fp+strings.Repeat("0", scale-len(fp)), "0")
	if len(digits) > decimalPrecision {
		return decimal128.Num{}, fmt.Errorf("%s does not fit decimal(%d,%d)", v, decimalPrecision, scale)
	}
	if digits == "" {
		return decimal128.Num{}, nil
	}
	if neg {
		digits = "-" + digits
	}
	if len(digits) <= 18 {
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return decimal128.Num{}, err
		}
		return decimal128.FromI64(n), nil
	}
	b, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return decimal128.Num{}, fmt.Errorf("%s is not a number", v)
	}
	return decimal128.FromBigInt(b), nil
}

// toText renders a value for a string column.
func toText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case number:
		return string(v)
	}
	return fmt.Sprint(v)
}
