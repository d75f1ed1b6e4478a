package binlog

import (
	"encoding/binary"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"time"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// rowDecoder decodes the row images of rows events in place of go-mysql's
// RowsEvent.DecodeData, installed as BinlogSyncerConfig.RowsEventDecodeFunc.
// It produces exactly the values go-mysql produces with sluice's options
// (same Go types and values, row for row: TestRowDecoderMatches and
// FuzzRowDecode compare the two), only cheaper:
//
//   - the rows of an event are sub-slices of one []any slab, and the
//     values are boxed from typed slabs (one allocation per few hundred
//     values instead of one per value);
//   - DATETIME, TIMESTAMP, DATE, TIME and DECIMAL strings are formatted by
//     hand into a byte slab, not with fmt;
//   - signedness comes from a per-table plan, not UnsignedMap per row.
//
// Strings and []byte values point into the event's data, as go-mysql's
// do: go-mysql reads each packet into a fresh buffer (packet.Conn.ReadPacket,
// BinlogParser.parseSingleEvent, a transaction payload's decompressed
// buffer) and never reuses it, so the event's data is already the one copy.
//
// Binary JSON values are decoded by go-mysql's own JSON decoder (see
// jsonValue). Any event it does not handle exactly (an old DECIMAL or
// unknown column, PARTIAL_UPDATE_ROWS_EVENT, options other than sluice's,
// data it finds malformed) is decoded by go-mysql's own DecodeData
// instead: the fallback gives go-mysql's values or go-mysql's error. One
// case gets an error of its own: row images of no column followed by more
// data, on which go-mysql would loop forever. A rowDecoder is
// used by one syncer, on its reading goroutine (a transaction payload's
// inner events are decoded on the same goroutine).
type rowDecoder struct {
	plans  [4]*rowPlan // the plans of the last tables seen
	next   int
	fast   int // events decoded here
	falls  int // events handed to go-mysql
	rows   [][]any
	skips  [][]int
	any    chunk[any]
	rowHdr chunk[[]any]
	ints   chunk[int]
	skipHd chunk[[]int]
	i8     chunk[int8]
	u8     chunk[uint8]
	i16    chunk[int16]
	u16    chunk[uint16]
	i32    chunk[int32]
	u32    chunk[uint32]
	i64    chunk[int64]
	u64    chunk[uint64]
	f32    chunk[float32]
	f64    chunk[float64]
	str    chunk[string]
	byt    chunk[[]byte]
	skipIx chunk[int]
	text   []byte // strings formatted here; never rewritten
	// cur is the event being decoded; json a copy of it (go-mysql's
	// options included) that decodes one JSON value at a time.
	cur       *replication.RowsEvent
	json      replication.RowsEvent
	jsonTable replication.TableMapEvent
	jsonReady bool
}

func newRowDecoder() *rowDecoder { return &rowDecoder{} }

// chunkSize is how many values a slab chunk holds. A chunk lives as long
// as any value boxed from it.
const chunkSize = 256

// chunk hands out values from a slab that is never rewritten: a full
// chunk is replaced by a new one, never grown in place.
type chunk[T any] struct{ buf []T }

// take returns n zeroed consecutive elements.
func (c *chunk[T]) take(n int) []T {
	if cap(c.buf)-len(c.buf) < n {
		c.buf = make([]T, 0, max(n, chunkSize))
	}
	l := len(c.buf)
	c.buf = c.buf[:l+n]
	return c.buf[l : l+n : l+n]
}

// box stores v in the slab and returns it as an interface pointing at it:
// what `any(v)` gives, without allocating for each value. typ must be the
// type word of T.
func (c *chunk[T]) box(v T, typ unsafe.Pointer) (r any) {
	s := c.take(1)
	s[0] = v
	e := (*eface)(unsafe.Pointer(&r))
	e.typ, e.data = typ, unsafe.Pointer(&s[0])
	return r
}

// eface is the layout of an interface{} value.
type eface struct {
	typ, data unsafe.Pointer
}

func typeWord(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	tInt8    = typeWord(int8(0))
	tUint8   = typeWord(uint8(0))
	tInt16   = typeWord(int16(0))
	tUint16  = typeWord(uint16(0))
	tInt32   = typeWord(int32(0))
	tUint32  = typeWord(uint32(0))
	tInt64   = typeWord(int64(0))
	tUint64  = typeWord(uint64(0))
	tInt     = typeWord(int(0))
	tFloat32 = typeWord(float32(0))
	tFloat64 = typeWord(float64(0))
	tString  = typeWord("")
	tBytes   = typeWord([]byte(nil))
)

// rowsEventFields are the offsets of the unexported RowsEvent fields the
// decoder must read: the event type (write, update, partial update, or
// MariaDB's compressed kinds) and the decoding options. They are looked up
// by name and type; if go-mysql changes them, fieldsOK is false and every
// event goes to go-mysql (TestRowDecoderFields fails).
var rowsEventFields = func() (f struct {
	eventType, compressed, needBitmap2, parseTime, useDecimal, loc uintptr
	ok                                                             bool
}) {
	t := reflect.TypeFor[replication.RowsEvent]()
	f.ok = true
	get := func(name string, want reflect.Type) uintptr {
		sf, found := t.FieldByName(name)
		if !found || sf.Type != want || len(sf.Index) != 1 {
			f.ok = false
			return 0
		}
		return sf.Offset
	}
	boolT := reflect.TypeFor[bool]()
	f.eventType = get("eventType", reflect.TypeFor[replication.EventType]())
	f.compressed = get("compressed", boolT)
	f.needBitmap2 = get("needBitmap2", boolT)
	f.parseTime = get("parseTime", boolT)
	f.useDecimal = get("useDecimal", boolT)
	f.loc = get("timestampStringLocation", reflect.TypeFor[*time.Location]())
	return f
}()

func fieldAt[T any](re *replication.RowsEvent, off uintptr) T {
	return *(*T)(unsafe.Add(unsafe.Pointer(re), off))
}

// decode is the RowsEventDecodeFunc.
func (d *rowDecoder) decode(re *replication.RowsEvent, data []byte) (err error) {
	pos, err := decodeHeader(re, data)
	if err != nil {
		return err
	}
	if pos < len(data) && noColumns(re) && rowsEventFields.ok && !fieldAt[bool](re, rowsEventFields.compressed) {
		// Images of no columns take no bytes: go-mysql would add empty
		// rows forever.
		return errEmptyImages{re.Table}
	}
	ok, err := d.decodeData(re, pos, data)
	if err != nil {
		return err
	}
	if ok {
		d.fast++
		return nil
	}
	d.falls++
	re.Rows, re.SkippedColumns = nil, nil
	return re.DecodeData(pos, data)
}

// decodeHeader is RowsEvent.DecodeHeader with a malformed header an error
// rather than a panic.
func decodeHeader(re *replication.RowsEvent, data []byte) (pos int, err error) {
	defer func() {
		if r := recover(); r != nil {
			pos, err = 0, errMalformedRowsHeader{r}
		}
	}()
	return re.DecodeHeader(data)
}

type errMalformedRowsHeader struct{ r any }

func (e errMalformedRowsHeader) Error() string {
	return "malformed rows event header: " + stringOf(e.r)
}

func stringOf(r any) string {
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	return "panic"
}

// decodeData decodes the rows after the header into re.Rows and
// re.SkippedColumns and says whether it did; false leaves re's rows for
// go-mysql to decode.
func (d *rowDecoder) decodeData(re *replication.RowsEvent, pos int, data []byte) (ok bool, err error) {
	f := &rowsEventFields
	if !f.ok || re.Table == nil {
		return false, nil
	}
	if fieldAt[bool](re, f.parseTime) || fieldAt[bool](re, f.useDecimal) || fieldAt[*time.Location](re, f.loc) != time.UTC {
		return false, nil
	}
	switch fieldAt[replication.EventType](re, f.eventType) {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1,
		replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1,
		replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
	default: // PARTIAL_UPDATE_ROWS_EVENT: partial JSON
		return false, nil
	}
	plan := d.plan(re.Table)
	if plan == nil || re.ColumnCount > uint64(len(plan.cols)) {
		return false, nil
	}
	update := fieldAt[bool](re, f.needBitmap2)
	defer func() {
		// Malformed data indexes out of range somewhere: go-mysql decides
		// what it is.
		if r := recover(); r != nil {
			ok, err = false, nil
		}
	}()
	if fieldAt[bool](re, f.compressed) {
		if data, err = mysql.DecompressMariadbData(data[pos:]); err != nil {
			return false, nil
		}
		pos = 0
	}
	cols := plan.cols[:re.ColumnCount]
	d.rows, d.skips = d.rows[:0], d.skips[:0]
	d.cur, d.jsonReady = re, false
	defer func() { d.cur = nil }()
	for pos < len(data) {
		start := pos
		n, ok := d.image(cols, data[pos:], re.ColumnBitmap1)
		if !ok {
			return false, nil
		}
		pos += n
		if update {
			if pos > len(data) {
				return false, nil
			}
			n, ok := d.image(cols, data[pos:], re.ColumnBitmap2)
			if !ok {
				return false, nil
			}
			pos += n
		}
		if pos == start {
			// Images of no columns take no bytes: go-mysql would add
			// empty rows forever.
			return false, errEmptyImages{re.Table}
		}
	}
	rows := d.rowHdr.take(len(d.rows))
	copy(rows, d.rows)
	skips := d.skipHd.take(len(d.skips))
	copy(skips, d.skips)
	if len(rows) == 0 {
		rows, skips = make([][]any, 0), make([][]int, 0)
	}
	re.Rows, re.SkippedColumns = rows, skips
	clear(d.rows)
	clear(d.skips)
	return true, nil
}

// noColumns says whether the event's row images hold no column.
func noColumns(re *replication.RowsEvent) bool {
	for _, bm := range [2][]byte{re.ColumnBitmap1, re.ColumnBitmap2} {
		for i := range int(re.ColumnCount) {
			if bm[i>>3]&(1<<(uint(i)&7)) != 0 {
				return false
			}
		}
		if re.ColumnBitmap2 == nil {
			break
		}
	}
	return true
}

type errEmptyImages struct{ t *replication.TableMapEvent }

func (e errEmptyImages) Error() string {
	return "rows event of " + string(e.t.Schema) + "." + string(e.t.Table) + " is corrupt: its row images hold no column, yet more data follows them; the event cannot be decoded (check the source's binlog with mysqlbinlog at this position)"
}

// image decodes one row image (go-mysql's decodeImage) and appends it to
// d.rows and d.skips.
func (d *rowDecoder) image(cols []colPlan, data []byte, bitmap []byte) (int, bool) {
	ncol := len(cols)
	count := 0
	col := 0
	for ; col+8 <= ncol; col += 8 {
		count += bits.OnesCount8(bitmap[col>>3])
	}
	if col < ncol {
		count += bits.OnesCount8(bitmap[col>>3] & byte((1<<(ncol-col))-1))
	}
	var skips []int
	if count < ncol {
		skips = d.skipIx.take(ncol - count)[:0]
	} else {
		skips = make([]int, 0)
	}
	nb := (count + 7) / 8
	if nb > len(data) {
		return 0, false
	}
	nulls := data[:nb]
	pos := nb
	row := d.any.take(ncol)
	ni := 0
	for i := range cols {
		if bitmap[i>>3]&(1<<(uint(i)&7)) == 0 {
			skips = append(skips, i)
			continue
		}
		null := nulls[ni>>3]&(1<<(uint(ni)&7)) != 0
		ni++
		if null {
			continue
		}
		if pos > len(data) {
			return 0, false
		}
		v, n, ok := d.value(&cols[i], data[pos:])
		if !ok {
			return 0, false
		}
		row[i] = v
		pos += n
	}
	d.rows = append(d.rows, row)
	d.skips = append(d.skips, skips)
	return pos, true
}

// colPlan says how one column's values decode.
type colPlan struct {
	kind     uint8
	unsigned bool
	dec      int // fractional digits of temporal types
	size     int // fixed size, length-prefix size, or ENUM/SET/BIT bytes
	prec     int // DECIMAL precision and scale
	scale    int
}

const (
	kNull uint8 = iota
	kTiny
	kShort
	kInt24
	kLong
	kLonglong
	kFloat
	kDouble
	kDecimal
	kBit
	kTimestamp
	kTimestamp2
	kDatetime
	kDatetime2
	kTime
	kTime2
	kDate
	kYear
	kEnum
	kSet
	kBlob
	kString
	kJSON
)

type rowPlan struct {
	table *replication.TableMapEvent
	cols  []colPlan
	ok    bool
}

// plan returns the decoding plan of a table, or nil if one of its columns
// is not decoded here.
func (d *rowDecoder) plan(t *replication.TableMapEvent) *rowPlan {
	for _, p := range d.plans {
		if p != nil && p.table == t {
			if !p.ok {
				return nil
			}
			return p
		}
	}
	p := buildPlan(t)
	d.plans[d.next] = p
	d.next = (d.next + 1) % len(d.plans)
	if !p.ok {
		return nil
	}
	return p
}

func buildPlan(t *replication.TableMapEvent) (p *rowPlan) {
	p = &rowPlan{table: t}
	defer func() {
		if r := recover(); r != nil {
			p.ok = false
		}
	}()
	n := len(t.ColumnType)
	if len(t.ColumnMeta) < n || t.ColumnCount != uint64(n) {
		return p
	}
	p.cols = make([]colPlan, n)
	for i := range n {
		c, ok := columnPlan(t.ColumnType[i], t.ColumnMeta[i])
		if !ok {
			return p
		}
		p.cols[i] = c
	}
	// TableMapEvent.UnsignedMap, once per table.
	if len(t.SignednessBitmap) > 0 {
		i := 0
	done:
		for _, field := range t.SignednessBitmap {
			for c := 0x80; c != 0; {
				if t.IsNumericColumn(i) {
					p.cols[i].unsigned = field&byte(c) != 0
					c >>= 1
				}
				i++
				if i >= n {
					break done
				}
			}
		}
	}
	p.ok = true
	return p
}

// columnPlan follows go-mysql's decodeValue for one column type.
func columnPlan(tp byte, meta uint16) (colPlan, bool) {
	length := 0
	if tp == mysql.MYSQL_TYPE_STRING {
		if meta >= 256 {
			b0 := uint8(meta >> 8)
			b1 := uint8(meta & 0xFF)
			if b0&0x30 != 0x30 {
				length = int(uint16(b1) | (uint16((b0&0x30)^0x30) << 4))
				tp = b0 | 0x30
			} else {
				length = int(meta & 0xFF)
				tp = b0
			}
		} else {
			length = int(meta)
		}
		switch tp {
		case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		default:
			return colPlan{}, false
		}
	}
	switch tp {
	case mysql.MYSQL_TYPE_NULL:
		return colPlan{kind: kNull}, true
	case mysql.MYSQL_TYPE_TINY:
		return colPlan{kind: kTiny, size: 1}, true
	case mysql.MYSQL_TYPE_SHORT:
		return colPlan{kind: kShort, size: 2}, true
	case mysql.MYSQL_TYPE_INT24:
		return colPlan{kind: kInt24, size: 3}, true
	case mysql.MYSQL_TYPE_LONG:
		return colPlan{kind: kLong, size: 4}, true
	case mysql.MYSQL_TYPE_LONGLONG:
		return colPlan{kind: kLonglong, size: 8}, true
	case mysql.MYSQL_TYPE_FLOAT:
		return colPlan{kind: kFloat, size: 4}, true
	case mysql.MYSQL_TYPE_DOUBLE:
		return colPlan{kind: kDouble, size: 8}, true
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		prec, scale := int(meta>>8), int(meta&0xFF)
		size, ok := decimalSize(prec, scale)
		if !ok {
			return colPlan{}, false
		}
		return colPlan{kind: kDecimal, prec: prec, scale: scale, size: size}, true
	case mysql.MYSQL_TYPE_BIT:
		nbits := int(meta>>8)*8 + int(meta&0xFF)
		n := (nbits + 7) / 8
		if n < 1 || n > 8 || (nbits <= 1 && n != 1) {
			return colPlan{}, false
		}
		return colPlan{kind: kBit, size: n}, true
	case mysql.MYSQL_TYPE_TIMESTAMP:
		return colPlan{kind: kTimestamp, size: 4}, true
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		if meta > 6 {
			return colPlan{}, false
		}
		return colPlan{kind: kTimestamp2, dec: int(meta), size: 4 + int(meta+1)/2}, true
	case mysql.MYSQL_TYPE_DATETIME:
		return colPlan{kind: kDatetime, size: 8}, true
	case mysql.MYSQL_TYPE_DATETIME2:
		if meta > 6 {
			return colPlan{}, false
		}
		return colPlan{kind: kDatetime2, dec: int(meta), size: 5 + int(meta+1)/2}, true
	case mysql.MYSQL_TYPE_TIME:
		return colPlan{kind: kTime, size: 3}, true
	case mysql.MYSQL_TYPE_TIME2:
		if meta > 6 {
			return colPlan{}, false
		}
		return colPlan{kind: kTime2, dec: int(meta), size: 3 + int(meta+1)/2}, true
	case mysql.MYSQL_TYPE_DATE:
		return colPlan{kind: kDate, size: 3}, true
	case mysql.MYSQL_TYPE_YEAR:
		return colPlan{kind: kYear, size: 1}, true
	case mysql.MYSQL_TYPE_ENUM:
		l := int(meta & 0xFF)
		if l != 1 && l != 2 {
			return colPlan{}, false
		}
		return colPlan{kind: kEnum, size: l}, true
	case mysql.MYSQL_TYPE_SET:
		l := int(meta & 0xFF)
		if l < 1 || l > 8 {
			return colPlan{}, false
		}
		return colPlan{kind: kSet, size: l}, true
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_VECTOR:
		if meta < 1 || meta > 4 {
			return colPlan{}, false
		}
		return colPlan{kind: kBlob, size: int(meta)}, true
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		return colPlan{kind: kString, size: prefixSize(int(meta))}, true
	case mysql.MYSQL_TYPE_STRING:
		return colPlan{kind: kString, size: prefixSize(length)}, true
	case mysql.MYSQL_TYPE_JSON:
		if meta < 1 || meta > 4 {
			return colPlan{}, false
		}
		return colPlan{kind: kJSON, size: int(meta)}, true
	}
	// The old DECIMAL, anything else.
	return colPlan{}, false
}

// prefixSize is go-mysql's decodeString: a one-byte length below 256.
func prefixSize(length int) int {
	if length < 256 {
		return 1
	}
	return 2
}

// value decodes one value: go-mysql's decodeValue for the plan's type.
func (d *rowDecoder) value(c *colPlan, data []byte) (any, int, bool) {
	switch c.kind {
	case kNull:
		return nil, 0, true
	case kBlob:
		var length, h int
		switch c.size {
		case 1:
			if len(data) < 1 {
				return nil, 0, false
			}
			length, h = int(data[0]), 1
		case 2:
			if len(data) < 2 {
				return nil, 0, false
			}
			length, h = int(binary.LittleEndian.Uint16(data)), 2
		case 3:
			if len(data) < 3 {
				return nil, 0, false
			}
			length, h = int(data[0])|int(data[1])<<8|int(data[2])<<16, 3
		default:
			if len(data) < 4 {
				return nil, 0, false
			}
			length, h = int(binary.LittleEndian.Uint32(data)), 4
		}
		if length > len(data)-h {
			return nil, 0, false
		}
		return d.byt.box(data[h:h+length:h+length], tBytes), h + length, true
	case kJSON:
		h := c.size
		if len(data) < h {
			return nil, 0, false
		}
		length := 0
		for i := h - 1; i >= 0; i-- {
			length = length<<8 | int(data[i])
		}
		if length > len(data)-h {
			return nil, 0, false
		}
		if length == 0 {
			return d.byt.box([]byte{}, tBytes), h, true
		}
		v, ok := d.jsonValue(data[:h+length], uint16(h))
		return v, h + length, ok
	case kString:
		var length, h int
		if c.size == 1 {
			if len(data) < 1 {
				return nil, 0, false
			}
			length, h = int(data[0]), 1
		} else {
			if len(data) < 2 {
				return nil, 0, false
			}
			length, h = int(binary.LittleEndian.Uint16(data)), 2
		}
		if length > len(data)-h {
			return nil, 0, false
		}
		s := ""
		if length > 0 {
			s = unsafe.String(&data[h], length)
		}
		return d.str.box(s, tString), h + length, true
	}
	n := c.size
	if n > len(data) {
		return nil, 0, false
	}
	switch c.kind {
	case kTiny:
		if c.unsigned {
			return d.u8.box(data[0], tUint8), n, true
		}
		return d.i8.box(int8(data[0]), tInt8), n, true
	case kShort:
		u := binary.LittleEndian.Uint16(data)
		if c.unsigned {
			return d.u16.box(u, tUint16), n, true
		}
		return d.i16.box(int16(u), tInt16), n, true
	case kInt24:
		u := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		if c.unsigned {
			return d.u32.box(u, tUint32), n, true
		}
		if u&0x00800000 != 0 {
			u |= 0xFF000000
		}
		return d.i32.box(int32(u), tInt32), n, true
	case kLong:
		u := binary.LittleEndian.Uint32(data)
		if c.unsigned {
			return d.u32.box(u, tUint32), n, true
		}
		return d.i32.box(int32(u), tInt32), n, true
	case kLonglong:
		u := binary.LittleEndian.Uint64(data)
		if c.unsigned {
			return d.u64.box(u, tUint64), n, true
		}
		return d.i64.box(int64(u), tInt64), n, true
	case kFloat:
		return d.f32.box(math.Float32frombits(binary.LittleEndian.Uint32(data)), tFloat32), n, true
	case kDouble:
		return d.f64.box(math.Float64frombits(binary.LittleEndian.Uint64(data)), tFloat64), n, true
	case kDecimal:
		b, ok := appendDecimal(d.reserve(c.prec+c.scale+16), data[:n], c.prec, c.scale)
		if !ok {
			return nil, 0, false
		}
		return d.text1(b), n, true
	case kBit:
		var v uint64
		for _, x := range data[:n] {
			v = v<<8 | uint64(x)
		}
		return d.i64.box(int64(v), tInt64), n, true
	case kEnum:
		if n == 1 {
			return d.i64.box(int64(data[0]), tInt64), n, true
		}
		return d.i64.box(int64(binary.LittleEndian.Uint16(data)), tInt64), n, true
	case kSet:
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(data[i])
		}
		return d.i64.box(int64(v), tInt64), n, true
	case kYear:
		year := int(data[0])
		if year != 0 {
			year += 1900
		}
		return d.ints.box(year, tInt), n, true
	case kTimestamp:
		t := binary.LittleEndian.Uint32(data)
		if t == 0 {
			return d.str.box("0000-00-00 00:00:00", tString), n, true
		}
		return d.text1(appendUnixTime(d.reserve(32), int64(t), 0, 0)), n, true
	case kTimestamp2:
		sec := int64(binary.BigEndian.Uint32(data[0:4]))
		usec := int64(0)
		switch c.dec {
		case 1, 2:
			usec = int64(data[4]) * 10000
		case 3, 4:
			usec = int64(binary.BigEndian.Uint16(data[4:])) * 100
		case 5, 6:
			usec = int64(be24(data[4:7]))
		}
		if sec == 0 {
			return d.text1(appendZeroTime(d.reserve(40), usec, c.dec)), n, true
		}
		return d.text1(appendUnixTime(d.reserve(40), sec, usec*1000, c.dec)), n, true
	case kDatetime:
		i64 := binary.LittleEndian.Uint64(data)
		if i64 == 0 {
			return d.str.box("0000-00-00 00:00:00", tString), n, true
		}
		dd := i64 / 1000000
		t := i64 % 1000000
		b := d.reserve(48)
		b = appendPadded(b, int64(dd/10000), 4)
		b = append(b, '-')
		b = appendPadded(b, int64(dd%10000)/100, 2)
		b = append(b, '-')
		b = appendPadded(b, int64(dd%100), 2)
		b = append(b, ' ')
		b = appendPadded(b, int64(t/10000), 2)
		b = append(b, ':')
		b = appendPadded(b, int64(t%10000)/100, 2)
		b = append(b, ':')
		b = appendPadded(b, int64(t%100), 2)
		return d.text1(b), n, true
	case kDatetime2:
		return d.datetime2(data, c.dec), n, true
	case kTime:
		i32 := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		if i32 == 0 {
			return d.str.box("00:00:00", tString), n, true
		}
		b := d.reserve(32)
		b = appendPadded(b, int64(i32/10000), 2)
		b = append(b, ':')
		b = appendPadded(b, int64((i32%10000)/100), 2)
		b = append(b, ':')
		b = appendPadded(b, int64(i32%100), 2)
		return d.text1(b), n, true
	case kTime2:
		return d.time2(data, c.dec), n, true
	case kDate:
		i32 := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		if i32 == 0 {
			return d.str.box("0000-00-00", tString), n, true
		}
		b := d.reserve(24)
		b = appendPadded(b, int64(i32/(16*32)), 4)
		b = append(b, '-')
		b = appendPadded(b, int64(i32/32%16), 2)
		b = append(b, '-')
		b = appendPadded(b, int64(i32%32), 2)
		return d.text1(b), n, true
	}
	return nil, 0, false
}

