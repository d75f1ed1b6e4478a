package event

import "strconv"

// TxEvents is implemented by a Format that frames each transaction's events
// with boundary events of its own (Debezium's BEGIN and END with
// provide.transaction.metadata). A pipeline calls StartTx when a
// transaction begins, before its AppendRow calls, and TxEventCount after the
// last; when that is above zero, it writes AppendTxBegin's event before the
// transaction's events and AppendTxEnd's after them.
type TxEvents interface {
	StartTx(tx *Tx)
	// TxEventCount is how many change events of tx the format counted, 0
	// when it writes no boundary events for it.
	TxEventCount(tx *Tx) int
	AppendTxBegin(dst []byte, tx *Tx, c *Commit) []byte
	AppendTxEnd(dst []byte, tx *Tx, c *Commit) []byte
}

var _ TxEvents = (*Debezium)(nil)

// txOrder counts a transaction's change events, in total and per table
// ("db.table", in the order first seen), as AppendRow encodes them.
type txOrder struct {
	gtid   string
	begin  Position
	total  int
	names  []string
	counts []int
}

func (o *txOrder) is(tx *Tx) bool { return o.gtid == tx.GTID && o.begin == tx.Begin && o.total > 0 }

// next counts one event of table in tx and returns its total and per-table order.
func (o *txOrder) next(tx *Tx, table string) (int, int) {
	if o.gtid != tx.GTID || o.begin != tx.Begin {
		o.gtid, o.begin, o.total = tx.GTID, tx.Begin, 0
		o.names, o.counts = o.names[:0], o.counts[:0]
	}
	o.total++
	for i, n := range o.names {
		if n == table {
			o.counts[i]++
			return o.total, o.counts[i]
		}
	}
	o.names = append(o.names, table)
	o.counts = append(o.counts, 1)
	return o.total, 1
}

// appendTxID appends the transaction's id as Debezium writes it: the GTID,
// or without one "file=F,pos=P" of the event that began it.
func appendTxID(dst []byte, tx *Tx) []byte {
	if tx.GTID != "" {
		return appendString(dst, tx.GTID)
	}
	return appendString(dst, "file="+tx.Begin.File+",pos="+strconv.FormatUint(tx.Begin.Offset, 10))
}

// appendTransaction appends a change event's transaction block and a comma:
// null for a row a snapshot read.
func (d *Debezium) appendTransaction(dst []byte, tx *Tx, r *Row) []byte {
	if r.Type == BootstrapInsert {
		return append(dst, `"transaction":null,`...)
	}
	total, order := d.tx.next(tx, r.Table.Database+"."+r.Table.Name)
	dst = append(dst, `"transaction":{"id":`...)
	dst = appendTxID(dst, tx)
	dst = append(dst, `,"total_order":`...)
	dst = strconv.AppendInt(dst, int64(total), 10)
	dst = append(dst, `,"data_collection_order":`...)
	dst = strconv.AppendInt(dst, int64(order), 10)
	return append(dst, "},"...)
}

// StartTx implements TxEvents: the counts start again, also for a
// transaction read again after a reconnect.
func (d *Debezium) StartTx(tx *Tx) {
	d.tx.gtid, d.tx.begin, d.tx.total = tx.GTID, tx.Begin, 0
	d.tx.names, d.tx.counts = d.tx.names[:0], d.tx.counts[:0]
}

// TxEventCount implements TxEvents.
func (d *Debezium) TxEventCount(tx *Tx) int {
	if !d.opts.TransactionMetadata || !d.tx.is(tx) {
		return 0
	}
	return d.tx.total
}

// AppendTxBegin implements TxEvents: {"status":"BEGIN","id":...,
// "event_count":null,"data_collections":null,"ts_ms":...}.
func (d *Debezium) AppendTxBegin(dst []byte, tx *Tx, c *Commit) []byte {
	dst = d.appendTxHead(dst, tx, "BEGIN")
	dst = append(dst, `,"event_count":null,"data_collections":null`...)
	return d.appendTxTail(dst, c)
}

// AppendTxEnd implements TxEvents: the END event with the number of change
// events in total and per table.
func (d *Debezium) AppendTxEnd(dst []byte, tx *Tx, c *Commit) []byte {
	dst = d.appendTxHead(dst, tx, "END")
	dst = append(dst, `,"event_count":`...)
	dst = strconv.AppendInt(dst, int64(d.TxEventCount(tx)), 10)
	dst = append(dst, `,"data_collections":[`...)
	if d.tx.is(tx) {
		for i, n := range d.tx.names {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"data_collection":`...)
			dst = appendString(dst, n)
			dst = append(dst, `,"event_count":`...)
			dst = strconv.AppendInt(dst, int64(d.tx.counts[i]), 10)
			dst = append(dst, '}')
		}
	}
	dst = append(dst, ']')
	return d.appendTxTail(dst, c)
}

func (d *Debezium) appendTxHead(dst []byte, tx *Tx, status string) []byte {
	if d.opts.SchemasEnable {
		dst = append(dst, `{"schema":`...)
		dst = append(dst, debeziumTxEventSchema...)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, `{"status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","id":`...)
	return appendTxID(dst, tx)
}

func (d *Debezium) appendTxTail(dst []byte, c *Commit) []byte {
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendUint(dst, uint64(c.Timestamp)*1000, 10)
	dst = append(dst, '}')
	if d.opts.SchemasEnable {
		dst = append(dst, '}')
	}
	return dst
}
