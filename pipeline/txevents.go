package pipeline

import (
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
)

// Transaction boundary events (event.TxEvents: Debezium's BEGIN and END with
// provide.transaction.metadata) go to the sinks as events of the table
// "<pipeline>.transaction", Debezium's topic for them. Their dedupe keys
// are the transaction's first event's position with row -1 (BEGIN) and -2
// (END): no row has a negative index.

// startTxEvents tells the formats a transaction began.
func (e *encoder) startTxEvents() {
	if te, ok := e.format.(event.TxEvents); ok {
		te.StartTx(&e.tx)
	}
	if e.twin != nil {
		if te, ok := e.twin.format.(event.TxEvents); ok {
			te.StartTx(&e.tx)
		}
	}
}

// appendTxEvent adds the open transaction's BEGIN (begin) or END event in
// format f to batch b, if f writes them for it.
func (e *encoder) appendTxEvent(f event.Format, b *emit.Batch, c *event.Commit, begin bool) {
	te, ok := f.(event.TxEvents)
	if !ok || te.TxEventCount(&e.tx) == 0 {
		return
	}
	off := len(b.Data)
	index := -2
	if begin {
		b.Data = te.AppendTxBegin(b.Data, &e.tx, c)
		index = -1
	} else {
		b.Data = te.AppendTxEnd(b.Data, &e.tx, c)
	}
	b.Data = append(b.Data, '\n')
	b.Events = append(b.Events, emit.Ref{
		Off: off, Len: len(b.Data) - off - 1, Database: e.p.cfg.Name, Table: "transaction",
		Timestamp: c.Timestamp, Pos: e.tx.Begin, Index: index, ServerID: e.tx.ServerID, Generation: e.tx.Generation,
	})
}