// jsonValue decodes one binary JSON value (length prefix included) with
// go-mysql's own decoder and options: a one-column copy of the event
// decodes a one-row image of it (for an update, followed by an after
// image of no column). The JSON text is go-mysql's by construction.
func (d *rowDecoder) jsonValue(value []byte, meta uint16) (any, bool) {
	if !d.jsonReady {
		d.json = *d.cur
		d.jsonTable = replication.TableMapEvent{ColumnCount: 1, ColumnType: []byte{mysql.MYSQL_TYPE_JSON}, ColumnMeta: []uint16{0}}
		d.json.Table = &d.jsonTable
		d.json.ColumnCount = 1
		d.json.ColumnBitmap1 = []byte{1}
		if d.json.ColumnBitmap2 != nil {
			d.json.ColumnBitmap2 = []byte{0}
		}
		d.jsonReady = true
	}
	d.jsonTable.ColumnMeta[0] = meta
	buf := make([]byte, 1+len(value)) // a null bitmap of no NULL, the value
	copy(buf[1:], value)
	if err := d.json.DecodeData(0, buf); err != nil || len(d.json.Rows) == 0 || len(d.json.Rows[0]) != 1 {
		return nil, false
	}
	v := d.json.Rows[0][0]
	d.json.Rows, d.json.SkippedColumns = nil, nil
	return v, true
}

