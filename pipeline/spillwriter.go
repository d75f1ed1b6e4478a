package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/s2"
)

// spillWriter buffers the spill file's writes like a bufio.Writer, but
// a full buffer is compressed and written by a goroutine of its own while
// the encoder fills the other one: a transaction's encoding does not wait
// for its spill's writes (on a busy page cache, as long as the encoding).
// Two buffers of size bytes; one write in flight at a time, in order.
//
// The file is a sequence of frames, each at most spillFrame bytes of what
// was written, compressed with S2 (klauspost/compress, Snappy's faster
// successor; on the bench's rows here 1.5 GB/s a core compressing, 4.5
// decoding): spilled JSON takes about 40% of the disk and page cache it
// took, and of the pages a commit writes and reads again. spillSource
// reads it back.
type spillWriter struct {
	f     *os.File
	buf   []byte // being filled
	spare []byte // the other buffer, when no write is in flight
	busy  bool
	done  chan spillWrite
	err   error // the first write error, until Reset
	// frames holds the compressed frames of one buffer (the goroutine's
	// while a write is in flight); spillSource reads into it too, once
	// Flush has returned.
	frames []byte
}

// spillFrame is the most a frame holds uncompressed: half the reader's
// buffer, so a frame is almost always decoded straight into it.
const spillFrame = spillBuffer / 2

// spillFrameHeader is a frame's header: its compressed and uncompressed
// lengths.
const spillFrameHeader = 8

// write compresses b into frames and writes them in one call.
func (w *spillWriter) write(b []byte) error {
	need := 0
	for rest := len(b); rest > 0; rest -= min(rest, spillFrame) {
		need += spillFrameHeader + s2.MaxEncodedLen(min(rest, spillFrame))
	}
	if cap(w.frames) < need {
		w.frames = make([]byte, need)
	}
	out := w.frames[:cap(w.frames)]
	at := 0
	for len(b) > 0 {
		n := min(len(b), spillFrame)
		c := s2.Encode(out[at+spillFrameHeader:], b[:n])
		binary.LittleEndian.PutUint32(out[at:], uint32(len(c)))
		binary.LittleEndian.PutUint32(out[at+4:], uint32(n))
		at += spillFrameHeader + len(c)
		b = b[n:]
	}
	_, err := w.f.Write(out[:at])
	return err
}

type spillWrite struct {
	buf []byte
	err error
}

func newSpillWriter(f *os.File, size int) *spillWriter {
	return &spillWriter{f: f, buf: make([]byte, 0, size), spare: make([]byte, 0, size), done: make(chan spillWrite, 1)}
}

func (w *spillWriter) Write(p []byte) (int, error) { return spillAppend(w, p) }

func (w *spillWriter) WriteString(s string) (int, error) { return spillAppend(w, s) }

// spillAppend copies p into w's buffers, sending each one that fills.
func spillAppend[T []byte | string](w *spillWriter, p T) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(w.buf) == cap(w.buf) {
			w.send()
		}
		if w.err != nil {
			return n, w.err
		}
		k := min(cap(w.buf)-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		n += k
	}
	return n, w.err
}

// send hands the full buffer to a goroutine that writes it, once the
// write before it is done, and goes on in the other buffer.
func (w *spillWriter) send() {
	w.wait()
	if w.err != nil {
		return
	}
	full := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.busy = true
	go func() {
		w.done <- spillWrite{full, w.write(full)}
	}()
}

// wait waits for the write in flight, if any.
func (w *spillWriter) wait() {
	if !w.busy {
		return
	}
	r := <-w.done
	w.busy, w.spare = false, r.buf
	if r.err != nil && w.err == nil {
		w.err = r.err
	}
}

// Flush writes everything written so far to the file.
func (w *spillWriter) Flush() error {
	w.wait()
	if w.err == nil && len(w.buf) > 0 {
		w.err = w.write(w.buf)
	}
	w.buf = w.buf[:0]
	return w.err
}

// Reset drops what is buffered, once the write in flight is done, and
// any error: the file is about to be truncated.
func (w *spillWriter) Reset() {
	w.wait()
	w.buf, w.err = w.buf[:0], nil
}

// spillSource reads the spill file's frames back sequentially and
// decompresses them, straight into the reader's buffer when the frame
// fits; it frees (punches out) each frame once it is read, while it can:
// the read-back happens as the commit writes the transaction's events to
// the sinks (a file sink's pages, a temporary file's), and they take the
// pages just freed instead of new ones, so a spilled transaction holds
// about its compressed size in the page cache, not more.
type spillSource struct {
	f    *os.File
	w    *spillWriter // its frames buffer, idle while reading
	off  int64
	free bool
	// raw holds a frame too large for the caller's slice; rest is what of
	// it has not been read.
	raw, rest []byte
}

// reset readies s to read the file from its start.
func (s *spillSource) reset() {
	s.off, s.rest = 0, nil
}

func (s *spillSource) Read(p []byte) (int, error) {
	if len(s.rest) == 0 {
		var hdr [spillFrameHeader]byte
		if _, err := io.ReadFull(s.f, hdr[:]); err != nil {
			return 0, err // io.EOF at the end
		}
		clen := int(binary.LittleEndian.Uint32(hdr[0:]))
		rlen := int(binary.LittleEndian.Uint32(hdr[4:]))
		if rlen == 0 || rlen > spillFrame || clen > s2.MaxEncodedLen(rlen) {
			return 0, fmt.Errorf("spill frame at %d: %d bytes compressed to %d: corrupt", s.off, rlen, clen)
		}
		if cap(s.w.frames) < clen {
			s.w.frames = make([]byte, clen)
		}
		c := s.w.frames[:clen]
		if _, err := io.ReadFull(s.f, c); err != nil {
			return 0, fmt.Errorf("spill frame at %d: %w", s.off, noEOF(err))
		}
		if s.free && freeSpilled(s.f, s.off, int64(spillFrameHeader+clen)) != nil {
			s.free = false // not supported here: freed at truncation
		}
		s.off += int64(spillFrameHeader + clen)
		dst := p
		if len(p) < rlen {
			if cap(s.raw) < rlen {
				s.raw = make([]byte, spillFrame)
			}
			dst = s.raw
		}
		d, err := s2.Decode(dst[:rlen], c)
		if err != nil {
			return 0, fmt.Errorf("spill frame at %d: %w", s.off, err)
		}
		if len(d) != rlen || &d[0] != &dst[0] {
			return 0, fmt.Errorf("spill frame at %d: %d bytes, want %d", s.off, len(d), rlen)
		}
		if len(p) >= rlen {
			return rlen, nil
		}
		s.rest = d
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

// noEOF makes a frame cut short an unexpected EOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
