package pipeline

import (
	"fmt"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
)

// Sinks may ask for another format than Config.Format (Config.SinkFormats):
// the lake keeps Maxwell lines, which the compactor reads, while a stream
// sink gets Debezium's. The encoder then encodes every event twice, into
// two transaction buffers, and each batch it sends has a twin in the other
// format with the same Seq; each sink is handed the twin in its format. A
// transaction's events in the second format all go into the batch that
// carries the transaction's boundary (the first format may split a large
// transaction over several batches), so a checkpoint still covers exactly
// what every sink acknowledged.

// formats returns the encoders' formats and who takes which: first is the
// pipeline's format, or the first sink's when no sink takes the pipeline's;
// second is the other format some sink asks for ("" when none does);
// takesSecond says for each sink whether it takes the second.
func (c *Config) formats(nsinks int) (first, second Format, takesSecond []bool) {
	first = c.Format
	used := false
	for i := range nsinks {
		if c.sinkFormat(i) == first {
			used = true
		}
	}
	if !used && nsinks > 0 {
		first = c.sinkFormat(0)
	}
	takesSecond = make([]bool, nsinks)
	for i := range nsinks {
		if f := c.sinkFormat(i); f != first {
			second, takesSecond[i] = f, true
		}
	}
	return first, second, takesSecond
}

// sinkFormat is the format sink i asks for.
func (c *Config) sinkFormat(i int) Format {
	if i < len(c.SinkFormats) && c.SinkFormats[i] != "" {
		return c.SinkFormats[i]
	}
	return c.Format
}

func (c *Config) validateSinkFormats() error {
	for i, f := range c.SinkFormats {
		if f == "" {
			continue
		}
		if err := f.validate(); err != nil {
			return fmt.Errorf("sink %d: %w", i, err)
		}
	}
	return nil
}

// encoderFormat returns the encoder of format f.
func (c *Config) encoderFormat(f Format) event.Format {
	if f == FormatDebezium {
		return event.NewDebeziumWith(c.Name, c.Debezium)
	}
	return event.NewMaxwell(c.Maxwell)
}

// twin is the second format's encoding of the open transaction and batch.
type twin struct {
	format event.Format
	txbuf  *txBuffer
	batch  *emit.Batch
}

func (w *twin) current() *emit.Batch {
	if w.batch == nil {
		w.batch = &emit.Batch{}
	}
	return w.batch
}

// twinRow encodes r in the second format, if there is one.
func (e *encoder) twinRow(r *event.Row, database, table string, key []byte) error {
	w := e.twin
	if w == nil {
		return nil
	}
	start := len(w.txbuf.arena)
	out, split, err := w.format.AppendRow(w.txbuf.arena, &e.tx, r)
	if err != nil {
		w.txbuf.arena = w.txbuf.arena[:start]
		return fmt.Errorf("encode %s.%s row %d at %s: %w", database, table, r.Index, r.Pos, err)
	}
	w.txbuf.arena = append(out, '\n')
	return w.txbuf.added(start, split, database, table, key, r.Pos, r.Index)
}

// twinDDL encodes d in the second format, if there is one.
func (e *encoder) twinDDL(d *event.DDL) error {
	w := e.twin
	if w == nil {
		return nil
	}
	start := len(w.txbuf.arena)
	out, split, err := w.format.AppendDDL(w.txbuf.arena, &e.tx, d)
	if err != nil {
		w.txbuf.arena = w.txbuf.arena[:start]
		return fmt.Errorf("encode %s at %s: %w", d.Kind, d.Pos, err)
	}
	w.txbuf.arena = append(out, '\n')
	return w.txbuf.added(start, split, d.Database, d.Table, nil, d.Pos, d.Index)
}

// resetTx drops the open transaction's events in every format.
func (e *encoder) resetTx() error {
	if e.twin != nil {
		if err := e.twin.txbuf.reset(); err != nil {
			return err
		}
	}
	return e.txbuf.reset()
}

// twinCommit moves the transaction's events in the second format into the
// twin batch, framed as in the first.
func (e *encoder) twinCommit(c *event.Commit, hb *pendingHeartbeat) error {
	w := e.twin
	if w == nil {
		return nil
	}
	b := w.current()
	e.appendTxEvent(w.format, b, c, true)
	n, i := w.txbuf.Len(), 0
	err := w.txbuf.each(func(head, tail []byte, rec *txRec) error {
		e.appendCommitted(b, w.format, c, head, tail, rec, i, n)
		i++
		return nil
	})
	if err != nil {
		return err
	}
	e.appendTxEvent(w.format, b, c, false)
	e.appendHeartbeat(w.format, b, c, hb)
	return nil
}