func be24(b []byte) uint64 { return uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2]) }

// reserve makes room for n more bytes of text and returns the empty tail
// to append them to (within that room).
func (d *rowDecoder) reserve(n int) []byte {
	if cap(d.text)-len(d.text) < n {
		d.text = make([]byte, 0, max(n, 8192))
	}
	return d.text[len(d.text):len(d.text)]
}

// text1 makes the bytes appended to the tail reserve returned a string
// over the text slab and boxes it.
func (d *rowDecoder) text1(b []byte) any {
	if len(b) == 0 {
		return d.str.box("", tString)
	}
	l := len(d.text)
	if cap(b) != cap(d.text)-l || &b[0] != unsafe.SliceData(d.text[l:l+1]) {
		// Outgrew the reservation: keep the new array as it is.
		return d.str.box(unsafe.String(&b[0], len(b)), tString)
	}
	d.text = d.text[:l+len(b)]
	return d.str.box(unsafe.String(&b[0], len(b)), tString)
}

// appendPadded is fmt's %0wd.
func appendPadded(b []byte, v int64, w int) []byte {
	var u uint64
	if v < 0 {
		b = append(b, '-')
		u = uint64(-v)
		w--
	} else {
		u = uint64(v)
	}
	var digits [20]byte
	i := len(digits)
	for u >= 10 {
		i--
		digits[i] = byte('0' + u%10)
		u /= 10
	}
	i--
	digits[i] = byte('0' + u)
	for pad := w - (len(digits) - i); pad > 0; pad-- {
		b = append(b, '0')
	}
	return append(b, digits[i:]...)
}

