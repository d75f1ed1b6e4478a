package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
	"github.com/sluicecdc/sluice/snapshot"
)

// SnapshotConfig configures table snapshots: the rows that existed before
// the pipeline started, read in primary-key chunks between watermarks
// (DBLog) and emitted as bootstrap-insert events in binlog order.
type SnapshotConfig struct {
	// SignalTable ("db.table") carries the watermarks and the requests of
	// `sluice snapshot`; its rows are never emitted. Empty turns snapshots
	// off.
	SignalTable string
	// Initial lists the tables ("db.table") to snapshot when the pipeline
	// starts without a checkpoint; InitialAll snapshots every table with a
	// primary key instead.
	Initial    []string
	InitialAll bool
	// WhenNeeded also takes the initial snapshot when the checkpoint's
	// binlog is purged, from the server's head, instead of refusing to
	// start (snapshot.mode when_needed).
	WhenNeeded bool
	// ChunkSize is the number of rows read per chunk (at most
	// MaxChunkSize: a chunk is held in memory until its window closes).
	ChunkSize int
	// WindowTimeout bounds the wait for a chunk's watermarks to come back
	// through the binlog (default DefaultWindowTimeout). They never do when
	// the signal table's database is filtered out of the binlog: the
	// snapshot then stops with that cause instead of hanging.
	WindowTimeout time.Duration
	// Ignore skips signal rows without acting on them: a replay re-reads
	// the binlog and must not start snapshots.
	Ignore bool
}

// MaxChunkSize bounds SnapshotConfig.ChunkSize.
const MaxChunkSize = 100_000

// DefaultWindowTimeout is SnapshotConfig.WindowTimeout when it is zero.
const DefaultWindowTimeout = 5 * time.Minute

// ErrWindowTimeout: a chunk's high watermark did not come back through the
// binlog in time.
var ErrWindowTimeout = errors.New("the watermark rows did not come back through the binlog")

func (c *SnapshotConfig) windowTimeout() time.Duration {
	if c.WindowTimeout > 0 {
		return c.WindowTimeout
	}
	return DefaultWindowTimeout
}

func (c *SnapshotConfig) validate() error {
	if c.SignalTable == "" {
		if len(c.Initial) > 0 || c.InitialAll {
			return errors.New("snapshot: an initial snapshot needs snapshot.signal_table")
		}
		return nil
	}
	if _, err := snapshot.ParseSignalTable(c.SignalTable); err != nil {
		return err
	}
	for _, t := range c.Initial {
		if _, _, err := snapshot.SplitTable(t); err != nil {
			return fmt.Errorf("snapshot.tables: %w", err)
		}
	}
	if c.ChunkSize <= 0 || c.ChunkSize > MaxChunkSize {
		return fmt.Errorf("snapshot.chunk_size %d: want 1 to %d (a chunk is held in memory while its window is open)", c.ChunkSize, MaxChunkSize)
	}
	if c.WindowTimeout < 0 {
		return fmt.Errorf("snapshot window timeout %v is negative", c.WindowTimeout)
	}
	return nil
}

// snapshots is what the encoder and the chunk reader share.
type snapshots struct {
	cfg      SnapshotConfig
	signal   snapshot.SignalTable
	pipeline string
	registry *schema.Registry

	mu    sync.Mutex
	state *checkpoint.Snapshot // as of the last transaction the encoder committed
	// windows are the chunks the reader has open: the one waiting for the
	// encoder, and the next one, read while the encoder emits the first.
	windows []*window
	wake    chan struct{} // the state changed
	shapes  map[string]*schema.Table
}

// window is one chunk between its watermarks.
type window struct {
	table     string // "db.table"
	db, name  string
	low, high string // watermark ids
	// after is the resume key the chunk was read after: the encoder emits
	// the chunk only if its snapshot state still resumes there.
	after []string

	// Set by the reader before it writes the high watermark; read by the
	// encoder when it reads that watermark (both under snapshots.mu).
	shape *schema.Table
	chunk *snapshot.Chunk
	final bool  // the table has no rows after this chunk
	skip  error // the table cannot be snapshotted

	// The encoder's own, between the watermarks.
	open    bool                // the low watermark was read
	changed bool                // the table's schema changed inside the window
	keys    map[string]struct{} // keys of the table's rows changed inside the window

	done chan bool // true: emitted; false: read the chunk again
}

