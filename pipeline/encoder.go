package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

// encoder turns the item stream into batches of encoded events, whole
// transactions at a time, and hands them to the sinks.
type encoder struct {
	p        *Pipeline
	format   event.Format
	serverID uint32
	// generation is the source generation of the events (event.Tx), and
	// genServer the server it was counted for: a reconnect that lands on
	// another server starts the next generation.
	generation uint32
	genServer  uint32
	// history is the saved checkpoint's history (savedHistory) with the
	// moves the stream made; nil until the first, so the saved one goes on.
	history, savedHistory []checkpoint.Change

	tx    event.Tx
	inTx  bool
	txbuf *txBuffer

	// keys encodes rows' primary keys into key; Refs' keys are cut from
	// keySlab, which is never reused (a sink may keep a Ref's Key as long
	// as it likes).
	keys    *event.Keys
	key     []byte
	keySlab []byte
	// keyCols names each table's primary key columns ("db\x00table"),
	// as of the last row seen of it; lastCols caches the last lookup.
	keyCols           map[string][]string
	keyColsTable      *schema.Table
	lastDB, lastTable string
	lastCols          []string

	batch *emit.Batch
	seq   uint64
	// boundary is the checkpoint the current batch ends at, if it ends at a
	// transaction boundary.
	boundary *checkpoint.Checkpoint
	// held is the Held of the item being handled: an XA transaction waits
	// for its commit, so no boundary may be checkpointed now.
	held bool
	xa   heldState // boundaries while held: see xaheld.go
	gtid string    // of the last committed transaction
	// executed is the executed GTID set at the last boundary (nil: not
	// known), spelled into the boundary's checkpoint only at flush;
	// txGTID is the open transaction's GTID.
	executed *binlog.ExecutedSet
	flavor   string
	txGTID   binlog.GTID
	// noDDL: schema changes are not emitted (output.maxwell.ddl: false).
	noDDL bool
	// splitting is set while a transaction too large for one batch is
	// flushed in parts: those batches do not end at a boundary.
	splitting bool
	// heartbeatTable is Config.HeartbeatTable: rows of it are not emitted.
	heartbeatTable string
	// batches hands out batches sized to their transactions, and takes
	// back those every sink has released.
	batches *batchPool
	// out takes finished batches to the delivery goroutine.
	out chan<- delivery
	// caughtUp is set before out is closed when the target was reached.
	caughtUp bool
	// pastEnd is set by the first transaction committed after NotAfter.
	pastEnd bool
	// lastCommit is the commit time of the last transaction; watermark
	// what the sinks may be told is complete, sentWatermark what they were.
	lastCommit               uint32
	watermark, sentWatermark time.Time

	// snaps, when set, is the table snapshot state shared with the chunk
	// reader. snapCommitted is the state as of the last commit (what
	// checkpoints carry), snapStaged the open transaction's change to it.
	snaps                     *snapshots
	snapCommitted, snapStaged *checkpoint.Snapshot
	// win is the chunk whose low watermark was read and high one not yet;
	// winResult the chunk the open transaction ends, emitted or not.
	win, winResult *window
	winEmitted     bool
	// heartbeat is the open transaction's heartbeat row, for formats
	// that emit heartbeat records.
	heartbeat *pendingHeartbeat
	// twin encodes for the sinks that take the second format (nil: none).
	twin *twin
}

// delivery is a batch on its way to the sinks, with the checkpoint it
// completes, if any.
type delivery struct {
	batch *emit.Batch
	// twin is batch in the second format, when some sinks take it.
	twin     *emit.Batch
	boundary *checkpoint.Checkpoint
	// watermark: every event committed before it is in this batch or an
	// earlier one (zero when unknown).
	watermark time.Time
}