// appendFrac appends "." and frac as %06d, then drops 6-dec characters
// from the end, as go-mysql's formatDatetime, formatZeroTime and
// timeFormat do.
func appendFrac(b []byte, frac int64, dec int) []byte {
	b = append(b, '.')
	b = appendPadded(b, frac, 6)
	return b[:len(b)-(6-dec)]
}

// appendZeroTime is go-mysql's formatZeroTime.
func appendZeroTime(b []byte, frac int64, dec int) []byte {
	b = append(b, "0000-00-00 00:00:00"...)
	if dec == 0 {
		return b
	}
	return appendFrac(b, frac, dec)
}

// appendUnixTime is go-mysql's fracTime.String in UTC: time.Unix(sec,
// nsec) formatted as "2006-01-02 15:04:05" with dec fractional digits.
func appendUnixTime(b []byte, sec, nsec int64, dec int) []byte {
	t := time.Unix(sec, nsec).UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	if year < 0 || year > 9999 {
		return append(b, t.Format(fracTimeFormat[dec])...)
	}
	b = appendPadded(b, int64(year), 4)
	b = append(b, '-')
	b = appendPadded(b, int64(month), 2)
	b = append(b, '-')
	b = appendPadded(b, int64(day), 2)
	b = append(b, ' ')
	b = appendPadded(b, int64(hour), 2)
	b = append(b, ':')
	b = appendPadded(b, int64(minute), 2)
	b = append(b, ':')
	b = appendPadded(b, int64(second), 2)
	if dec > 0 {
		b = append(b, '.')
		ns := t.Nanosecond()
		var digits [9]byte
		for i := 8; i >= 0; i-- {
			digits[i] = byte('0' + ns%10)
			ns /= 10
		}
		b = append(b, digits[:dec]...)
	}
	return b
}

