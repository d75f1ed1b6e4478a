package event

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// dbzKind says how a column's decoded value becomes a Debezium value.
type dbzKind uint8

const (
	dbzAsMaxwell       dbzKind = iota // integers, floats, text: rendered as in the Maxwell format
	dbzUnsignedLong                   // BIGINT UNSIGNED, long mode: Java's signed long (wraps above 2^63-1)
	dbzUnsignedDecimal                // BIGINT UNSIGNED, precise mode: Decimal with scale 0
	dbzBool                           // BIT(1)
	dbzBits                           // BIT(n>1): io.debezium.data.Bits, little-endian bytes
	dbzDecimalBytes                   // DECIMAL, precise: base64 of the unscaled two's complement value
	dbzDecimalDouble                  // DECIMAL, double
	dbzDecimalString                  // DECIMAL, string
	dbzDate                           // DATE: days since the epoch
	dbzTimeMicros                     // TIME: io.debezium.time.MicroTime
	dbzTimeMillis                     // TIME, connect: org.apache.kafka.connect.data.Time
	dbzDatetimeMillis                 // DATETIME(0-3), or any DATETIME in connect mode
	dbzDatetimeMicros                 // DATETIME(4-6)
	dbzZoned                          // TIMESTAMP: io.debezium.time.ZonedTimestamp, ISO-8601 UTC
	dbzEnum                           // ENUM: the member
	dbzSet                            // SET: members joined by commas
	dbzBinary                         // binary strings, per binary.handling.mode
	dbzJSON                           // JSON: io.debezium.data.Json, the document as a string
	dbzGeometry                       // GEOMETRY: {"wkb": base64, "srid": int|null}
)

// dbzColumn is what the Debezium encoder precomputes for one column.
type dbzColumn struct {
	columnCodec
	dkind  dbzKind
	binary string // binary.handling.mode for dbzBinary
	nbits  int    // BIT(n)
	schema []byte // the field's Kafka Connect schema, without its "field" member
}

func newDbzColumn(c *schema.Column, o *DebeziumOptions) (dbzColumn, error) {
	cc, err := newColumnCodec(c)
	if err != nil {
		return dbzColumn{}, err
	}
	dc := dbzColumn{columnCodec: cc}
	s := connectSchema{optional: c.Nullable}
	switch c.Type {
	case mysql.MYSQL_TYPE_TINY:
		s.typ = "int16"
	case mysql.MYSQL_TYPE_SHORT:
		s.typ = "int16"
		if c.Unsigned {
			s.typ = "int32"
		}
	case mysql.MYSQL_TYPE_INT24:
		s.typ = "int32"
	case mysql.MYSQL_TYPE_LONG:
		s.typ = "int32"
		if c.Unsigned {
			s.typ = "int64"
		}
	case mysql.MYSQL_TYPE_LONGLONG:
		s.typ = "int64"
		if c.Unsigned {
			dc.dkind = dbzUnsignedLong
			if o.BigintUnsignedHandlingMode == BigintPrecise {
				dc.dkind = dbzUnsignedDecimal
				s = decimalSchema(c.Nullable, 0, 20)
			}
		}
	case mysql.MYSQL_TYPE_FLOAT:
		s.typ = "float"
	case mysql.MYSQL_TYPE_DOUBLE:
		s.typ = "double"
	case mysql.MYSQL_TYPE_BIT:
		dc.nbits = int(c.Meta>>8)*8 + int(c.Meta&0xff)
		if dc.nbits <= 1 {
			dc.dkind, s.typ = dbzBool, "boolean"
		} else {
			dc.dkind, s.typ, s.name = dbzBits, "bytes", "io.debezium.data.Bits"
			s.version = 1
			s.params = [][2]string{{"length", strconv.Itoa(dc.nbits)}}
		}
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
		switch o.DecimalHandlingMode {
		case DecimalDouble:
			dc.dkind, s.typ = dbzDecimalDouble, "double"
		case DecimalString:
			dc.dkind, s.typ = dbzDecimalString, "string"
		default:
			dc.dkind = dbzDecimalBytes
			s = decimalSchema(c.Nullable, c.Scale, c.Precision)
		}
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		dc.dkind, s.typ, s.version, s.name = dbzDate, "int32", 1, "io.debezium.time.Date"
		if o.TimePrecisionMode == TimeConnect {
			s.name = "org.apache.kafka.connect.data.Date"
		}
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		dc.dkind, s.typ, s.version, s.name = dbzTimeMicros, "int64", 1, "io.debezium.time.MicroTime"
		if o.TimePrecisionMode == TimeConnect {
			dc.dkind, s.typ, s.name = dbzTimeMillis, "int32", "org.apache.kafka.connect.data.Time"
		}
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
		s.typ, s.version = "int64", 1
		switch {
		case o.TimePrecisionMode == TimeConnect:
			dc.dkind, s.name = dbzDatetimeMillis, "org.apache.kafka.connect.data.Timestamp"
		case c.Fsp <= 3:
			dc.dkind, s.name = dbzDatetimeMillis, "io.debezium.time.Timestamp"
		default:
			dc.dkind, s.name = dbzDatetimeMicros, "io.debezium.time.MicroTimestamp"
		}
	case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		dc.dkind, s.typ, s.version, s.name = dbzZoned, "string", 1, "io.debezium.time.ZonedTimestamp"
	case mysql.MYSQL_TYPE_YEAR:
		s.typ, s.version, s.name = "int32", 1, "io.debezium.time.Year"
	case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		dc.dkind, s.name = dbzEnum, "io.debezium.data.Enum"
		if c.Type == mysql.MYSQL_TYPE_SET {
			dc.dkind, s.name = dbzSet, "io.debezium.data.EnumSet"
		}
		s.typ, s.version = "string", 1
		s.params = [][2]string{{"allowed", strings.Join(c.Values, ",")}}
	case mysql.MYSQL_TYPE_JSON:
		dc.dkind, s.typ, s.version, s.name = dbzJSON, "string", 1, "io.debezium.data.Json"
	case mysql.MYSQL_TYPE_GEOMETRY:
		dc.dkind = dbzGeometry
		s = connectSchema{typ: "struct", optional: c.Nullable, name: "io.debezium.data.geometry.Geometry", version: 1, doc: "Geometry",
			fields: []byte(`[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}]`)}
	default:
		switch cc.kind {
		case kindBinary:
			dc.dkind, dc.binary, s.typ = dbzBinary, o.BinaryHandlingMode, "string"
			if o.BinaryHandlingMode == BinaryBytes {
				s.typ = "bytes"
			}
		case kindJSONText:
			// MariaDB's JSON is LONGTEXT with a json_valid check; Debezium
			// reads the JSON in the table's DDL.
			dc.dkind, s.typ, s.version, s.name = dbzJSON, "string", 1, "io.debezium.data.Json"
		default:
			s.typ = "string"
		}
	}
	dc.schema = s.append(nil)
	return dc, nil
}

