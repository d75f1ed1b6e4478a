package event

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// appendGeometry renders a binlog GEOMETRY value (4-byte SRID, then WKB) as a
// JSON string of WKT, as Maxwell does ("POINT (3 2)"). A value it cannot parse
// is rendered as base64 of the raw bytes rather than dropped.
func appendGeometry(dst, v []byte) []byte {
	if len(v) < 4 {
		return appendBase64(dst, v)
	}
	w := wkb{b: v[4:]}
	out, err := w.geometry(append(dst, '"'))
	if err != nil || len(w.b) != 0 {
		return appendBase64(dst, v)
	}
	return append(out, '"')
}

type wkb struct {
	b     []byte
	order binary.ByteOrder
}

var errShortWKB = errors.New("short WKB")

func (w *wkb) u32() (uint32, error) {
	if len(w.b) < 4 {
		return 0, errShortWKB
	}
	v := w.order.Uint32(w.b)
	w.b = w.b[4:]
	return v, nil
}

func (w *wkb) header() (uint32, error) {
	if len(w.b) < 1 {
		return 0, errShortWKB
	}
	switch w.b[0] {
	case 0:
		w.order = binary.BigEndian
	case 1:
		w.order = binary.LittleEndian
	default:
		return 0, errors.New("bad WKB byte order")
	}
	w.b = w.b[1:]
	return w.u32()
}

var wktNames = [...]string{1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION"}

func (w *wkb) geometry(dst []byte) ([]byte, error) {
	typ, err := w.header()
	if err != nil {
		return dst, err
	}
	if typ == 0 || typ >= uint32(len(wktNames)) {
		return dst, errors.New("unsupported WKB geometry type")
	}
	dst = append(dst, wktNames[typ]...)
	dst = append(dst, ' ')
	return w.body(dst, typ)
}

func (w *wkb) body(dst []byte, typ uint32) ([]byte, error) {
	switch typ {
	case 1:
		if len(w.b) >= 16 && math.IsNaN(math.Float64frombits(w.order.Uint64(w.b))) {
			w.b = w.b[16:]
			return append(dst, "EMPTY"...), nil
		}
		dst = append(dst, '(')
		dst, err := w.point(dst)
		return append(dst, ')'), err
	case 2:
		return w.points(dst)
	case 3:
		return w.rings(dst)
	}
	n, err := w.u32()
	if err != nil {
		return dst, err
	}
	if n == 0 {
		return append(dst, "EMPTY"...), nil
	}
	dst = append(dst, '(')
	for i := range n {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if typ == 7 {
			dst, err = w.geometry(dst)
		} else {
			var sub uint32
			if sub, err = w.header(); err == nil {
				if typ == 4 {
					// MULTIPOINT members print as (x y)
					dst = append(dst, '(')
					dst, err = w.point(dst)
					dst = append(dst, ')')
				} else {
					dst, err = w.body(dst, sub)
				}
			}
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, ')'), nil
}

func (w *wkb) point(dst []byte) ([]byte, error) {
	if len(w.b) < 16 {
		return dst, errShortWKB
	}
	x := math.Float64frombits(w.order.Uint64(w.b))
	y := math.Float64frombits(w.order.Uint64(w.b[8:]))
	w.b = w.b[16:]
	dst = strconv.AppendFloat(dst, x, 'f', -1, 64)
	dst = append(dst, ' ')
	return strconv.AppendFloat(dst, y, 'f', -1, 64), nil
}

func (w *wkb) points(dst []byte) ([]byte, error) {
	n, err := w.u32()
	if err != nil {
		return dst, err
	}
	if n == 0 {
		return append(dst, "EMPTY"...), nil
	}
	dst = append(dst, '(')
	for i := range n {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if dst, err = w.point(dst); err != nil {
			return dst, err
		}
	}
	return append(dst, ')'), nil
}

func (w *wkb) rings(dst []byte) ([]byte, error) {
	n, err := w.u32()
	if err != nil {
		return dst, err
	}
	if n == 0 {
		return append(dst, "EMPTY"...), nil
	}
	dst = append(dst, '(')
	for i := range n {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if dst, err = w.points(dst); err != nil {
			return dst, err
		}
	}
	return append(dst, ')'), nil
}