var fracTimeFormat = [7]string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.0",
	"2006-01-02 15:04:05.00",
	"2006-01-02 15:04:05.000",
	"2006-01-02 15:04:05.0000",
	"2006-01-02 15:04:05.00000",
	"2006-01-02 15:04:05.000000",
}

// datetime2 is go-mysql's decodeDatetime2 with parseTime off.
func (d *rowDecoder) datetime2(data []byte, dec int) any {
	intPart := int64(uint64(data[0])<<32|uint64(data[1])<<24|uint64(data[2])<<16|uint64(data[3])<<8|uint64(data[4])) - 0x8000000000
	var frac int64
	switch dec {
	case 1, 2:
		frac = int64(data[5]) * 10000
	case 3, 4:
		frac = int64(binary.BigEndian.Uint16(data[5:7])) * 100
	case 5, 6:
		frac = int64(be24(data[5:8]))
	}
	if intPart == 0 {
		return d.text1(appendZeroTime(d.reserve(40), frac, dec))
	}
	tmp := intPart<<24 + frac
	if tmp < 0 {
		tmp = -tmp
	}
	ymdhms := tmp >> 24
	ymd := ymdhms >> 17
	ym := ymd >> 5
	hms := ymdhms % (1 << 17)
	day := ymd % (1 << 5)
	month := ym % 13
	year := ym / 13
	second := hms % (1 << 6)
	minute := (hms >> 6) % (1 << 6)
	hour := hms >> 12
	b := d.reserve(96)
	b = appendPadded(b, int64(int(year)), 4)
	b = append(b, '-')
	b = appendPadded(b, int64(int(month)), 2)
	b = append(b, '-')
	b = appendPadded(b, int64(int(day)), 2)
	b = append(b, ' ')
	b = appendPadded(b, int64(int(hour)), 2)
	b = append(b, ':')
	b = appendPadded(b, int64(int(minute)), 2)
	b = append(b, ':')
	b = appendPadded(b, int64(int(second)), 2)
	if dec > 0 {
		b = appendFrac(b, int64(int(frac)), dec)
	}
	return d.text1(b)
}