func newSnapshots(cfg SnapshotConfig, pipeline string, state *checkpoint.Snapshot, registry *schema.Registry) *snapshots {
	sig, _ := snapshot.ParseSignalTable(cfg.SignalTable)
	return &snapshots{cfg: cfg, signal: sig, pipeline: pipeline, registry: registry, state: state,
		wake: make(chan struct{}, 1), shapes: map[string]*schema.Table{}}
}

func (s *snapshots) current() *checkpoint.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *snapshots) publish(st *checkpoint.Snapshot) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// stableShape returns one pointer per table shape, so encoders' per-table
// caches keep working across chunks.
func (s *snapshots) stableShape(t *schema.Table) *schema.Table {
	if old := s.shapes[t.QualifiedName()]; old != nil && old.SameShape(t) && old.Version == t.Version {
		return old
	}
	s.shapes[t.QualifiedName()] = t
	return t
}

// withRequest returns st with table queued, unless it already is.
func withRequest(st *checkpoint.Snapshot, table string) *checkpoint.Snapshot {
	if st != nil && slices.Contains(st.Queue, table) {
		return st
	}
	n := &checkpoint.Snapshot{}
	if st != nil {
		*n = *st
	}
	n.Queue = append(slices.Clip(n.Queue), table)
	return n
}

// afterChunk returns st after a chunk of its first table: the key moves
// on, or the table is done.
func afterChunk(st *checkpoint.Snapshot, rows int64, last []string, final bool, why error) *checkpoint.Snapshot {
	n := *st
	n.Rows += rows
	if len(last) > 0 {
		n.After = last
	}
	if !final {
		return &n
	}
	d := checkpoint.SnapshotDone{Table: n.Queue[0], Rows: n.Rows, Finished: time.Now().UTC()}
	if why != nil {
		d.Error = why.Error()
	}
	n.Done = append(slices.Clip(n.Done), d)
	if len(n.Done) > 100 {
		n.Done = n.Done[len(n.Done)-100:]
	}
	n.Queue, n.After, n.Rows = n.Queue[1:], nil, 0
	if len(n.Queue) == 0 {
		n.Queue = nil
	}
	return &n
}

