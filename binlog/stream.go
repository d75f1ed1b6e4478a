// Package binlog reads a MySQL or MariaDB binlog as a replica: preflight
// checks, the replication connection, and turning binlog events into a
// stream of transactions with decoded rows.
package binlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

// Config says how to reach the source as a replica.
type Config struct {
	Host     string
	Port     uint16
	User     string
	Password string
	// PasswordFile, when set, holds the password; it is read again for
	// every connection, so a rotated password takes effect at the next
	// reconnect.
	PasswordFile string
	// Auth is password (default) or iam; with iam, Passwords makes the
	// token.
	Auth Auth
	// Passwords, when set, gives the password of every new connection
	// instead of Password and PasswordFile (an IAM token maker).
	Passwords PasswordFunc
	// TLS says how connections are encrypted and what is verified.
	TLS TLSConfig
	// Hosts, when set, are the servers tried in order at every
	// (re)connect instead of Host: a promoted replica needs no change.
	Hosts []string
	// Resume says how a stream resumes on a server: by position, by
	// GTID set, or (auto) by position on the server the checkpoint was
	// taken on and by GTID set on any other.
	Resume Resume
	// ServerID is the id sluice registers with; it must differ from every
	// other replica of the source. 0 picks a random one per connection.
	ServerID uint32
	// HeartbeatPeriod asks the source to send a heartbeat when idle, so a
	// dead connection is noticed after ReadTimeout.
	HeartbeatPeriod time.Duration
	ReadTimeout     time.Duration
	DialTimeout     time.Duration
	// RetryTimeout is how long reconnecting may fail in a row before the
	// stream gives up.
	RetryTimeout time.Duration
	// RowQuery asks a MariaDB source for its annotate rows events, so rows
	// carry the statement that wrote them (MySQL sends rows query events
	// whenever binlog_rows_query_log_events is on).
	RowQuery bool
	Logger   *slog.Logger

	tlsBase *tls.Config // TLS.Load's result, shared by copies of the Config
}

// DefaultConfig returns a config for a local server with sensible timeouts.
func DefaultConfig() Config {
	return Config{
		Host:            "127.0.0.1",
		Port:            3306,
		User:            "root",
		TLS:             TLSConfig{Mode: TLSPreferred},
		Resume:          ResumeAuto,
		HeartbeatPeriod: 2 * time.Second,
		ReadTimeout:     10 * time.Second,
		DialTimeout:     10 * time.Second,
		RetryTimeout:    5 * time.Minute,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("source.host is empty")
	case c.Port == 0:
		return errors.New("source.port is 0")
	case c.User == "":
		return errors.New("source.user is empty")
	case c.HeartbeatPeriod <= 0:
		return errors.New("source heartbeat period must be positive")
	case c.ReadTimeout <= c.HeartbeatPeriod:
		return fmt.Errorf("source read timeout (%s) must exceed the heartbeat period (%s)", c.ReadTimeout, c.HeartbeatPeriod)
	}
	if err := c.Resume.validate(); err != nil {
		return err
	}
	return c.validateCredentials()
}

// Addr is host:port.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// ItemKind says what an Item carries.
type ItemKind uint8

const (
	// ItemBegin starts a transaction; Tx is set.
	ItemBegin ItemKind = iota + 1
	// ItemRows carries the rows of one rows event; Table, Type, Rows, Pos are set.
	ItemRows
	// ItemQuery is a schema change logged as a statement; Schema, Query,
	// DDLs and Pos are set, and Tx.Thread is the statement's client thread.
	ItemQuery
	// ItemCommit ends a transaction; Commit is set.
	ItemCommit
	// ItemAbort drops the open transaction: the connection broke inside it
	// and the stream resumes before its start, or the server logged it
	// ending in ROLLBACK (an ItemProgress past it follows).
	ItemAbort
	// ItemProgress moves the read position outside any transaction
	// (rotation, bookkeeping events); Pos is set.
	ItemProgress
	// ItemHeartbeat says the server had nothing more to send: everything
	// committed before At has been streamed. At is this host's clock.
	ItemHeartbeat
)