// time2 is go-mysql's decodeTime2 and timeFormat.
func (d *rowDecoder) time2(data []byte, dec int) any {
	const timefOfs, timefIntOfs = int64(0x800000000000), int64(0x800000)
	var tmp, intPart, frac int64
	switch dec {
	case 1, 2:
		intPart = int64(be24(data[0:3])) - timefIntOfs
		frac = int64(data[3])
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x100
		}
		tmp = intPart<<24 + frac*10000
	case 3, 4:
		intPart = int64(be24(data[0:3])) - timefIntOfs
		frac = int64(binary.BigEndian.Uint16(data[3:5]))
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x10000
		}
		tmp = intPart<<24 + frac*100
	case 5, 6:
		tmp = int64(be24(data[0:3])<<24|be24(data[3:6])) - timefOfs
		return d.timeFormat(tmp, dec)
	default:
		intPart = int64(be24(data[0:3])) - timefIntOfs
		tmp = intPart << 24
	}
	if intPart == 0 && frac == 0 {
		return d.str.box("00:00:00", tString)
	}
	return d.timeFormat(tmp, dec)
}

func (d *rowDecoder) timeFormat(tmp int64, dec int) any {
	b := d.reserve(64)
	if tmp < 0 {
		tmp = -tmp
		b = append(b, '-')
	}
	hms := tmp >> 24
	hour := (hms >> 12) % (1 << 10)
	minute := (hms >> 6) % (1 << 6)
	second := hms % (1 << 6)
	secPart := tmp % (1 << 24)
	b = appendPadded(b, hour, 2)
	b = append(b, ':')
	b = appendPadded(b, minute, 2)
	b = append(b, ':')
	b = appendPadded(b, second, 2)
	if secPart != 0 {
		b = appendFrac(b, secPart, dec)
	}
	return d.text1(b)
}

