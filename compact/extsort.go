package compact

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sluicecdc/sluice/event/position"
)

// version is one version of a key for the external sort: a row image, or a
// deletion, at a binlog place. Values are encoded (encodeValues) by the
// table state's column index.
type version struct {
	key  string
	at   place
	sid  uint32
	ts   uint32
	del  bool
	old  bool // from the table or its tombstones, not from the run's changes
	vals []byte
}

// size estimates the memory a version holds.
func (v *version) size() int64 {
	return int64(len(v.key)+len(v.at.pos.File)+len(v.vals)) + 96
}

func compareVersions(a, b *version) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return a.at.compare(b.at)
}

// sorter sorts versions by key, then place, in memory up to a budget and
// in sorted runs spilled to files beyond it.
type sorter struct {
	dir    string
	budget int64
	buf    []version
	size   int64
	runs   []string
	// Spilled counts the versions written to run files.
	spilled int
}

func newSorter(dir string, budget int64) *sorter {
	return &sorter{dir: dir, budget: budget}
}

// add adds a version, spilling a sorted run when the buffer is full.
func (s *sorter) add(v version) error {
	s.buf = append(s.buf, v)
	s.size += v.size()
	if s.size >= s.budget {
		return s.spill()
	}
	return nil
}

// spill writes the buffer as a sorted run.
func (s *sorter) spill() error {
	if len(s.buf) == 0 {
		return nil
	}
	slices.SortFunc(s.buf, func(a, b version) int { return compareVersions(&a, &b) })
	f, err := os.CreateTemp(s.dir, "sluice-sort-*.run")
	if err != nil {
		return fmt.Errorf("spill sorted run: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var scratch []byte
	for i := range s.buf {
		scratch = appendVersion(scratch[:0], &s.buf[i])
		if _, err := w.Write(scratch); err != nil {
			_ = f.Close()
			return fmt.Errorf("spill sorted run %s: %w", f.Name(), err)
		}
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("spill sorted run %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spill sorted run %s: %w", f.Name(), err)
	}
	s.runs = append(s.runs, f.Name())
	s.spilled += len(s.buf)
	clear(s.buf)
	s.buf, s.size = s.buf[:0], 0
	return nil
}

// close removes the run files.
func (s *sorter) close() error {
	var errs []error
	for _, r := range s.runs {
		if err := os.Remove(r); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.runs = nil
	return errors.Join(errs...)
}

// groups calls fn with each key's versions, keys in order, versions by
// place. The slice fn gets is reused.
func (s *sorter) groups(fn func(vs []version) error) error {
	var group []version
	err := s.each(func(v version) error {
		if len(group) > 0 && group[0].key != v.key {
			if err := fn(group); err != nil {
				return err
			}
			clear(group)
			group = group[:0]
		}
		group = append(group, v)
		return nil
	})
	if err != nil {
		return err
	}
	if len(group) > 0 {
		return fn(group)
	}
	return nil
}

// each calls fn with every version, in order (key, then place), one at a
// time.
func (s *sorter) each(fn func(v version) error) error {
	if len(s.runs) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
		s.buf = nil
	} else {
		slices.SortFunc(s.buf, func(a, b version) int { return compareVersions(&a, &b) })
	}
	if len(s.runs) == 0 {
		for _, v := range s.buf {
			if err := fn(v); err != nil {
				return err
			}
		}
		return nil
	}
	h := &runHeap{}
	defer h.close()
	for _, name := range s.runs {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("read sorted run: %w", err)
		}
		r := &runReader{f: f, r: bufio.NewReaderSize(f, 256<<10)}
		h.all = append(h.all, r)
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			h.rs = append(h.rs, r)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		r := h.rs[0]
		if err := fn(r.cur); err != nil {
			return err
		}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

type runReader struct {
	f   *os.File
	r   *bufio.Reader
	cur version
	buf []byte
}

func (r *runReader) next() (bool, error) {
	n, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read sorted run %s: %w", r.f.Name(), err)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return false, fmt.Errorf("read sorted run %s: %w", r.f.Name(), err)
	}
	v, err := decodeVersion(b)
	if err != nil {
		return false, fmt.Errorf("read sorted run %s: %w", r.f.Name(), err)
	}
	r.cur = v
	return true, nil
}

type runHeap struct {
	rs  []*runReader
	all []*runReader
}

func (h *runHeap) Len() int           { return len(h.rs) }
func (h *runHeap) Less(i, j int) bool { return compareVersions(&h.rs[i].cur, &h.rs[j].cur) < 0 }
func (h *runHeap) Swap(i, j int)      { h.rs[i], h.rs[j] = h.rs[j], h.rs[i] }
func (h *runHeap) Push(x any)         { h.rs = append(h.rs, x.(*runReader)) }
func (h *runHeap) Pop() any {
	r := h.rs[len(h.rs)-1]
	h.rs = h.rs[:len(h.rs)-1]
	return r
}
func (h *runHeap) close() {
	for _, r := range h.all {
		_ = r.f.Close()
	}
}

// appendVersion appends v, length-prefixed.
func appendVersion(dst []byte, v *version) []byte {
	var body []byte
	body = appendBytes(body, []byte(v.key))
	body = binary.AppendUvarint(body, uint64(v.at.gen))
	body = appendBytes(body, []byte(v.at.pos.File))
	body = binary.AppendUvarint(body, v.at.pos.Offset)
	body = binary.AppendUvarint(body, uint64(v.at.row))
	body = binary.AppendUvarint(body, uint64(v.sid))
	body = binary.AppendUvarint(body, uint64(v.ts))
	var flags byte
	if v.del {
		flags |= 1
	}
	if v.old {
		flags |= 2
	}
	body = append(body, flags)
	body = append(body, v.vals...)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

func decodeVersion(b []byte) (version, error) {
	var v version
	d := decoder{b: b}
	v.key = string(d.bytes())
	v.at.gen = uint32(d.uvarint())
	v.at.pos = position.Position{File: string(d.bytes()), Offset: d.uvarint()}
	v.at.row = int(d.uvarint())
	v.sid = uint32(d.uvarint())
	v.ts = uint32(d.uvarint())
	if d.err == nil && len(d.b) > 0 {
		v.del, v.old = d.b[0]&1 != 0, d.b[0]&2 != 0
		v.vals = slices.Clone(d.b[1:])
		return v, nil
	}
	return v, errors.New("truncated version")
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.err = errors.New("bad varint")
		d.b = nil
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errors.New("truncated")
		d.b = nil
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// Value tags of encodeValues.
const (
	tagNil byte = iota
	tagInt
	tagNumber
	tagString
)

// encodeValues encodes a row's values (nil, int64, number, string) by
// column index.
func encodeValues(dst []byte, vals []any) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(vals)))
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			dst = append(dst, tagNil)
		case int64:
			dst = append(dst, tagInt)
			dst = binary.AppendVarint(dst, v)
		case number:
			dst = append(dst, tagNumber)
			dst = appendBytes(dst, []byte(v))
		default:
			dst = append(dst, tagString)
			dst = appendBytes(dst, []byte(toText(v)))
		}
	}
	return dst
}

func decodeValues(b []byte) ([]any, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(b)) {
		return nil, errors.New("bad values")
	}
	vals := make([]any, n)
	for i := range vals {
		if len(d.b) == 0 {
			return nil, errors.New("truncated values")
		}
		tag := d.b[0]
		d.b = d.b[1:]
		switch tag {
		case tagNil:
		case tagInt:
			x, k := binary.Varint(d.b)
			if k <= 0 {
				return nil, errors.New("bad integer")
			}
			d.b = d.b[k:]
			vals[i] = x
		case tagNumber:
			vals[i] = number(d.bytes())
		case tagString:
			vals[i] = string(d.bytes())
		default:
			return nil, fmt.Errorf("bad value tag %d", tag)
		}
	}
	return vals, d.err
}