func decimalSchema(optional bool, scale, precision int) connectSchema {
	return connectSchema{typ: "bytes", optional: optional, name: "org.apache.kafka.connect.data.Decimal", version: 1,
		params: [][2]string{{"scale", strconv.Itoa(scale)}, {"connect.decimal.precision", strconv.Itoa(precision)}}}
}

// appendDbz appends one decoded value as Debezium renders it.
func (dc *dbzColumn) appendDbz(dst []byte, v any, scratch []byte) ([]byte, []byte, error) {
	if v == nil {
		return append(dst, "null"...), scratch, nil
	}
	switch dc.dkind {
	case dbzAsMaxwell:
		return dc.appendValue(dst, v, scratch)
	case dbzUnsignedLong:
		switch x := v.(type) {
		case uint64:
			return strconv.AppendInt(dst, int64(x), 10), scratch, nil
		case int64:
			return strconv.AppendInt(dst, x, 10), scratch, nil
		}
	case dbzUnsignedDecimal:
		switch x := v.(type) {
		case uint64:
			return appendUnscaled(dst, new(big.Int).SetUint64(x)), scratch, nil
		case int64:
			return appendUnscaled(dst, new(big.Int).SetUint64(uint64(x))), scratch, nil
		}
	case dbzBool:
		if x, ok := v.(int64); ok {
			return strconv.AppendBool(dst, x != 0), scratch, nil
		}
	case dbzBits:
		if x, ok := v.(int64); ok {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(x))
			return appendBase64(dst, b[:(dc.nbits+7)/8]), scratch, nil
		}
	case dbzDecimalBytes, dbzDecimalDouble, dbzDecimalString:
		x, ok := v.(string)
		if !ok || !validDecimal(x) {
			break
		}
		switch dc.dkind {
		case dbzDecimalString:
			return appendString(dst, x), scratch, nil
		case dbzDecimalDouble:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return dst, scratch, fmt.Errorf("column %s: decimal %q: %w", dc.col.Name, x, err)
			}
			return appendFloat(dst, f, 64), scratch, nil
		}
		if out, ok := appendUnscaledSmall(dst, x); ok {
			return out, scratch, nil
		}
		n, ok := new(big.Int).SetString(strings.Replace(x, ".", "", 1), 10)
		if !ok {
			break
		}
		return appendUnscaled(dst, n), scratch, nil
	case dbzDate:
		if x, ok := v.(string); ok {
			if t, ok := parseDateTime(x); ok {
				return strconv.AppendInt(dst, floorDiv(t.Unix(), 86400), 10), scratch, nil
			}
			return dc.appendZero(dst, "0"), scratch, nil
		}
	case dbzDatetimeMillis, dbzDatetimeMicros:
		if x, ok := v.(string); ok {
			t, ok := parseDateTime(x)
			if !ok {
				return dc.appendZero(dst, "0"), scratch, nil
			}
			us := t.Unix()*1e6 + int64(t.Nanosecond()/1000)
			if dc.dkind == dbzDatetimeMillis {
				return strconv.AppendInt(dst, floorDiv(us, 1000), 10), scratch, nil
			}
			return strconv.AppendInt(dst, us, 10), scratch, nil
		}
	case dbzZoned:
		if x, ok := v.(string); ok {
			t, ok := parseDateTime(x)
			if !ok || t.Unix() == 0 && t.Nanosecond() == 0 && strings.HasPrefix(x, "0000") {
				return dc.appendZero(dst, `"1970-01-01T00:00:00Z"`), scratch, nil
			}
			dst = append(dst, '"')
			dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
			if dc.col.Fsp > 0 {
				dst = append(dst, '.')
				var frac [6]byte
				us := t.Nanosecond() / 1000
				for i := 5; i >= 0; i-- {
					frac[i] = byte('0' + us%10)
					us /= 10
				}
				dst = append(dst, frac[:min(dc.col.Fsp, 6)]...)
			}
			return append(dst, 'Z', '"'), scratch, nil
		}
	case dbzTimeMicros, dbzTimeMillis:
		if x, ok := v.(string); ok {
			us, ok := parseTimeMicros(x)
			if !ok {
				break
			}
			if dc.dkind == dbzTimeMillis {
				return strconv.AppendInt(dst, floorDiv(us, 1000), 10), scratch, nil
			}
			return strconv.AppendInt(dst, us, 10), scratch, nil
		}
	case dbzEnum:
		return dc.appendValue(dst, v, scratch)
	case dbzSet:
		if x, ok := v.(int64); ok {
			dst = append(dst, '"')
			first := true
			for m := uint64(x); m != 0; m &= m - 1 {
				i := bits.TrailingZeros64(m)
				if i >= len(dc.col.Values) {
					break
				}
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = appendStringBody(dst, dc.col.Values[i])
			}
			return append(dst, '"'), scratch, nil
		}
	case dbzBinary:
		var b []byte
		switch x := v.(type) {
		case string:
			b = unsafeBytes(x)
		case []byte:
			b = x
		default:
			return dst, scratch, dc.typeError(v)
		}
		if dc.col.Type == mysql.MYSQL_TYPE_STRING && len(b) < dc.col.Length {
			// BINARY(n) is logged without its trailing zero bytes; the
			// column's value, as a snapshot reads it, has them.
			scratch = append(append(scratch[:0], b...), make([]byte, dc.col.Length-len(b))...)
			b = scratch
		}
		return appendBinary(dst, b, dc.binary), scratch, nil
	case dbzJSON:
		var text []byte
		switch x := v.(type) {
		case string:
			text = unsafeBytes(x)
		case []byte:
			text = x
		default:
			return dst, scratch, dc.typeError(v)
		}
		if dc.decode != nil {
			var err error
			if scratch, err = dc.decode(scratch[:0], text); err != nil {
				return dst, scratch, fmt.Errorf("column %s: decode %s text: %w", dc.col.Name, dc.col.Charset, err)
			}
			text = scratch
		}
		if len(text) == 0 {
			return append(dst, "null"...), scratch, nil
		}
		return appendBytesString(dst, text), scratch, nil
	case dbzGeometry:
		if x, ok := v.([]byte); ok && len(x) >= 4 {
			dst = append(dst, `{"wkb":`...)
			dst = appendBase64(dst, x[4:])
			dst = append(dst, `,"srid":`...)
			if srid := binary.LittleEndian.Uint32(x); srid != 0 {
				dst = strconv.AppendUint(dst, uint64(srid), 10)
			} else {
				dst = append(dst, "null"...)
			}
			return append(dst, '}'), scratch, nil
		}
	}
	return dst, scratch, dc.typeError(v)
}