func newEncoder(p *Pipeline, serverID uint32, out chan<- delivery) *encoder {
	first, second, takesTwin := p.cfg.formats(len(p.sinks))
	var tw *twin
	if second != "" {
		tw = &twin{format: p.cfg.encoderFormat(second), txbuf: newTxBuffer(p.cfg.TxMemoryBytes, p.cfg.spillDir())}
	}
	p.takesTwin = takesTwin
	gen := p.saved.Generation
	if p.cfg.FixedGeneration {
		gen = p.cfg.Generation
	}
	e := &encoder{
		p:        p,
		twin:     tw,
		format:   p.cfg.encoderFormat(first),
		serverID: serverID,
		txbuf:    newTxBuffer(p.cfg.TxMemoryBytes, p.cfg.spillDir()),
		keys:     event.NewKeys(),
		keyCols:  make(map[string][]string),
		gtid:     p.saved.GTID,
		batches:  newBatchPool(p.cfg.BatchBytes + 64<<10),

		heartbeatTable: p.cfg.HeartbeatTable,
		noDDL:          p.cfg.Format == FormatMaxwell && p.cfg.Maxwell.NoDDL,
		out:            out,
		snapCommitted:  p.saved.Snapshot,
		generation:     gen,
		genServer:      serverID,
		savedHistory:   p.saved.History,
	}
	e.initHeld()
	return e
}

func (e *encoder) close() {
	e.txbuf.close()
	if e.twin != nil {
		e.twin.txbuf.close()
	}
}

