package mysql8test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/klauspost/compress/zstd"
)

// AddColumnNames returns a copy of a binlog file (CRC32 checksums, as MySQL
// 8 writes by default) whose TABLE_MAP events, also those inside compressed
// transaction payloads, carry the COLUMN_NAME metadata that a server with
// binlog_row_metadata=FULL writes. names maps "db.table" to the column
// names; tables not in it are left alone. Events after a grown one move
// on: their positions and checksums are recomputed. It lets a test run the
// rest of a file written with minimal metadata through sluice, names
// taken from the file's own CREATE TABLE where it has one.
func AddColumnNames(data []byte, names map[string][]string) ([]byte, error) {
	events, err := split(data)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), data[:4]...)
	for i, e := range events {
		raw := append([]byte(nil), e.raw...)
		if i > 0 {
			body := raw[19 : len(raw)-4]
			switch replication.EventType(raw[4]) {
			case replication.TABLE_MAP_EVENT:
				body, err = tableMapWithNames(body, names)
			case replication.TRANSACTION_PAYLOAD_EVENT:
				body, err = payloadWithNames(body, names)
			}
			if err != nil {
				return nil, fmt.Errorf("event at %d: %w", e.start, err)
			}
			raw = append(append(raw[:19:19], body...), 0, 0, 0, 0)
		}
		size := uint32(len(raw))
		binary.LittleEndian.PutUint32(raw[9:], size)
		if lp := binary.LittleEndian.Uint32(raw[13:]); lp != 0 {
			binary.LittleEndian.PutUint32(raw[13:], uint32(len(out))+size)
		}
		binary.LittleEndian.PutUint32(raw[len(raw)-4:], crc32.ChecksumIEEE(raw[:len(raw)-4]))
		out = append(out, raw...)
	}
	return out, nil
}

// tableMapWithNames appends a COLUMN_NAME optional metadata field to a
// TABLE_MAP body (post-header: table id 6 bytes, flags 2).
func tableMapWithNames(body []byte, names map[string][]string) ([]byte, error) {
	pos := 8
	if len(body) < pos+1 {
		return nil, errors.New("short TABLE_MAP")
	}
	db := string(body[pos+1 : pos+1+int(body[pos])])
	pos += 1 + int(body[pos]) + 1
	table := string(body[pos+1 : pos+1+int(body[pos])])
	pos += 1 + int(body[pos]) + 1
	cols, _, n := mysql.LengthEncodedInt(body[pos:])
	pos += n + int(cols)
	metaLen, _, n := mysql.LengthEncodedInt(body[pos:])
	pos += n + int(metaLen) + int(cols+7)/8
	cn, ok := names[db+"."+table]
	if !ok {
		return body, nil
	}
	if len(cn) != int(cols) {
		return nil, fmt.Errorf("%s.%s has %d columns, %d names given", db, table, cols, len(cn))
	}
	for p := pos; p < len(body); {
		l, _, n := mysql.LengthEncodedInt(body[p+1:])
		if body[p] == 4 {
			return nil, fmt.Errorf("%s.%s already has column names", db, table)
		}
		p += 1 + n + int(l)
	}
	var v []byte
	for _, name := range cn {
		v = append(v, mysql.PutLengthEncodedString([]byte(name))...)
	}
	out := append([]byte(nil), body...)
	out = append(out, 4) // COLUMN_NAME
	out = append(out, mysql.PutLengthEncodedInt(uint64(len(v)))...)
	return append(out, v...), nil
}

// payloadWithNames rewrites the TABLE_MAPs inside a TRANSACTION_PAYLOAD
// body: fields (type, length, value) up to the end mark, then the zstd
// compressed inner events, which have no checksums.
func payloadWithNames(body []byte, names map[string][]string) ([]byte, error) {
	p := 0
	for p < len(body) && body[p] != 0 {
		if body[p] == 2 && body[p+2] != 0 {
			return nil, fmt.Errorf("payload compression type %d, not zstd", body[p+2])
		}
		p += 2 + int(body[p+1])
	}
	if p >= len(body) {
		return nil, errors.New("TRANSACTION_PAYLOAD without an end mark")
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	inner, err := dec.DecodeAll(body[p+1:], nil)
	dec.Close()
	if err != nil {
		return nil, fmt.Errorf("decompress payload: %w", err)
	}
	var rewritten []byte
	changed := false
	for q := 0; q < len(inner); {
		if q+19 > len(inner) {
			return nil, errors.New("truncated inner event")
		}
		size := int(binary.LittleEndian.Uint32(inner[q+9:]))
		raw := inner[q : q+size]
		if replication.EventType(raw[4]) == replication.TABLE_MAP_EVENT {
			b, err := tableMapWithNames(raw[19:], names)
			if err != nil {
				return nil, err
			}
			changed = changed || len(b) != len(raw)-19
			raw = append(append([]byte(nil), raw[:19]...), b...)
			binary.LittleEndian.PutUint32(raw[9:], uint32(len(raw)))
		}
		rewritten = append(rewritten, raw...)
		q += size
	}
	if !changed {
		return body, nil
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		return nil, err
	}
	compressed := enc.EncodeAll(rewritten, nil)
	_ = enc.Close()
	field := func(dst []byte, typ byte, v uint64) []byte {
		b := mysql.PutLengthEncodedInt(v)
		return append(append(dst, typ, byte(len(b))), b...)
	}
	var out []byte
	out = field(out, 1, uint64(len(compressed))) // payload size
	out = field(out, 2, 0)                       // compression type: zstd
	out = field(out, 3, uint64(len(rewritten)))  // uncompressed size
	out = append(out, 0)                         // end mark
	return append(out, compressed...), nil
}