// signalRows acts on rows of the signal table: requests queue tables, and
// watermarks open and close a chunk's window. Nothing of it is emitted, and
// nothing takes effect before the transaction commits.
func (e *encoder) signalRows(it *binlog.Item) error {
	s := e.snaps
	if s.cfg.Ignore {
		return nil
	}
	names := make([]string, len(it.Table.Columns))
	for i := range it.Table.Columns {
		names[i] = it.Table.Columns[i].Name
	}
	step := 1
	if it.Type == event.Update {
		step = 2
	}
	for i := 0; i+step <= len(it.Rows); i += step {
		if it.Type == event.Delete {
			continue
		}
		sig, ok := snapshot.ReadSignal(names, it.Rows[i+step-1])
		if !ok || sig.Pipeline != s.pipeline && sig.Pipeline != "" {
			continue
		}
		switch sig.Kind {
		case snapshot.KindExecuteSnapshot:
			tables, err := snapshot.ExecuteSnapshot(sig.Data)
			if err != nil {
				e.p.log.Warn("snapshot signal ignored", "err", err.Error())
				continue
			}
			for _, t := range tables {
				e.stageSnap(withRequest(e.snapState(), t))
			}
		case snapshot.KindRequest:
			db, name, err := snapshot.SplitTable(sig.Data)
			if err != nil {
				e.p.log.Warn("snapshot request ignored", "err", err.Error())
				continue
			}
			if !e.p.filter.Table(db, name) {
				e.p.log.Warn("snapshot request ignored: the filter excludes the table", "table", sig.Data)
				continue
			}
			e.stageSnap(withRequest(e.snapState(), sig.Data))
		case snapshot.KindLow:
			s.mu.Lock()
			for _, w := range s.windows {
				if w.low == sig.Data {
					w.open = true
					e.win = w
				}
			}
			s.mu.Unlock()
		case snapshot.KindHigh:
			if w := e.win; w != nil && w.high == sig.Data {
				if err := e.closeWindow(w, it, it.IndexBase+i/step); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// lastSnapshotRow is the index in rows of the snapshot's last row, -1 when
// it is not in this chunk: the final chunk's last row that goes out, of the
// last table queued.
func (e *encoder) lastSnapshotRow(w *window, st *checkpoint.Snapshot, rows [][]any, shape *schema.Table, final bool) int {
	if !final || len(st.Queue) != 1 {
		return -1
	}
	for k := len(rows) - 1; k >= 0; k-- {
		key, err := e.keys.AppendKey(e.key[:0], &event.Row{Table: shape, Type: event.BootstrapInsert, After: rows[k]})
		e.key = key
		if err != nil {
			return -1 // the encoding loop reports it
		}
		if _, changed := w.keys[string(key)]; !changed {
			return k
		}
	}
	return -1
}

// snapState is the snapshot state as of the transaction being read.
func (e *encoder) snapState() *checkpoint.Snapshot {
	if e.snapStaged != nil {
		return e.snapStaged
	}
	return e.snapCommitted
}

func (e *encoder) stageSnap(st *checkpoint.Snapshot) { e.snapStaged = st }

// closeWindow ends a chunk at its high watermark: the chunk's rows that no
// binlog event inside the window changed go out as bootstrap-insert events
// at the watermark's place in the binlog.
func (e *encoder) closeWindow(w *window, it *binlog.Item, index int) error {
	s := e.snaps
	s.mu.Lock()
	shape, chunk, final, skip := w.shape, w.chunk, w.final, w.skip
	current := slices.Contains(s.windows, w)
	s.mu.Unlock()
	e.win = nil
	st := e.snapState()
	if !current || st.Idle() || st.Queue[0] != w.table || !w.open || w.changed || !slices.Equal(st.After, w.after) {
		// Read again: the schema changed inside the window, the low
		// watermark was never read, the reader gave this window up (its
		// high watermark's write seemed to fail) and reads the same chunk
		// again in a newer one, or the chunk was read ahead after one
		// that was not emitted.
		e.winResult = w
		e.winEmitted = false
		return nil
	}
	if skip == nil && !e.p.filter.Table(w.db, w.name) {
		skip = errFilteredOut // queued before the filter changed
	}
	if skip != nil {
		e.stageSnap(afterChunk(st, 0, nil, true, skip))
		e.winResult, e.winEmitted = w, true
		return nil
	}
	if v, ok := s.registry.At(w.db, w.name, it.Pos); ok {
		if v.Table != nil && snapshot.Compatible(v.Table, shape) {
			shape = v.Table // as the binlog shows it, version and all
		} else {
			c := *shape
			c.Version = v.Number
			shape = s.stableShape(&c)
		}
	} else {
		shape = s.stableShape(shape)
	}
	var emitted int64
	last := e.lastSnapshotRow(w, st, chunk.Rows, shape, final)
	for k, row := range chunk.Rows {
		r := event.Row{Table: shape, Type: event.BootstrapInsert, After: row, Pos: it.Pos, Index: index + 1 + k, Last: k == last}
		if err := e.p.filter.Row(&r); err != nil {
			return fmt.Errorf("snapshot %s: filter row %d: %w", w.table, k, err)
		}
		var err error
		if e.key, err = e.keys.AppendKey(e.key[:0], &r); err != nil {
			return fmt.Errorf("snapshot %s: key of row %d: %w", w.table, k, err)
		}
		if _, changed := w.keys[string(e.key)]; changed {
			continue // the binlog inside the window has this row, newer
		}
		e.noteKeyColumns(shape)
		start := len(e.txbuf.arena)
		out, split, err := e.format.AppendRow(e.txbuf.arena, &e.tx, &r)
		if err != nil {
			e.txbuf.arena = e.txbuf.arena[:start]
			return fmt.Errorf("snapshot %s: encode row %d: %w", w.table, k, err)
		}
		e.txbuf.arena = append(out, '\n')
		if err := e.txbuf.added(start, split, w.db, w.name, e.key, r.Pos, r.Index); err != nil {
			return err
		}
		if err := e.twinRow(&r, w.db, w.name, e.key); err != nil {
			return err
		}
		emitted++
	}
	e.stageSnap(afterChunk(st, emitted, chunk.Last, final, nil))
	e.winResult, e.winEmitted = w, true
	e.p.cfg.Metrics.snapshotChunk(emitted, int64(len(chunk.Rows))-emitted)
	return nil
}

// windowRows records the keys of rows of the snapshotted table that change
// inside the window: the chunk's copies of them are stale.
func (e *encoder) windowRows(it *binlog.Item, r *event.Row) error {
	w := e.win
	if w == nil || !w.open || it.Table.Name != w.name || it.Table.Database != w.db {
		return nil
	}
	w.keys[string(e.key)] = struct{}{}
	if r.Type == event.Update {
		// an update that moves the key: the old key's chunk row is stale too
		before := event.Row{Table: r.Table, Type: event.Delete, Before: r.Before}
		k, err := e.keys.AppendKey(nil, &before)
		if err != nil {
			return err
		}
		w.keys[string(k)] = struct{}{}
	}
	return nil
}

// windowDDL notes a schema change of the snapshotted table (or one sluice
// does not understand) inside the window: the chunk is read again.
func (e *encoder) windowDDL(d *event.DDL) {
	w := e.win
	if w == nil || !w.open {
		return
	}
	if d.Kind == schema.Unclassified || d.Database == w.db && (d.Table == w.name || d.Table == "") ||
		d.OldDatabase == w.db && d.OldTable == w.name {
		w.changed = true
	}
}

// commitSnap makes the transaction's snapshot changes take effect; abortSnap
// forgets them (the transaction is read again).
func (e *encoder) commitSnap() {
	if e.snaps == nil {
		return
	}
	if e.snapStaged != nil {
		e.snapCommitted, e.snapStaged = e.snapStaged, nil
		e.snaps.publish(e.snapCommitted)
	}
	if w := e.winResult; w != nil {
		e.winResult = nil
		w.done <- e.winEmitted
	}
}

func (e *encoder) abortSnap() {
	if e.snaps == nil {
		return
	}
	e.snapStaged = nil
	if e.winResult != nil {
		// the high watermark's transaction is read again: so is its window's end
		e.win, e.winResult = e.winResult, nil
	}
}

// snapshotIdle reports whether no snapshot is queued or running.
func (e *encoder) snapshotIdle() bool {
	return e.snaps == nil || e.snaps.cfg.Ignore || e.snapCommitted.Idle()
}

// readChunks reads chunks of the queued tables between watermarks until
// ctx is done. Errors of the source are retried; a table that cannot be
// snapshotted is dropped from the queue with the reason.
func (p *Pipeline) readChunks(ctx context.Context, s *snapshots, mariaDB bool) error {
	var conn *client.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	failing := 0
	var table string
	var estimate int64
	var lastLog time.Time
	// ahead is the next chunk, read while the encoder emitted the last.
	var ahead *window
	defer func() { s.drop(ahead) }()
	for {
		st := s.current()
		if ahead != nil && (st.Idle() || ahead.table != st.Queue[0] || !slices.Equal(ahead.after, st.After)) {
			s.drop(ahead)
			ahead = nil
		}
		if st.Idle() {
			if conn != nil {
				_ = conn.Close()
				conn = nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-s.wake:
				continue
			}
		}
		var err error
		if conn == nil {
			conn, err = p.snapshotConn(ctx, s)
		}
		if err == nil && table != st.Queue[0] {
			table = st.Queue[0]
			db, name, _ := snapshot.SplitTable(table)
			estimate, _ = snapshot.EstimateRows(conn, db, name)
			p.cfg.Metrics.snapshotTable(table, estimate)
			p.log.Info("snapshot: reading table", "table", table, "estimated_rows", estimate, "resume_after", st.After, "rows_so_far", st.Rows)
		}
		var emitted bool
		if err == nil {
			emitted, ahead, err = p.chunk(ctx, conn, s, st, mariaDB, ahead)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if conn != nil {
				_ = conn.Close()
				conn = nil
			}
			if errors.Is(err, ErrWindowTimeout) || errors.Is(err, snapshot.ErrNotLogged) {
				return fmt.Errorf("snapshot of %s: %w", st.Queue[0], err)
			}
			if snapshot.Refused(err) {
				return fmt.Errorf("snapshot of %s: %w (the sluice user needs SELECT on the table and CREATE, INSERT and UPDATE on %s, on a writable primary)", st.Queue[0], err, s.signal)
			}
			if failing++; failing == 1 || failing%30 == 0 {
				p.log.Warn("snapshot: chunk not read; retrying", "table", st.Queue[0], "failures", failing, "err", err.Error())
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(min(time.Duration(failing)*200*time.Millisecond, 5*time.Second)):
			}
			continue
		}
		failing = 0
		if !emitted {
			continue // the schema changed inside the window: read it again
		}
		now := s.current()
		if len(now.Done) > 0 && (now.Idle() || now.Queue[0] != table) {
			d := now.Done[len(now.Done)-1]
			if d.Error != "" {
				p.log.Error("snapshot: table skipped", "table", d.Table, "err", d.Error)
			} else {
				p.log.Info("snapshot: table done", "table", d.Table, "rows", d.Rows)
			}
			table = ""
		} else if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			p.log.Info("snapshot: progress", "table", table, "rows", now.Rows, "estimated_rows", estimate)
		}
	}
}

func (p *Pipeline) snapshotConn(ctx context.Context, s *snapshots) (*client.Conn, error) {
	conn, err := binlog.Connect(ctx, &p.cfg.Source)
	if err != nil {
		return nil, err
	}
	if err := s.signal.Ensure(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := s.signal.CheckLogged(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := snapshot.PrepareSession(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// chunk reads one chunk of st's first table between a low and a high
// watermark (or takes ahead, that chunk already read) and waits for the
// encoder to pass the high one. While the encoder emits it, chunk opens
// the next chunk's window and reads its rows: it returns that window for
// the next call, with whether this chunk was emitted (false: read it
// again).
func (p *Pipeline) chunk(ctx context.Context, conn *client.Conn, s *snapshots, st *checkpoint.Snapshot, mariaDB bool, ahead *window) (emitted bool, next *window, err error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	w := ahead
	if w == nil {
		if w, err = p.readWindow(conn, s, st.Queue[0], st.After, mariaDB); err != nil {
			return false, nil, err
		}
	}
	defer s.drop(w)
	if err := s.signal.Watermark(conn, s.pipeline, snapshot.KindHigh, w.high); err != nil {
		return false, nil, err
	}
	if !w.final {
		// Read the next chunk while the encoder emits this one. Its high
		// watermark is written only once this one is emitted; if it is
		// not, or the read fails, the next call starts afresh.
		next, err = p.readWindow(conn, s, w.table, w.chunk.Last, mariaDB)
		if err != nil {
			p.log.Debug("snapshot: reading ahead failed; the next chunk is read again", "table", w.table, "err", err.Error())
			next = nil
		}
	}
	_ = conn.SetDeadline(time.Time{})
	timeout := time.NewTimer(s.cfg.windowTimeout())
	defer timeout.Stop()
	select {
	case emitted = <-w.done:
	case <-ctx.Done():
		s.drop(next)
		return false, nil, ctx.Err()
	case <-timeout.C:
		// Given up (the deferred drop): the encoder never emits it.
		s.drop(next)
		return false, nil, fmt.Errorf("%w within %v of writing them to %s: the binlog sluice reads does not log that table's database "+
			"(binlog_do_db or binlog_ignore_db on the server, or replication filters upstream) or sluice is that far behind; "+
			"log the signal table's database, or pick another with snapshot.signal_table", ErrWindowTimeout, s.cfg.windowTimeout(), s.signal)
	}
	if !emitted {
		s.drop(next)
		next = nil
	}
	return emitted, next, nil
}

// readWindow opens a window on the chunk of table after the key after:
// it writes the low watermark and reads the chunk. The window stays in
// s.windows until dropped.
func (p *Pipeline) readWindow(conn *client.Conn, s *snapshots, table string, after []string, mariaDB bool) (*window, error) {
	db, name, err := snapshot.SplitTable(table)
	w := &window{table: table, db: db, name: name, low: uuid.NewString(), high: uuid.NewString(),
		after: after, keys: map[string]struct{}{}, done: make(chan bool, 1)}
	if err != nil {
		w.skip = err
	}
	s.mu.Lock()
	s.windows = append(s.windows, w)
	s.mu.Unlock()
	if err := s.signal.Watermark(conn, s.pipeline, snapshot.KindLow, w.low); err != nil {
		s.drop(w)
		return nil, err
	}
	var shape *schema.Table
	var chunk *snapshot.Chunk
	if w.skip == nil {
		shape, err = snapshot.ReadShape(conn, db, name, mariaDB)
		if err == nil {
			chunk, err = snapshot.ReadChunk(conn, shape, after, s.cfg.ChunkSize)
		}
		if err != nil && !snapshot.TableProblem(err) {
			s.drop(w)
			return nil, err // the connection or the server's state: try again
		}
		w.skip = err // the table's own problem: no such table, no key, a type
	}
	s.mu.Lock()
	w.shape, w.chunk = shape, chunk
	w.final = w.skip != nil || len(chunk.Rows) < s.cfg.ChunkSize
	s.mu.Unlock()
	return w, nil
}

// drop gives a window up: the encoder no longer emits it.
func (s *snapshots) drop(w *window) {
	if w == nil {
		return
	}
	s.mu.Lock()
	s.windows = slices.DeleteFunc(s.windows, func(x *window) bool { return x == w })
	s.mu.Unlock()
}

// initialSnapshot is the snapshot state a pipeline without a checkpoint
// starts with: the configured tables queued, each checked to exist and
// have a primary key.
func (p *Pipeline) initialSnapshot(ctx context.Context, srv *binlog.Server) (*checkpoint.Snapshot, error) {
	c := &p.cfg.Snapshot
	if c.Ignore || len(c.Initial) == 0 && !c.InitialAll {
		return nil, nil
	}
	conn, err := binlog.Connect(ctx, &p.cfg.Source)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	tables := c.Initial
	if c.InitialAll {
		// sluice's own tables are left out, not their databases
		skip := []string{c.SignalTable}
		if p.cfg.HeartbeatTable != "" {
			skip = append(skip, p.cfg.HeartbeatTable)
		}
		var noKey []string
		if tables, noKey, err = snapshot.ListTables(conn, skip...); err != nil {
			return nil, err
		}
		for _, t := range noKey {
			if db, name, _ := snapshot.SplitTable(t); p.filter.Table(db, name) {
				p.log.Warn("snapshot: table left out: it has no primary key", "table", t)
			}
		}
		tables = slices.DeleteFunc(tables, func(t string) bool {
			db, name, _ := snapshot.SplitTable(t)
			return !p.filter.Table(db, name)
		})
	} else {
		tables = nil
		for _, t := range c.Initial {
			db, name, _ := snapshot.SplitTable(t)
			if !p.filter.Table(db, name) {
				return nil, &SnapshotError{Err: fmt.Errorf("snapshot.tables names %s, which the filter excludes: remove it from snapshot.tables or from filter.exclude", t)}
			}
			shape, err := snapshot.ReadShape(conn, db, name, srv.Flavor == mysql.MariaDBFlavor)
			if err != nil {
				return nil, &SnapshotError{Err: fmt.Errorf("snapshot.tables: %w", err)}
			}
			// the server's spelling, as the binlog names the table
			tables = append(tables, shape.QualifiedName())
		}
	}
	if len(tables) == 0 {
		return nil, nil
	}
	p.log.Info("snapshot: queued for the initial snapshot", "tables", len(tables))
	return &checkpoint.Snapshot{Queue: slices.Clone(tables)}, nil
}

// errFilteredOut: a queued table the filter excludes is not read.
var errFilteredOut = errors.New("the filter excludes the table")

// SnapshotError is a table named for a snapshot that cannot be
// snapshotted; the message says why.
type SnapshotError struct{ Err error }

func (e *SnapshotError) Error() string { return e.Err.Error() }
func (e *SnapshotError) Unwrap() error { return e.Err }