// Item is one step of the stream.
type Item struct {
	Kind  ItemKind
	Tx    event.Tx
	Table *schema.Table
	Type  event.Type
	// Rows are go-mysql's decoded rows; for updates they alternate
	// before-image, after-image.
	Rows [][]any
	// IndexBase numbers the first row (rows events inside one compressed
	// transaction payload share a position).
	IndexBase int
	Pos       event.Position
	Commit    event.Commit
	Schema    string
	Query     string
	DDLs      []event.DDL
	// RowQuery is the statement that wrote an ItemRows' rows, when the
	// binlog carries it.
	RowQuery string
	// Timestamp is the event header's time, seconds.
	Timestamp uint32
	// At is when a heartbeat arrived.
	At time.Time
	// Held, on ItemCommit and ItemProgress, says an XA transaction prepared
	// earlier still waits for its XA COMMIT: the stream must be read again
	// from before its prepare after a restart, so this boundary must not be
	// checkpointed (the last one without Held is).
	Held bool
	// TxGTID is a begun transaction's GTID, for an ExecutedSet; on an
	// ItemProgress, the GTID of a transaction that emitted nothing (rolled
	// back, or an XA PREPARE whose rows wait for XA COMMIT) but counts as
	// executed all the same.
	TxGTID GTID
	// ExecutedSeed, on a commit or progress item, is the executed GTID
	// set the stream just learnt (at the start of a binlog file, when it
	// started without one), before that item's transaction: the consumer
	// starts its own ExecutedSet from it. ServerID, on a begin, commit or
	// progress item, when not 0, is the server the stream reads since a
	// reconnect went to another one.
	ExecutedSeed string
	ServerID     uint32
}

// HaltError is an error that reconnecting cannot fix.
type HaltError struct{ Err error }

func (e *HaltError) Error() string { return e.Err.Error() }
func (e *HaltError) Unwrap() error { return e.Err }

// Streamer reads the binlog from a position and sends Items.
type Streamer struct {
	cfg      Config
	flavor   string
	registry *schema.Registry
	log      *slog.Logger
	// startGTID, when set, starts the stream after these transactions
	// until the first commit gives it a position to resume from.
	startGTID mysql.GTIDSet
	// serverID is the server the start position belongs to, executed the
	// GTID set at it (see SetSource).
	serverID uint32
	executed *ExecutedSet
}

// StartAfterGTID makes Run start after the transactions of a GTID set
// (MariaDB "0-1-42", MySQL "uuid:1-42") instead of at a position.
func (s *Streamer) StartAfterGTID(set string) error {
	g, err := mysql.ParseGTIDSet(s.flavor, set)
	if err != nil {
		return fmt.Errorf("GTID set %q for %s: %w", set, s.flavor, err)
	}
	s.startGTID = g
	return nil
}

// NewStreamer returns a streamer for a server of the given flavor (from
// Preflight). Table shapes are recorded in registry.
func NewStreamer(cfg Config, flavor string, registry *schema.Registry) *Streamer {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Streamer{cfg: cfg, flavor: flavor, registry: registry, log: log}
}

