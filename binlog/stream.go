// Package binlog reads a MySQL or MariaDB binlog as a replica: preflight
// checks, the replication connection, and turning binlog events into a
// stream of transactions with decoded rows.
package binlog

import (
	"context"
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
	Logger       *slog.Logger
}

// DefaultConfig returns a config for a local server with sensible timeouts.
func DefaultConfig() Config {
	return Config{
		Host:            "127.0.0.1",
		Port:            3306,
		User:            "root",
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
	return nil
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
	// DDLs and Pos are set.
	ItemQuery
	// ItemCommit ends a transaction; Commit is set.
	ItemCommit
	// ItemAbort drops the open transaction: the connection broke inside it
	// and the stream resumes before its start.
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
	// Timestamp is the event header's time, seconds.
	Timestamp uint32
	// At is when a heartbeat arrived.
	At time.Time
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
	h := &handler{s: s, ctx: ctx, out: out, pos: from, committed: from, tables: make(map[uint64]*schema.Table)}
	backoff := 100 * time.Millisecond
	var failingSince time.Time
	for {
		progressed, err := s.session(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var halt *HaltError
		if errors.As(err, &halt) || !retryable(err) {
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
		if h.inTx {
			if err := h.send(Item{Kind: ItemAbort}); err != nil {
				return err
			}
			h.inTx = false
		}
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
// decoded with these options, events handed to h on the reading goroutine.
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
		HeartbeatPeriod:         cfg.HeartbeatPeriod,
		ReadTimeout:             cfg.ReadTimeout,
		DisableRetrySync:        true,
		DiscardGTIDSet:          true,
		Logger:                  log,
		SynchronousEventHandler: h,
		Dialer:                  (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
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
	syncer := replication.NewBinlogSyncer(syncerConfig(&s.cfg, s.flavor, serverID, h,
		slog.New(quietHandler{s.log.Handler()}).With("component", "go-mysql")))
	var st *replication.BinlogStreamer

	if h.committed.IsZero() && s.startGTID != nil {
		// No position yet: start (again) from the GTID set. The fake
		// rotation the server sends first names the file.
		h.gtidStart = true
		st, err = syncer.StartSyncGTID(s.startGTID)
	} else {
		st, err = syncer.StartSync(mysql.Position{Name: h.pos.File, Pos: uint32(h.pos.Offset)})
	}
	if err != nil {
		syncer.Close()
		return false, fmt.Errorf("start replication: %w", err)
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
	gtid      string // GTID announced for the next transaction (MySQL)
	tables    map[uint64]*schema.Table
	indexBase int
	events    int
	gtidStart bool // streaming from a GTID set, no commit seen yet
	halt      error
}

func (h *handler) send(it Item) error {
	select {
	case h.out <- it:
		return nil
	case <-h.ctx.Done():
		return h.ctx.Err()
	}
}

func (h *handler) fail(err error) error {
	h.halt = &HaltError{Err: err}
	return h.halt
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
			return h.send(Item{Kind: ItemProgress, Pos: h.pos, Timestamp: e.Header.Timestamp})
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
	switch ev := ev.(type) {
	case *replication.MariadbGTIDEvent:
		return h.begin(ev.GTID.String(), hdr)
	case *replication.GTIDEvent:
		u, err := uuid.FromBytes(ev.SID)
		if err == nil {
			h.gtid = u.String() + ":" + strconv.FormatInt(ev.GNO, 10)
		}
		return nil
	case *replication.QueryEvent:
		q := string(ev.Query)
		switch {
		case strings.EqualFold(q, "BEGIN"):
			if h.inTx {
				return nil // MariaDB: the GTID event began it
			}
			return h.begin(h.takeGTID(), hdr)
		case strings.EqualFold(q, "COMMIT"):
			return h.commit(0, hdr)
		}
		if !h.inTx {
			if err := h.begin(h.takeGTID(), hdr); err != nil {
				return err
			}
		}
		if ddls := h.ddl(string(ev.Schema), q, start); len(ddls) > 0 {
			if err := h.send(Item{Kind: ItemQuery, Schema: string(ev.Schema), Query: q, DDLs: ddls, Pos: start, Timestamp: hdr.Timestamp}); err != nil {
				return err
			}
		}
		if err := h.saveRegistry(start); err != nil {
			return err
		}
		return h.commit(0, hdr)
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
		default:
			return h.fail(fmt.Errorf("rows event at %s of unknown kind %d", start, hdr.EventType))
		}
		if !h.inTx {
			if err := h.begin(h.takeGTID(), hdr); err != nil {
				return err
			}
		}
		return h.send(Item{Kind: ItemRows, Table: t, Type: typ, Rows: ev.Rows, IndexBase: h.indexBase, Pos: start, Timestamp: hdr.Timestamp})
	case *replication.XIDEvent:
		return h.commit(ev.XID, hdr)
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
		return h.send(Item{Kind: ItemProgress, Pos: h.pos, Timestamp: hdr.Timestamp})
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
		out = append(out, event.DDL{DDL: *d, SQL: sql, Pos: pos, Index: i, SchemaVersion: v})
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
	return h.send(Item{Kind: ItemBegin, Tx: event.Tx{ServerID: hdr.ServerID, GTID: gtid}, Timestamp: hdr.Timestamp})
}

func (h *handler) commit(xid uint64, hdr *replication.EventHeader) error {
	h.inTx = false
	h.gtidStart = false
	h.committed = h.pos
	return h.send(Item{Kind: ItemCommit, Commit: event.Commit{Timestamp: hdr.Timestamp, Xid: xid, Pos: h.pos}, Pos: h.pos, Timestamp: hdr.Timestamp})
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
