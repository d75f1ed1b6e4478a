package pipeline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sluicecdc/sluice/event"
)

// txBuffer holds the encoded rows of the open transaction until its commit
// supplies ts and xid. It keeps up to limit bytes in memory and spills the
// rest to a temporary file, so a transaction of any size fits in bounded
// memory.
type txBuffer struct {
	limit int
	dir   string

	arena []byte
	recs  []txRec
	keys  []byte // the primary keys of recs, which slice it

	spill  *os.File
	spillW *spillWriter
	spillR *bufio.Reader
	// src is what spillR reads: the spill file, freed behind the read.
	src      spillSource
	dirty    bool // the spill file holds rows since the last reset
	nSpilled int
	// spilledBytes counts the encoded rows in the spill file.
	spilledBytes int
	hdr          [spillHeader]byte
}

// spillBuffer is the size of the spill file's write and read buffers: the
// file is written and read sequentially, one system call per spillBuffer
// bytes, never one per row; the writes go on in their own goroutine
// (spillWriter) while the encoder fills the next buffer.
const spillBuffer = 1 << 20

// spillHeader is the size of a spilled row's header: row length, split,
// database, table and binlog file name lengths, offset, row index and key
// length.
const spillHeader = 40

// txRec is one encoded row in the arena: head [start, split) and tail
// [split, end), with its table and primary key for routing and its place in
// the binlog.
type txRec struct {
	start, split, end int
	database, table   string
	key               []byte
	pos               event.Position
	index             int
}

func newTxBuffer(limit int, dir string) *txBuffer {
	return &txBuffer{limit: limit, dir: dir}
}

// Len is the number of rows held.
func (b *txBuffer) Len() int { return b.nSpilled + len(b.recs) }

// Bytes is the size of the encoded rows held, in memory or spilled.
func (b *txBuffer) Bytes() int { return b.spilledBytes + len(b.arena) }

// reset drops everything held.
func (b *txBuffer) reset() error {
	b.arena = b.arena[:0]
	b.recs = b.recs[:0]
	b.keys = b.keys[:0]
	b.nSpilled, b.spilledBytes = 0, 0
	if b.dirty {
		b.dirty = false
		b.spillW.Reset()
		if _, err := b.spill.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return b.spill.Truncate(0)
	}
	return nil
}

// close removes the spill file.
func (b *txBuffer) close() {
	if b.spill != nil {
		b.spillW.Reset() // no write in flight
		name := b.spill.Name()
		_ = b.spill.Close()
		_ = os.Remove(name)
		b.spill = nil
	}
}

// added records the row the caller appended to b.arena from start, with
// its primary key (copied).
func (b *txBuffer) added(start, split int, database, table string, key []byte, pos event.Position, index int) error {
	var k []byte
	if len(key) > 0 {
		// Appends only until reset or spill, so earlier slices stay valid.
		b.keys = append(b.keys, key...)
		k = b.keys[len(b.keys)-len(key) : len(b.keys) : len(b.keys)]
	}
	b.recs = append(b.recs, txRec{start: start, split: split, end: len(b.arena), database: database, table: table, key: k, pos: pos, index: index})
	if len(b.arena) >= b.limit {
		return b.spillArena()
	}
	return nil
}

// spillArena moves the in-memory rows to the spill file.
func (b *txBuffer) spillArena() error {
	if b.spill == nil {
		f, err := os.CreateTemp(b.dir, spillPattern)
		if err != nil {
			return fmt.Errorf("spill large transaction: %w", err)
		}
		b.spill = f
		b.spillW = newSpillWriter(f, spillBuffer)
		b.src = spillSource{f: f, free: true}
		b.spillR = bufio.NewReaderSize(&b.src, spillBuffer)
	}
	b.dirty = true
	for _, r := range b.recs {
		binary.LittleEndian.PutUint32(b.hdr[0:], uint32(r.end-r.start))
		binary.LittleEndian.PutUint32(b.hdr[4:], uint32(r.split-r.start))
		binary.LittleEndian.PutUint32(b.hdr[8:], uint32(len(r.database)))
		binary.LittleEndian.PutUint32(b.hdr[12:], uint32(len(r.table)))
		binary.LittleEndian.PutUint32(b.hdr[16:], uint32(len(r.pos.File)))
		binary.LittleEndian.PutUint64(b.hdr[20:], r.pos.Offset)
		binary.LittleEndian.PutUint64(b.hdr[28:], uint64(r.index))
		binary.LittleEndian.PutUint32(b.hdr[36:], uint32(len(r.key)))
		if _, err := b.spillW.Write(b.hdr[:]); err != nil {
			return fmt.Errorf("spill large transaction: %w", err)
		}
		_, _ = b.spillW.WriteString(r.database)
		_, _ = b.spillW.WriteString(r.table)
		_, _ = b.spillW.WriteString(r.pos.File)
		_, _ = b.spillW.Write(r.key)
		if _, err := b.spillW.Write(b.arena[r.start:r.end]); err != nil {
			return fmt.Errorf("spill large transaction: %w", err)
		}
	}
	b.nSpilled += len(b.recs)
	b.spilledBytes += len(b.arena)
	b.recs = b.recs[:0]
	b.arena = b.arena[:0]
	b.keys = b.keys[:0]
	return nil
}