// loop consumes items until ctx is done or, with a target, the stream has
// passed it outside a transaction; then it sets caughtUp and returns nil.
// It closes out when it returns.
func (e *encoder) loop(ctx context.Context, items <-chan binlog.Item, from, target event.Position) error {
	defer close(e.out)
	if !target.IsZero() && !from.IsZero() && from.Compare(target) >= 0 && e.snapshotIdle() {
		e.caughtUp = true
		return nil
	}
	for {
		var it binlog.Item
		select {
		case it = <-items:
		default:
			// Nothing waiting: deliver what we have rather than wait to fill a batch.
			if err := e.flush(ctx); err != nil {
				return err
			}
			select {
			case it = <-items:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := e.handle(ctx, &it); err != nil {
			return err
		}
		if e.pastEnd {
			if err := e.flush(ctx); err != nil {
				return err
			}
			e.caughtUp = true
			return nil
		}
		if !target.IsZero() && !e.inTx && (it.Kind == binlog.ItemCommit || it.Kind == binlog.ItemProgress) && it.Pos.Compare(target) >= 0 && e.snapshotIdle() {
			if err := e.flush(ctx); err != nil {
				return err
			}
			e.caughtUp = true
			return nil
		}
	}
}

func (e *encoder) handle(ctx context.Context, it *binlog.Item) error {
	if it.Held && !e.held && e.boundary != nil && e.executed != nil && e.boundary.GTIDSet == "" {
		// An XA transaction is prepared from here on: the boundary not
		// yet flushed stays the checkpoint for a while, with the executed
		// set it has now (the set moves on with what commits meanwhile).
		e.boundary.GTIDSet = e.executed.String()
	}
	e.held = it.Held
	switch it.Kind {
	case binlog.ItemBegin:
		e.moved(it.ServerID)
		e.tx = it.Tx
		e.tx.Generation = e.generation
		e.txGTID = it.TxGTID
		e.inTx = true
		e.heartbeat = nil
		e.startTxEvents()
		return e.resetTx()
	case binlog.ItemRows:
		return e.addRows(it)
	case binlog.ItemQuery:
		return e.addDDLs(it)
	case binlog.ItemCommit:
		e.source(it)
		return e.commit(ctx, &it.Commit)
	case binlog.ItemAbort:
		e.inTx = false
		e.abortSnap()
		return e.resetTx()
	case binlog.ItemProgress:
		if !e.inTx {
			e.source(it)
			if e.executed != nil {
				e.executed.Add(it.TxGTID) // a rollback's or an XA PREPARE's
			}
			e.setBoundary(e.boundaryAt(it.Pos, e.lastCommit))
		}
	case binlog.ItemHeartbeat:
		if !e.inTx {
			// Idle: everything committed before now has been read.
			e.watermark = it.At
		}
		e.p.cfg.Metrics.heartbeat(it.At)
		if e.p.cfg.OnProgress != nil {
			e.p.cfg.OnProgress(it.At)
		}
	}
	return nil
}

func (e *encoder) addRows(it *binlog.Item) error {
	if e.heartbeatTable != "" && it.Table.QualifiedName() == e.heartbeatTable {
		e.heartbeatRows(it)
		return nil
	}
	if e.snaps != nil && it.Table.Database == e.snaps.signal.Database && it.Table.Name == e.snaps.signal.Table {
		return e.signalRows(it)
	}
	if !e.p.filter.Table(it.Table.Database, it.Table.Name) {
		return nil // filtered out: the transaction's position still moves the checkpoint
	}
	step := 1
	if it.Type == event.Update {
		step = 2
	}
	for i := 0; i+step <= len(it.Rows); i += step {
		r := event.Row{Table: it.Table, Type: it.Type, Pos: it.Pos, Index: it.IndexBase + i/step, Query: it.RowQuery}
		switch it.Type {
		case event.Insert:
			r.After = it.Rows[i]
		case event.Delete:
			r.Before = it.Rows[i]
		case event.Update:
			r.Before, r.After = it.Rows[i], it.Rows[i+1]
		}
		if err := e.p.filter.Row(&r); err != nil {
			return fmt.Errorf("filter %s row %d at %s: %w", it.Table.QualifiedName(), r.Index, it.Pos, err)
		}
		start := len(e.txbuf.arena)
		out, split, err := e.format.AppendRow(e.txbuf.arena, &e.tx, &r)
		if err != nil {
			e.txbuf.arena = e.txbuf.arena[:start]
			return fmt.Errorf("encode %s row %d at %s: %w", it.Table.QualifiedName(), r.Index, it.Pos, err)
		}
		e.txbuf.arena = append(out, '\n')
		if e.key, err = e.keys.AppendKey(e.key[:0], &r); err != nil {
			return fmt.Errorf("encode %s row %d key at %s: %w", it.Table.QualifiedName(), r.Index, it.Pos, err)
		}
		if err := e.twinRow(&r, it.Table.Database, it.Table.Name, e.key); err != nil {
			return err
		}
		e.noteKeyColumns(it.Table)
		if e.win != nil {
			if err := e.windowRows(it, &r); err != nil {
				return fmt.Errorf("encode %s row %d key at %s: %w", it.Table.QualifiedName(), r.Index, it.Pos, err)
			}
		}
		if err := e.txbuf.added(start, split, it.Table.Database, it.Table.Name, e.key, r.Pos, r.Index); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) addDDLs(it *binlog.Item) error {
	if it.Tx.Thread != 0 {
		e.tx.Thread = it.Tx.Thread // the statement's own client thread
	}
	for i := range it.DDLs {
		d := &it.DDLs[i]
		if e.ownDDL(d) {
			continue
		}
		e.windowDDL(d)
		if e.noDDL || !e.p.filter.DDL(&d.DDL) {
			continue
		}
		start := len(e.txbuf.arena)
		out, split, err := e.format.AppendDDL(e.txbuf.arena, &e.tx, d)
		if err != nil {
			e.txbuf.arena = e.txbuf.arena[:start]
			return fmt.Errorf("encode %s at %s: %w", d.Kind, d.Pos, err)
		}
		e.txbuf.arena = append(out, '\n')
		if err := e.txbuf.added(start, split, d.Database, d.Table, nil, d.Pos, d.Index); err != nil {
			return err
		}
		if err := e.twinDDL(d); err != nil {
			return err
		}
	}
	return nil
}

// ownDDL reports the heartbeat table's own schema changes (its CREATE ...
// IF NOT EXISTS at every start), which are not emitted.
func (e *encoder) ownDDL(d *event.DDL) bool {
	if e.snaps != nil && own(d, e.snaps.signal.Database, e.snaps.signal.Table) {
		return true
	}
	if e.heartbeatTable == "" {
		return false
	}
	db, table, _ := strings.Cut(e.heartbeatTable, ".")
	return own(d, db, table)
}

func own(d *event.DDL, db, table string) bool {
	return d.Database == db && (d.Table == table || d.Table == "" && d.Kind == schema.DatabaseCreate)
}

// heartbeatRows reads the lag off heartbeat rows (their ts column holds
// the time they were written, with microseconds) instead of emitting them.
func (e *encoder) heartbeatRows(it *binlog.Item) {
	col := -1
	for i, c := range it.Table.Columns {
		if c.Name == "ts" {
			col = i
		}
	}
	if col < 0 {
		return
	}
	for n, row := range it.Rows {
		s, ok := row[col].(string)
		if !ok {
			continue
		}
		// DATETIME(6) decodes to "2006-01-02 15:04:05.000000", written
		// with NOW(6) in the server's time zone; sluice requires UTC there
		// for lag to be exact (the test servers and RDS default to UTC).
		if t, err := time.ParseInLocation("2006-01-02 15:04:05.000000", s, time.UTC); err == nil {
			if it.Type != event.Delete && (it.Type != event.Update || n%2 == 1) {
				index := it.IndexBase + n
				if it.Type == event.Update {
					index = it.IndexBase + n/2
				}
				e.noteHeartbeat(row, func(i int) string { return it.Table.Columns[i].Name }, t, it.Pos, index)
			}
			now := time.Now()
			e.p.cfg.Metrics.heartbeatLag(now.Sub(t), now)
			if e.p.cfg.OnProgress != nil {
				e.p.cfg.OnProgress(now)
			}
		}
	}
}

// boundaryAt is the checkpoint of a batch that ends at pos, committed at ts.
func (e *encoder) boundaryAt(pos event.Position, ts uint32) checkpoint.Checkpoint {
	return checkpoint.Checkpoint{Position: pos, GTID: e.gtid, ServerID: e.serverID, Generation: e.generation, History: e.history, Timestamp: ts, Snapshot: e.snapCommitted}
}

// endTx ends the transaction c commits, once its rows are out (or were
// out before a restart): its GTID is executed, and the batch ends at c.
func (e *encoder) endTx(c *event.Commit) error {
	if err := e.resetTx(); err != nil {
		return err
	}
	if e.tx.GTID != "" {
		e.gtid = e.tx.GTID
	}
	e.addExecuted()
	e.commitSnap()
	e.setBoundary(e.boundaryAt(c.Pos, c.Timestamp))
	e.lastCommit = c.Timestamp
	return nil
}

// commit moves the transaction's rows into batches with their commit fields.
func (e *encoder) commit(ctx context.Context, c *event.Commit) error {
	e.inTx = false
	when := time.Unix(int64(c.Timestamp), 0)
	if na := e.p.cfg.NotAfter; !na.IsZero() && when.After(na) {
		e.pastEnd = true // a replay's end: this transaction is not emitted
		return e.resetTx()
	}
	if nb := e.p.cfg.NotBefore; !nb.IsZero() && when.Before(nb) {
		if err := e.resetTx(); err != nil { // before a replay's start
			return err
		}
		e.addExecuted()
		e.setBoundary(e.boundaryAt(c.Pos, c.Timestamp))
		return nil
	}
	if e.emittedBefore(c.Pos) {
		// Emitted before a restart, while an XA transaction was prepared
		// (the checkpoint's Emitted): read again, not emitted again.
		e.heartbeat = nil
		return e.endTx(c)
	}
	n := e.txbuf.Len()
	i := 0
	// The batch is sized to the transaction: its rows plus the commit
	// fields each gets.
	need := e.txbuf.Bytes() + n*commitFieldsBytes
	if err := e.room(ctx, need, n); err != nil {
		return err
	}
	e.appendTxEvent(e.format, e.current(need, n+2), c, true)
	err := e.txbuf.each(func(head, tail []byte, rec *txRec) error {
		b := e.current(need, n+2)
		e.appendCommitted(b, e.format, c, head, tail, rec, i, n)
		i++
		if len(b.Data) >= e.p.cfg.BatchBytes && i < n {
			// A large transaction goes out in several batches; only the
			// last one ends at a boundary.
			e.splitting = true
			err := e.flush(ctx)
			e.splitting = false
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.appendTxEvent(e.format, e.current(need, n+2), c, false)
	hb := e.heartbeat
	e.heartbeat = nil
	e.appendHeartbeat(e.format, e.current(need, n+2), c, hb)
	if err := e.twinCommit(c, hb); err != nil {
		return err
	}
	if err := e.endTx(c); err != nil {
		return err
	}
	now := time.Now()
	e.p.cfg.Metrics.committed(c.Timestamp, now)
	if e.p.cfg.OnProgress != nil {
		e.p.cfg.OnProgress(now)
	}
	if t := time.Unix(int64(c.Timestamp), 0); t.After(e.watermark) {
		e.watermark = t
	}
	if e.batch != nil && len(e.batch.Data) >= e.p.cfg.BatchBytes {
		return e.flush(ctx)
	}
	return nil
}

// noteKeyColumns remembers the names of t's primary key columns for the
// events of its rows.
func (e *encoder) noteKeyColumns(t *schema.Table) {
	if t == e.keyColsTable {
		return
	}
	e.keyColsTable = t
	var names []string
	for _, i := range t.PrimaryKey {
		names = append(names, t.Columns[i].Name)
	}
	if len(e.keyCols) > 4096 && e.txbuf.Len() == 0 {
		// Tables re-created by DDL churn: keep the map bounded, but never
		// while a transaction's rows are buffered (their refs read it at
		// commit).
		clear(e.keyCols)
	}
	e.keyCols[t.Database+"\x00"+t.Name] = names
	e.lastDB, e.lastTable, e.lastCols = t.Database, t.Name, names
}

// keyColumns returns the primary key column names noted for a table.
func (e *encoder) keyColumns(db, table string) []string {
	if db != e.lastDB || table != e.lastTable {
		e.lastDB, e.lastTable, e.lastCols = db, table, e.keyCols[db+"\x00"+table]
	}
	return e.lastCols
}

// keepKey copies a row's key to where a Ref may keep it.
func (e *encoder) keepKey(key []byte) []byte {
	if len(key) == 0 {
		return nil
	}
	if cap(e.keySlab)-len(e.keySlab) < len(key) {
		e.keySlab = make([]byte, 0, max(64<<10, len(key)))
	}
	n := len(e.keySlab)
	e.keySlab = append(e.keySlab, key...)
	return e.keySlab[n:len(e.keySlab):len(e.keySlab)]
}

// commitFieldsBytes is about what the commit fields (ts, xid, commit,
// gtid) add to each event, for sizing batches.
const commitFieldsBytes = 96

// current returns the batch being filled, opening one with room for need
// bytes and events events when there is none.
func (e *encoder) current(need, events int) *emit.Batch {
	if e.batch == nil {
		e.batch = e.batches.get(need, events)
	}
	return e.batch
}

// room readies the current batch to take a transaction of need bytes and
// n events without growing: a batch the transaction would take past
// BatchBytes goes to the sinks first (it would right after the
// transaction anyway), and one too small moves to a pooled batch of the
// class that holds both. A batch grown by append would be a fresh
// allocation of twice its size, copied, for every batch.
func (e *encoder) room(ctx context.Context, need, n int) error {
	b := e.batch
	if b == nil || cap(b.Data)-len(b.Data) >= need {
		return nil
	}
	if len(b.Data)+need > e.p.cfg.BatchBytes {
		return e.flush(ctx)
	}
	nb := e.batches.get(len(b.Data)+need, len(b.Events)+n)
	nb.Data = append(nb.Data, b.Data...)
	nb.Events = append(nb.Events, b.Events...)
	e.batches.put(b)
	e.batch = nb
	return nil
}

// appendCommitted appends event i of the n of the committing transaction,
// encoded in format f, to b: its head, the commit fields, its tail, and
// its Ref.
func (e *encoder) appendCommitted(b *emit.Batch, f event.Format, c *event.Commit, head, tail []byte, rec *txRec, i, n int) {
	off := len(b.Data)
	b.Data = append(b.Data, head...)
	b.Data = f.AppendCommit(b.Data, c, i, i == n-1)
	b.Data = append(b.Data, tail...)
	b.Events = append(b.Events, emit.Ref{
		Off: off, Len: len(b.Data) - off - 1, Database: rec.database, Table: rec.table, Key: e.keepKey(rec.key), KeyColumns: e.keyColumns(rec.database, rec.table),
		Timestamp: c.Timestamp, Pos: rec.pos, Index: rec.index, ServerID: e.tx.ServerID, Generation: e.tx.Generation, Commit: c.Pos,
	})
}

// recycle keeps a released batch's buffers for reuse.
func (e *encoder) recycle(b *emit.Batch) { e.batches.put(b) }

// flush sends the current batch, with the transaction boundary it ends at
// if any, to the delivery goroutine.
func (e *encoder) flush(ctx context.Context) error {
	if e.batch == nil && e.boundary == nil && !e.watermark.After(e.sentWatermark) {
		return nil
	}
	b := e.current(0, 0)
	e.batch = nil
	e.seq++
	b.Seq = e.seq
	if e.boundary != nil && e.executed != nil && e.boundary.GTIDSet == "" && e.boundary.Emitted == "" {
		e.boundary.GTIDSet = e.executed.String()
	}
	b.Checkpoint = nil
	if e.boundary != nil && !e.splitting {
		cp := *e.boundary
		cp.Pipeline, cp.UpdatedAt = e.p.cfg.Name, time.Now().UTC()
		var err error
		if b.Checkpoint, err = checkpoint.Encode(&cp); err != nil {
			return fmt.Errorf("encode checkpoint at %s: %w", cp.Position, err)
		}
	}
	d := delivery{batch: b, boundary: e.boundary}
	if e.twin != nil {
		d.twin = e.twin.current()
		e.twin.batch = nil
		d.twin.Seq, d.twin.Checkpoint = b.Seq, b.Checkpoint
		n := 0
		for _, t := range e.p.takesTwin {
			if t {
				n++
			}
		}
		d.twin.Hold(n, nil)
		b.Hold(len(e.p.sinks)-n, e.recycle)
	} else {
		b.Hold(len(e.p.sinks), e.recycle)
	}
	if !e.inTx && e.watermark.After(e.sentWatermark) {
		d.watermark = e.watermark
	}
	select {
	case e.out <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.boundary = nil
	if !d.watermark.IsZero() {
		e.sentWatermark = d.watermark
	}
	return nil
}

// deliver hands batches to every sink in order and registers their
// boundaries for checkpointing, until in is closed.
func (p *Pipeline) deliver(ctx context.Context, in <-chan delivery) error {
	for d := range in {
		// Read the batch before the sinks get it: once they release it,
		// the encoder reuses it.
		seq, events, size := d.batch.Seq, len(d.batch.Events), len(d.batch.Data)
		tables := p.cfg.Metrics.countTables(d.batch.Events)
		for i, s := range p.sinks {
			b := d.batch
			if d.twin != nil && p.takesTwin[i] {
				b = d.twin
			}
			if err := s.Write(ctx, b); err != nil {
				p.cfg.Metrics.sinkFailed(sinkName(s), err, true)
				return fmt.Errorf("sink %s: write: %w", sinkName(s), err)
			}
		}
		p.delivered.Add(uint64(events))
		p.cfg.Metrics.delivered(events, size)
		p.cfg.Metrics.tablesDelivered(tables)
		if !d.watermark.IsZero() {
			for _, s := range p.sinks {
				if w, ok := s.(emit.Watermarker); ok {
					w.Watermark(d.watermark)
				}
			}
		}
		if d.boundary != nil {
			p.addPending(seq, *d.boundary)
		}
	}
	return nil
}

// source takes the executed GTID set the stream learnt and, after a
// failover, the server from a commit or progress item, for the checkpoint.
func (e *encoder) source(it *binlog.Item) {
	if it.ExecutedSeed != "" {
		set, err := binlog.ParseExecutedSet(e.flavor, it.ExecutedSeed)
		if err != nil {
			e.p.log.Warn("executed GTID set from the stream not understood; checkpoints go without one", "set", it.ExecutedSeed, "err", err.Error())
		}
		e.executed = set
	}
	if it.ServerID != 0 {
		e.serverID = it.ServerID
	}
	e.moved(it.ServerID)
}

// moved starts the next source generation when the stream reads another
// server (serverID, when not 0) than the generation's.
func (e *encoder) moved(serverID uint32) {
	if serverID == 0 || serverID == e.genServer {
		return
	}
	from := e.genServer
	e.genServer = serverID
	if e.p.cfg.FixedGeneration {
		return
	}
	e.generation++
	e.p.log.Warn("the stream reads another server: its events start a new source generation", "server_id", serverID, "generation", e.generation)
	if e.history == nil {
		e.history = e.savedHistory
	}
	e.history = checkpoint.WithChange(e.history, checkpoint.Change{
		At: time.Now().UTC(), What: "failover",
		From: fmt.Sprintf("server_id %d", from),
		To:   fmt.Sprintf("server_id %d after a reconnect, generation %d", serverID, e.generation),
	})
}

// setExecuted starts the executed GTID set ("" : not known).
func (e *encoder) setExecuted(flavor, set string) error {
	e.flavor = flavor
	if set == "" {
		return nil
	}
	var err error
	e.executed, err = binlog.ParseExecutedSet(flavor, set)
	return err
}

// addExecuted adds the committed transaction's GTID to the executed set.
func (e *encoder) addExecuted() {
	if e.executed != nil {
		e.executed.Add(e.txGTID)
	}
	e.txGTID = binlog.GTID{}
}