// Run streams from `from`, which must be a transaction boundary, sending
// items to out until ctx is done or an error cannot be retried. After a
// broken connection it reconnects from the last commit, sending ItemAbort
// first if a transaction was open, so no transaction is ever delivered in
// part or twice.
func (s *Streamer) Run(ctx context.Context, from event.Position, out chan<- Item) error {
	h := &handler{s: s, ctx: ctx, out: out, pos: from, committed: from, tables: make(map[uint64]*schema.Table), prepared: make(map[string]*heldTx)}
	if s.executed != nil {
		h.executed = s.executed.Clone()
	}
	backoff := 100 * time.Millisecond
	var failingSince time.Time
	for {
		progressed, err := s.session(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var halt *HaltError
		var pe *PreflightError
		if errors.As(err, &halt) || errors.As(err, &pe) || !retryable(err) {
			return fmt.Errorf("read binlog at %s: %w", h.pos, err)
		}
		if progressed {
			backoff, failingSince = 100*time.Millisecond, time.Time{}
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > s.cfg.RetryTimeout {
			return fmt.Errorf("read binlog at %s: giving up after %s of failures: %w", h.committed, s.cfg.RetryTimeout, err)
		}
		if h.inTx && h.hold == nil {
			if err := h.send(Item{Kind: ItemAbort}); err != nil {
				return err
			}
		}
		h.inTx, h.hold, h.standalone = false, nil, false
		h.pos = h.committed
		s.log.Warn("binlog connection lost; reconnecting", "from", h.committed.String(), "in", backoff, "err", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// syncerConfig is how sluice configures go-mysql's BinlogSyncer: rows
// decoded with these options (by sluice's rowDecoder, which gives go-mysql's
// values), events handed to h on the reading goroutine.
func syncerConfig(cfg *Config, flavor string, serverID uint32, h replication.EventHandler, log *slog.Logger) replication.BinlogSyncerConfig {
	return replication.BinlogSyncerConfig{
		ServerID:                serverID,
		Flavor:                  flavor,
		Host:                    cfg.Host,
		Port:                    cfg.Port,
		User:                    cfg.User,
		Password:                cfg.Password,
		Charset:                 "utf8mb4",
		TimestampStringLocation: time.UTC,
		// MySQL JSON columns as MySQL prints them: decimals inside JSON
		// as numbers, dates as dates, keys in MySQL's order.
		RenderJSONAsMySQLText:   true,
		HeartbeatPeriod:         cfg.HeartbeatPeriod,
		ReadTimeout:             cfg.ReadTimeout,
		DisableRetrySync:        true,
		DiscardGTIDSet:          true,
		Logger:                  log,
		SynchronousEventHandler: h,
		Dialer:                  (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		RowsEventDecodeFunc:     newRowDecoder().decode,
	}
}

// session runs one replication connection until it fails.
func (s *Streamer) session(ctx context.Context, h *handler) (progressed bool, err error) {
	serverID := s.cfg.ServerID
	if serverID == 0 {
		serverID = 1_000_000 + rand.Uint32N(1<<30)
	}
	h.events = 0
	h.halt = nil
	t, err := s.pick(ctx)
	if err != nil {
		return false, err
	}
	gset, err := s.startSet(t, h)
	if err != nil {
		return false, err
	}
	host, port, err := splitAddr(t.addr)
	if err != nil {
		return false, err
	}
	password, err := s.cfg.password(ctx, t.addr)
	if err != nil {
		return false, err
	}
	dialer, authenticated := guardedDialer(&net.Dialer{Timeout: s.cfg.DialTimeout})
	sc := syncerConfig(&s.cfg, s.flavor, serverID, h, slog.New(quietHandler{s.log.Handler()}).With("component", "go-mysql"))
	sc.Host, sc.Port, sc.Password, sc.TLSConfig = host, port, password, t.tls
	sc.Dialer, sc.DumpCommandFlag = dialer, s.dumpFlags()
	syncer := replication.NewBinlogSyncer(sc)
	var st *replication.BinlogStreamer

	if gset != nil {
		// No position on this server yet: start (again) after the GTID
		// set. The fake rotation the server sends first names the file.
		if t.serverID != s.serverID && s.serverID != 0 {
			s.log.Warn("the source is another server: resuming after the executed GTID set", "addr", t.addr, "server_id", t.serverID, "was", s.serverID, "gtids", gset.String())
		}
		s.serverID = t.serverID
		h.serverID = t.serverID
		h.gtidStart = true
		st, err = syncer.StartSyncGTID(gset)
	} else {
		st, err = syncer.StartSync(mysql.Position{Name: h.pos.File, Pos: uint32(h.pos.Offset)})
	}
	authenticated() // the replication connection is logged in: what follows is the binlog
	if err != nil {
		syncer.Close()
		return false, fmt.Errorf("start replication on %s: %w", t.addr, s.cfg.TLS.classifyConnectError(t.addr, t.tls != nil, err))
	}
	// With a synchronous handler, GetEvent only ever returns the error that
	// ended the stream (or ctx's).
	_, err = st.GetEvent(ctx)
	// Close waits for go-mysql's reading goroutine, which runs the handler:
	// only then may h be read here.
	syncer.Close()
	if h.halt != nil {
		err = h.halt
	}
	return h.events > 0, err
}

// stmtEndFlag marks a statement's last rows event (STMT_END_F).
const stmtEndFlag = 0x0001

// dumpFlags are the binlog dump command's flags: MariaDB sends annotate
// rows events only when asked.
func (s *Streamer) dumpFlags() uint16 {
	if s.cfg.RowQuery && s.flavor == mysql.MariaDBFlavor {
		return replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	return 0
}

func retryable(err error) bool {
	if err == nil {
		return true
	}
	var me *mysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, mysql.ER_ACCESS_DENIED_ERROR, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
			mysql.ER_DBACCESS_DENIED_ERROR:
			return false
		}
		return true
	}
	// go-mysql loses the cause of errors in its own wrapping; what is not a
	// server error is a connection or protocol problem, worth a retry
	// within RetryTimeout.
	return true
}

// handler turns binlog events into Items. It runs on go-mysql's reading
// goroutine.
type handler struct {
	s   *Streamer
	ctx context.Context
	out chan<- Item

	pos       event.Position // after the last event seen
	committed event.Position // after the last transaction boundary
	inTx      bool
	// standalone: the open transaction is one statement with no COMMIT
	// after it (a schema change): that statement ends it.
	standalone bool
	// hold, while an XA transaction's body is read, collects its items:
	// they go out when XA COMMIT is read, maybe after other transactions.
	hold *heldTx
	// prepared are the XA transactions prepared and neither committed nor
	// rolled back yet, by xid.
	prepared  map[string]*heldTx
	gtid      string // GTID announced for the next transaction (MySQL)
	rowQuery  string // the statement of the rows events that follow
	tables    map[uint64]*schema.Table
	indexBase int
	events    int
	gtidStart bool // streaming from a GTID set, no commit seen yet
	halt      error
	// executed is the executed GTID set at committed (nil: not known),
	// seed the set when it was just learnt, txID the open transaction's
	// GTID and nextID the one announced for the next (MySQL).
	executed     *ExecutedSet
	seed         string
	txID, nextID GTID
	serverID     uint32 // the server read now, when it changed during Run

	// cur is the position of the event being handled, curThread the
	// client thread a query event names (0 for other events): what
	// send stamps on a transaction's start and on a schema change.
	cur       event.Position
	curThread uint32
}

func (h *handler) send(it Item) error {
	switch it.Kind {
	case ItemBegin:
		it.Tx.Thread, it.Tx.Begin = h.curThread, h.cur
	case ItemQuery:
		it.Tx.Thread = h.curThread
	}
	select {
	case h.out <- it:
		return nil
	case <-h.ctx.Done():
		return h.ctx.Err()
	}
}

// heldTx is the body of an XA transaction.
type heldTx struct {
	tx    event.Tx
	gtid  GTID // of the XA START ... XA PREPARE part
	items []Item
}

// emit sends an item of the open transaction, or holds it if the
// transaction is an XA one.
func (h *handler) emit(it Item) error {
	if h.hold != nil {
		h.hold.items = append(h.hold.items, it)
		return nil
	}
	return h.send(it)
}

func (h *handler) fail(err error) error {
	h.halt = &HaltError{Err: err}
	return h.halt
}

// threadOf is the client thread a query event names, 0 for other events.
func threadOf(ev replication.Event) uint32 {
	if q, ok := ev.(*replication.QueryEvent); ok {
		return q.SlaveProxyID
	}
	return 0
}

// HandleEvent implements replication.EventHandler.
func (h *handler) HandleEvent(e *replication.BinlogEvent) error {
	h.events++
	if rot, ok := e.Event.(*replication.RotateEvent); ok {
		h.pos = event.Position{File: string(rot.NextLogName), Offset: rot.Position}
		if h.gtidStart {
			// Started from a GTID set: the server's first rotation names
			// the file but not where in it we are; the first commit does.
			return nil
		}
		if !h.inTx {
			h.committed = h.pos
			return h.send(h.progress(e.Header.Timestamp))
		}
		return nil
	}
	start := h.pos
	// Within a file positions only grow; artificial and bookkeeping events
	// sent on connect may carry older ones, which must not move us back.
	if end := uint64(e.Header.LogPos); end > h.pos.Offset {
		start.Offset = end - uint64(e.Header.EventSize)
		h.pos.Offset = end
	}
	return h.handle(e.Header, e.Event, start)
}

func (h *handler) handle(hdr *replication.EventHeader, ev replication.Event, start event.Position) error {
	h.trackGTIDs(hdr, ev)
	h.cur, h.curThread = start, threadOf(ev)
	switch ev := ev.(type) {
	case *replication.MariadbGTIDEvent:
		g := ev.GTID
		h.nextID = GTID{MariaDB: &g}
		if ev.Flags&mariadbFlPreparedXA != 0 {
			// XA START ... XA END, XA PREPARE: held until XA COMMIT.
			h.beginHeld(ev.GTID.String(), hdr)
			return nil
		}
		h.standalone = ev.IsStandalone()
		return h.begin(ev.GTID.String(), hdr)
	case *replication.GTIDEvent:
		u, err := uuid.FromBytes(ev.SID)
		if err == nil {
			h.gtid = u.String() + ":" + strconv.FormatInt(ev.GNO, 10)
			h.nextID = GTID{SID: u, GNO: ev.GNO}
		}
		return nil
	case *replication.QueryEvent:
		return h.query(hdr, ev, start)
	case *replication.TableMapEvent:
		t, err := schema.FromTableMap(ev)
		if err != nil {
			return h.fail(fmt.Errorf("table map at %s: %w", start, err))
		}
		h.tables[ev.TableID] = h.s.registry.Observe(t, start)
		return h.saveRegistry(start)
	case *replication.RowsEvent:
		t := h.tables[ev.TableID]
		if t == nil {
			return h.fail(fmt.Errorf("rows event at %s for table id %d without a preceding table map", start, ev.TableID))
		}
		var typ event.Type
		switch ev.Type() {
		case replication.EnumRowsEventTypeInsert:
			typ = event.Insert
		case replication.EnumRowsEventTypeUpdate:
			typ = event.Update
		case replication.EnumRowsEventTypeDelete:
			typ = event.Delete
		case replication.EnumRowsEventTypeUnknown:
			if hdr.EventType != replication.PARTIAL_UPDATE_ROWS_EVENT {
				return h.fail(fmt.Errorf("rows event at %s of unknown kind %d", start, hdr.EventType))
			}
			typ = event.Update // MySQL 8 with binlog_row_value_options=PARTIAL_JSON
		default:
			return h.fail(fmt.Errorf("rows event at %s of unknown kind %d", start, hdr.EventType))
		}
		if err := fullImages(ev, t, typ == event.Update); err != nil {
			return h.fail(fmt.Errorf("rows event at %s: %w", start, err))
		}
		if !h.inTx {
			if err := h.begin(h.takeGTID(), hdr); err != nil {
				return err
			}
		}
		q := h.rowQuery
		if ev.Flags&stmtEndFlag != 0 {
			h.rowQuery = "" // the statement's last rows event: the next has its own
		}
		return h.emit(Item{Kind: ItemRows, Table: t, Type: typ, Rows: ev.Rows, IndexBase: h.indexBase, Pos: start, Timestamp: hdr.Timestamp, RowQuery: q})
	case *replication.MariadbAnnotateRowsEvent:
		h.rowQuery = string(ev.Query)
		return nil
	case *replication.RowsQueryEvent:
		h.rowQuery = string(ev.Query)
		return nil
	case *replication.XIDEvent:
		return h.commit(ev.XID, hdr)
	case *replication.GenericEvent:
		if hdr.EventType == replication.XA_PREPARE_LOG_EVENT {
			return h.xaPrepared(hdr, ev.Data, start)
		}
	case *replication.HeartbeatEvent:
		if !h.inTx {
			return h.send(Item{Kind: ItemHeartbeat, Pos: h.pos, At: time.Now()})
		}
		return nil
	case *replication.TransactionPayloadEvent:
		// The rows events inside share the payload's position; number their
		// rows on from each other so dedupe keys stay unique and stable.
		base := 0
		for _, inner := range ev.Events {
			if rows, ok := inner.Event.(*replication.RowsEvent); ok {
				h.indexBase = base
				base += len(rows.Rows)
			}
			if err := h.handle(inner.Header, inner.Event, start); err != nil {
				return err
			}
		}
		h.indexBase = 0
		return nil
	}
	if !h.inTx && !h.gtidStart && h.pos.Compare(h.committed) > 0 {
		h.committed = h.pos
		return h.send(h.progress(hdr.Timestamp))
	}
	return nil
}

// ddl classifies a statement and records the schema changes it makes.
func (h *handler) ddl(defaultDB, sql string, pos event.Position) []event.DDL {
	changes := schema.ClassifyDDL(defaultDB, sql)
	out := make([]event.DDL, 0, len(changes))
	for i := range changes {
		d := &changes[i]
		if d.Kind == schema.Unclassified {
			h.s.log.Warn("statement not understood; emitted with its SQL, tables it touched get a new version at their next TABLE_MAP", "pos", pos.String(), "sql", sql)
		}
		v := h.s.registry.ApplyDDL(d, sql, pos)
		var meta *schema.TableMeta
		if d.Table != "" && d.Kind != schema.TableDrop {
			meta = h.s.registry.MetaAfter(d.Database, d.Table, pos)
		}
		out = append(out, event.DDL{DDL: *d, SQL: sql, Pos: pos, Index: i, SchemaVersion: v, Meta: meta})
	}
	return out
}

// saveRegistry persists new table versions before any event that uses
// them goes out. While the registry's store is unavailable the stream
// waits and retries.
func (h *handler) saveRegistry(pos event.Position) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := h.s.registry.SaveContext(h.ctx)
		if err == nil {
			return nil
		}
		if h.ctx.Err() != nil {
			return h.ctx.Err()
		}
		if attempt == 1 || attempt%10 == 0 {
			h.s.log.Warn("schema registry not saved; the stream waits and retries", "pos", pos.String(), "attempt", attempt, "err", err.Error())
		}
		select {
		case <-h.ctx.Done():
			return h.ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (h *handler) takeGTID() string {
	g := h.gtid
	h.gtid = ""
	return g
}

func (h *handler) begin(gtid string, hdr *replication.EventHeader) error {
	h.inTx = true
	h.rowQuery = ""
	h.hold = nil
	h.txID, h.nextID = h.nextID, GTID{}
	return h.send(Item{Kind: ItemBegin, Tx: event.Tx{ServerID: hdr.ServerID, GTID: gtid}, TxGTID: h.txID, Timestamp: hdr.Timestamp, ServerID: h.serverID})
}

// beginHeld starts an XA transaction: nothing of it goes out before its
// XA COMMIT.
func (h *handler) beginHeld(gtid string, hdr *replication.EventHeader) {
	h.inTx, h.standalone = true, false
	h.hold = &heldTx{tx: event.Tx{ServerID: hdr.ServerID, GTID: gtid}, gtid: h.nextID}
	h.nextID = GTID{}
}

func (h *handler) commit(xid uint64, hdr *replication.EventHeader) error {
	if h.hold != nil {
		// XA COMMIT ... ONE PHASE as MariaDB would log it; MySQL logs an
		// XA_PREPARE with one_phase set instead.
		held := h.hold
		h.hold = nil
		if err := h.sendHeld(held, hdr); err != nil {
			return err
		}
	}
	h.inTx, h.standalone = false, false
	h.gtidStart = false
	h.committed = h.pos
	h.committedGTID()
	return h.send(Item{Kind: ItemCommit, Commit: event.Commit{Timestamp: hdr.Timestamp, Xid: xid, Pos: h.pos}, Pos: h.pos, Timestamp: hdr.Timestamp,
		ExecutedSeed: h.takeSeed(), ServerID: h.serverID, Held: len(h.prepared) > 0})
}

// quietHandler logs go-mysql's errors as warnings and its chatter as debug:
// the streamer handles every error go-mysql reports and logs the ones that
// matter itself.
type quietHandler struct{ slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return q.Handler.Enabled(ctx, quietLevel(l))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = quietLevel(r.Level)
	return q.Handler.Handle(ctx, r)
}

func quietLevel(l slog.Level) slog.Level {
	switch {
	case l > slog.LevelWarn:
		return slog.LevelWarn
	case l == slog.LevelInfo:
		return slog.LevelDebug
	}
	return l
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.Handler.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.Handler.WithGroup(name)}
}

// silentLogger drops go-mysql's chatter for short-lived connections.
func silentLogger() *slog.Logger {
	return slog.New(quietHandler{slog.DiscardHandler})
}

// mariadbFlPreparedXA is MariaDB's GTID event flag for the first part of an
// XA transaction (XA START ... XA PREPARE); FL_COMPLETED_XA (128) marks its
// XA COMMIT or XA ROLLBACK.
const mariadbFlPreparedXA = 64

// query handles a statement logged as a query event.
func (h *handler) query(hdr *replication.EventHeader, ev *replication.QueryEvent, start event.Position) error {
	q := string(ev.Query)
	kind, xid := classifyTxStmt(q)
	switch kind {
	case stmtBegin:
		if h.inTx {
			return nil // MariaDB: the GTID event began it
		}
		return h.begin(h.takeGTID(), hdr)
	case stmtCommit:
		return h.commit(0, hdr)
	case stmtRollback:
		return h.rollback(hdr)
	case stmtSavepoint, stmtXAEnd:
		if h.inTx {
			return nil
		}
	case stmtXAStart:
		if !h.inTx || h.hold == nil {
			// MySQL logs XA START as a statement after the GTID event.
			h.beginHeld(h.takeGTID(), hdr)
		}
		return nil
	case stmtXACommit:
		held, ok := h.prepared[xid]
		delete(h.prepared, xid)
		if !h.inTx || h.hold != nil {
			if err := h.begin(h.takeGTID(), hdr); err != nil {
				return err
			}
		}
		if !ok {
			h.s.log.Warn("XA COMMIT of a transaction prepared before the stream's start: its rows were not read", "pos", start.String(), "xid", xid)
		} else {
			for _, it := range held.items {
				if err := h.send(it); err != nil {
					return err
				}
			}
		}
		return h.commit(0, hdr)
	case stmtXARollback:
		delete(h.prepared, xid)
		return h.rollback(hdr)
	}
	explicit := h.inTx && !h.standalone
	if !h.inTx {
		if err := h.begin(h.takeGTID(), hdr); err != nil {
			return err
		}
	}
	if ddls := h.ddl(string(ev.Schema), q, start); len(ddls) > 0 {
		if err := h.emit(Item{Kind: ItemQuery, Schema: string(ev.Schema), Query: q, DDLs: ddls, Pos: start, Timestamp: hdr.Timestamp}); err != nil {
			return err
		}
	}
	if err := h.saveRegistry(start); err != nil {
		return err
	}
	if explicit {
		// A statement logged in statement format inside BEGIN ... COMMIT:
		// the transaction goes on.
		return nil
	}
	return h.commit(0, hdr)
}

// rollback ends the open transaction without its rows.
func (h *handler) rollback(hdr *replication.EventHeader) error {
	wasOpen := h.inTx && h.hold == nil
	// The transaction (or the XA ROLLBACK statement) took a GTID all the
	// same: the executed set has it.
	done := h.txID
	switch {
	case h.hold != nil:
		done = h.hold.gtid // a rollback inside XA START ... XA PREPARE
	case !wasOpen:
		done = h.nextID // XA ROLLBACK
	}
	h.txID, h.nextID = GTID{}, GTID{}
	h.inTx, h.standalone, h.hold = false, false, nil
	h.gtidStart = false
	h.committed = h.pos
	if wasOpen {
		if err := h.send(Item{Kind: ItemAbort}); err != nil {
			return err
		}
	}
	return h.send(h.progressExecuted(hdr.Timestamp, done))
}

// xaPrepared ends the first part of an XA transaction: its rows wait in
// prepared for XA COMMIT (or go out now if it committed in one phase).
func (h *handler) xaPrepared(hdr *replication.EventHeader, data []byte, start event.Position) error {
	xid, onePhase, err := xaPrepare(data)
	if err != nil {
		return h.fail(fmt.Errorf("XA prepare at %s: %w", start, err))
	}
	if h.hold == nil {
		return h.fail(fmt.Errorf("XA prepare of %s at %s without XA START: the stream began inside the transaction", xid, start))
	}
	if onePhase {
		return h.commit(0, hdr)
	}
	h.prepared[xid] = h.hold
	done := h.hold.gtid
	h.hold, h.inTx = nil, false
	h.committed = h.pos
	return h.send(h.progressExecuted(hdr.Timestamp, done))
}

// sendHeld sends a held XA transaction's items as an open transaction.
func (h *handler) sendHeld(held *heldTx, hdr *replication.EventHeader) error {
	h.txID = held.gtid
	if err := h.send(Item{Kind: ItemBegin, Tx: held.tx, TxGTID: held.gtid, Timestamp: hdr.Timestamp, ServerID: h.serverID}); err != nil {
		return err
	}
	for _, it := range held.items {
		if err := h.send(it); err != nil {
			return err
		}
	}
	return nil
}

// fullImages checks that a rows event holds whole rows. A session may set
// binlog_row_image=MINIMAL or NOBLOB for itself whatever the server's
// setting, and binlog_row_value_options=PARTIAL_JSON likewise: the columns
// left out, or logged as a change, would be emitted wrong.
func fullImages(ev *replication.RowsEvent, t *schema.Table, update bool) error {
	for i, skips := range ev.SkippedColumns {
		if len(skips) == 0 {
			continue
		}
		names := make([]string, 0, len(skips))
		for _, c := range skips {
			if c < len(t.Columns) {
				names = append(names, t.Columns[c].Name)
			} else {
				names = append(names, "#"+strconv.Itoa(c))
			}
		}
		image := "row image"
		if update {
			image = [2]string{"before image", "after image"}[i%2]
		}
		return fmt.Errorf("table %s: the %s leaves out columns %s: the session that wrote it set binlog_row_image=MINIMAL or NOBLOB; sluice needs whole rows: remove SET SESSION binlog_row_image from that client (or SET SESSION binlog_row_image=FULL) and keep binlog_row_image=FULL on the server", t.QualifiedName(), image, strings.Join(names, ", "))
	}
	for _, row := range ev.Rows {
		for c, v := range row {
			if _, ok := v.(*replication.JsonDiff); ok {
				name := "#" + strconv.Itoa(c)
				if c < len(t.Columns) {
					name = t.Columns[c].Name
				}
				return fmt.Errorf("table %s: JSON column %s is logged as a partial update (binlog_row_value_options=PARTIAL_JSON), not as its whole value: SET GLOBAL binlog_row_value_options='' (and in my.cnf or the RDS parameter group), and remove SET SESSION binlog_row_value_options from clients", t.QualifiedName(), name)
			}
		}
	}
	return nil
}

// progress is an ItemProgress at the handler's position.
func (h *handler) progress(ts uint32) Item {
	return Item{Kind: ItemProgress, Pos: h.pos, Timestamp: ts, ExecutedSeed: h.takeSeed(), ServerID: h.serverID, Held: len(h.prepared) > 0}
}

// progressExecuted is an ItemProgress past a transaction that emits
// nothing but took GTID done (a rollback, an XA PREPARE): the executed
// sets, the handler's and the consumer's, take it.
func (h *handler) progressExecuted(ts uint32, done GTID) Item {
	if h.executed != nil {
		h.executed.Add(done)
	}
	it := h.progress(ts)
	it.TxGTID = done
	return it
}