// appendZero appends what Debezium makes of a zero or invalid date: null
// where the column allows it, else the epoch.
func (dc *dbzColumn) appendZero(dst []byte, epoch string) []byte {
	if dc.col.Nullable {
		return append(dst, "null"...)
	}
	return append(dst, epoch...)
}

// appendUnscaled appends n as Kafka Connect's Decimal carries it: base64 of
// its minimal big-endian two's complement bytes (Java's BigInteger.toByteArray).
func appendUnscaled(dst []byte, n *big.Int) []byte {
	var b []byte
	if n.Sign() >= 0 {
		b = make([]byte, n.BitLen()/8+1)
		n.FillBytes(b)
	} else {
		m := new(big.Int).Neg(n)
		m.Sub(m, big.NewInt(1)) // -n-1 >= 0
		k := m.BitLen()/8 + 1
		twos := new(big.Int).Lsh(big.NewInt(1), uint(8*k))
		twos.Add(twos, n)
		b = make([]byte, k)
		twos.FillBytes(b)
	}
	return appendBase64(dst, b)
}

// appendUnscaledSmall is appendUnscaled for a decimal text of at most 18
// digits, without allocating; it reports false for a longer one.
func appendUnscaledSmall(dst []byte, s string) ([]byte, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var n int64
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			continue
		}
		if digits++; digits > 18 {
			return dst, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	// the fewest bytes whose sign bit still tells n's sign, as Java's
	// BigInteger.toByteArray writes them
	i := 0
	for i < 7 && (b[i] == 0 && b[i+1]&0x80 == 0 || b[i] == 0xff && b[i+1]&0x80 != 0) {
		i++
	}
	return appendBase64(dst, b[i:]), true
}