// spillSource reads the spill file sequentially and frees (punches out)
// each part once it is read, while it can: the read-back happens as the
// commit writes the transaction's events to the sinks (a file sink's
// pages, a temporary file's), and they take the pages just freed instead
// of new ones, so a spilled transaction holds about its size in the page
// cache, not twice.
type spillSource struct {
	f    *os.File
	off  int64
	free bool
}

func (s *spillSource) Read(p []byte) (int, error) {
	n, err := s.f.Read(p)
	if n > 0 && s.free {
		if freeSpilled(s.f, s.off, int64(n)) != nil {
			s.free = false // not supported here: freed at truncation
		}
	}
	s.off += int64(n)
	return n, err
}

// each calls fn for every row in order with its head and tail and its
// record (whose offsets mean nothing for spilled rows). The slices, rec.key
// included, are valid only during the call. The spilled rows are read
// once: each may be called once per transaction (after a reset).
func (b *txBuffer) each(fn func(head, tail []byte, rec *txRec) error) error {
	if b.nSpilled > 0 {
		if err := b.spillW.Flush(); err != nil {
			return fmt.Errorf("spill large transaction: %w", err)
		}
		if _, err := b.spill.Seek(0, io.SeekStart); err != nil {
			return err
		}
		b.src.off = 0
		r := b.spillR
		r.Reset(&b.src)
		var buf, big []byte // big: rows larger than the reader's buffer
		var hdr [spillHeader]byte
		var rec txRec
		for range b.nSpilled {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return fmt.Errorf("read spilled transaction: %w", err)
			}
			n := int(binary.LittleEndian.Uint32(hdr[0:]))
			split := int(binary.LittleEndian.Uint32(hdr[4:]))
			dn := int(binary.LittleEndian.Uint32(hdr[8:]))
			tn := int(binary.LittleEndian.Uint32(hdr[12:]))
			fileLen := int(binary.LittleEndian.Uint32(hdr[16:]))
			rec.pos.Offset = binary.LittleEndian.Uint64(hdr[20:])
			rec.index = int(binary.LittleEndian.Uint64(hdr[28:]))
			keyLen := int(binary.LittleEndian.Uint32(hdr[36:]))
			names := dn + tn + fileLen + keyLen
			size := names + n
			var err error
			if size <= r.Size() {
				// In the reader's buffer: no copy. Discarded after fn.
				buf, err = r.Peek(size)
			} else {
				if cap(big) < size {
					big = make([]byte, size)
				}
				buf = big[:size:size]
				_, err = io.ReadFull(r, buf)
			}
			if err != nil {
				return fmt.Errorf("read spilled transaction: %w", err)
			}
			// names repeat row after row: reuse the previous string when equal
			if string(buf[:dn]) != rec.database {
				rec.database = string(buf[:dn])
			}
			if string(buf[dn:dn+tn]) != rec.table {
				rec.table = string(buf[dn : dn+tn])
			}
			if string(buf[dn+tn:names-keyLen]) != rec.pos.File {
				rec.pos.File = string(buf[dn+tn : names-keyLen])
			}
			rec.key = buf[names-keyLen : names : names]
			row := buf[names:]
			if err := fn(row[:split], row[split:], &rec); err != nil {
				return err
			}
			if size <= r.Size() {
				_, _ = r.Discard(size) // Peek returned size bytes
			}
		}
	}
	for i := range b.recs {
		r := &b.recs[i]
		if err := fn(b.arena[r.start:r.split], b.arena[r.split:r.end], r); err != nil {
			return err
		}
	}
	return nil
}

// spillPattern names spill files (os.CreateTemp).
const spillPattern = "sluice-tx-*.spill"

// CleanSpillDir creates dir if needed and removes the spill files a
// process that died mid-transaction left there; it returns how many. Call
// it only while no other pipeline spills into dir (under the checkpoint
// directory's lock).
func CleanSpillDir(dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("spill directory: %w", err)
	}
	left, err := filepath.Glob(filepath.Join(dir, spillPattern))
	if err != nil {
		return 0, fmt.Errorf("spill directory %s: %w", dir, err)
	}
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("remove leftover spill file: %w", err)
		}
	}
	return len(left), nil
}
