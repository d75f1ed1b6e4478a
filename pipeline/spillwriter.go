package pipeline

import "os"

// spillWriter buffers the spill file's writes like a bufio.Writer, but
// a full buffer is written by a goroutine of its own while the encoder
// fills the other one: a transaction's encoding does not wait for its
// spill's writes (on a busy page cache, as long as the encoding). Two
// buffers of size bytes; one write in flight at a time, in order.
type spillWriter struct {
	f     *os.File
	buf   []byte // being filled
	spare []byte // the other buffer, when no write is in flight
	busy  bool
	done  chan spillWrite
	err   error // the first write error, until Reset
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
		_, err := w.f.Write(full)
		w.done <- spillWrite{full, err}
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
		_, w.err = w.f.Write(w.buf)
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