func appendBinary(dst, b []byte, mode string) []byte {
	dst = append(dst, '"')
	switch mode {
	case BinaryHex:
		dst = hex.AppendEncode(dst, b)
	case BinaryBase64URLSafe:
		dst = base64.URLEncoding.AppendEncode(dst, b)
	default:
		dst = base64.StdEncoding.AppendEncode(dst, b)
	}
	return append(dst, '"')
}

// parseDateTime parses "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" as UTC. It reports
// false for a zero date or one that does not exist (2024-02-30).
func parseDateTime(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	y, ok1 := atoiDigits(s[0:4])
	mo, ok2 := atoiDigits(s[5:7])
	d, ok3 := atoiDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 {
		return time.Time{}, false
	}
	var h, mi, sec, us int
	if len(s) > 10 {
		if len(s) < 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
			return time.Time{}, false
		}
		var ok4, ok5, ok6 bool
		h, ok4 = atoiDigits(s[11:13])
		mi, ok5 = atoiDigits(s[14:16])
		sec, ok6 = atoiDigits(s[17:19])
		if !ok4 || !ok5 || !ok6 {
			return time.Time{}, false
		}
		if len(s) > 19 {
			var ok bool
			if us, ok = fraction(s[19:]); !ok {
				return time.Time{}, false
			}
		}
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
	if t.Day() != d {
		return time.Time{}, false // normalised: the date does not exist
	}
	return t, true
}

// fraction parses ".f" (1 to 6 digits) into microseconds.
func fraction(s string) (int, bool) {
	if len(s) < 2 || len(s) > 7 || s[0] != '.' {
		return 0, false
	}
	n, ok := atoiDigits(s[1:])
	for i := len(s) - 1; i < 6; i++ {
		n *= 10
	}
	return n, ok
}

// parseTimeMicros parses a TIME value "[-]H+:MM:SS[.f]" into microseconds.
func parseTimeMicros(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	hs, rest, ok := strings.Cut(s, ":")
	if !ok || len(rest) < 5 || rest[2] != ':' {
		return 0, false
	}
	h, ok1 := atoiDigits(hs)
	m, ok2 := atoiDigits(rest[0:2])
	sec, ok3 := atoiDigits(rest[3:5])
	us := 0
	ok4 := true
	if len(rest) > 5 {
		us, ok4 = fraction(rest[5:])
	}
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, false
	}
	v := ((int64(h)*60+int64(m))*60+int64(sec))*1e6 + int64(us)
	if neg {
		v = -v
	}
	return v, true
}

func atoiDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// appendStringBody appends s escaped as inside a JSON string, without the quotes.
func appendStringBody(dst []byte, s string) []byte {
	n := len(dst)
	dst = appendString(dst, s)
	copy(dst[n:], dst[n+1:len(dst)-1])
	return dst[:len(dst)-2]
}