// decimalSize is the binary size of a DECIMAL(prec, scale), false for
// metadata go-mysql cannot decode.
func decimalSize(prec, scale int) (int, bool) {
	integral := prec - scale
	if integral < 0 {
		return 0, false
	}
	size := integral/9*4 + compressedBytes[integral%9] + scale/9*4 + compressedBytes[scale%9]
	if size == 0 || size > 64 {
		return 0, false
	}
	return size, true
}

var compressedBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// appendDecimal is go-mysql's decodeDecimal (useDecimal off) over the
// value's bytes.
func appendDecimal(b []byte, value []byte, prec, scale int) ([]byte, bool) {
	var buf [64]byte
	data := buf[:copy(buf[:], value)]
	integral := prec - scale
	uncompIntegral := integral / 9
	uncompFractional := scale / 9
	compIntegral := integral - uncompIntegral*9
	compFractional := scale - uncompFractional*9
	var mask uint32
	if data[0]&0x80 == 0 {
		mask = math.MaxUint32
		b = append(b, '-')
	}
	data[0] ^= 0x80
	m := uint8(mask)
	zeroLeading := true
	pos, v := decompress(compIntegral, data, m)
	if v != 0 {
		zeroLeading = false
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	for range uncompIntegral {
		v = binary.BigEndian.Uint32(data[pos:]) ^ mask
		pos += 4
		if zeroLeading {
			if v != 0 {
				zeroLeading = false
				b = strconv.AppendUint(b, uint64(v), 10)
			}
		} else {
			var ok bool
			if b, ok = appendNine(b, v); !ok {
				return nil, false
			}
		}
	}
	if zeroLeading {
		b = append(b, '0')
	}
	if pos < len(data) {
		b = append(b, '.')
		for range uncompFractional {
			v = binary.BigEndian.Uint32(data[pos:]) ^ mask
			pos += 4
			var ok bool
			if b, ok = appendNine(b, v); !ok {
				return nil, false
			}
		}
		if size, v := decompress(compFractional, data[pos:], m); size > 0 {
			for pad := compFractional - decimalDigits(v); pad > 0; pad-- {
				b = append(b, '0')
			}
			b = strconv.AppendUint(b, uint64(v), 10)
		}
	}
	return b, true
}

// appendNine appends v zero-padded to nine digits; false where go-mysql
// fails (more than nine digits).
func appendNine(b []byte, v uint32) ([]byte, bool) {
	if v > 999999999 {
		return nil, false
	}
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, digits[:]...), true
}

func decimalDigits(v uint32) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

func decompress(compIndx int, data []byte, mask uint8) (int, uint32) {
	size := compressedBytes[compIndx]
	var v uint32
	switch size {
	case 1:
		v = uint32(data[0] ^ mask)
	case 2:
		v = uint32(data[1]^mask) | uint32(data[0]^mask)<<8
	case 3:
		v = uint32(data[2]^mask) | uint32(data[1]^mask)<<8 | uint32(data[0]^mask)<<16
	case 4:
		v = uint32(data[3]^mask) | uint32(data[2]^mask)<<8 | uint32(data[1]^mask)<<16 | uint32(data[0]^mask)<<24
	}
	return size, v
}
