// Package pipeline runs sluice's data path: binlog stream → encoder →
// sinks, with the checkpoint advanced only over what every sink has durably
// acknowledged, and only at transaction boundaries.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/filter"
	"github.com/sluicecdc/sluice/schema"
)

// Start says where a pipeline without a checkpoint begins.
type Start string

// Start values.
const (
	StartEarliest Start = "earliest" // the oldest binlog the server has
	StartLatest   Start = "latest"   // the server's current position
)

// Config configures a pipeline.
type Config struct {
	Name   string
	Source binlog.Config
	Start  Start
	// ExitWhenCaughtUp stops Run once every transaction committed before
	// Run began has been delivered and checkpointed.
	ExitWhenCaughtUp bool
	// CheckpointInterval is how often sinks are synced and the checkpoint saved.
	CheckpointInterval time.Duration
	// BatchBytes is the size at which a batch goes to the sinks.
	BatchBytes int
	// TxMemoryBytes is how much of one transaction is held in memory before
	// the rest spills to SpillDir.
	TxMemoryBytes int
	SpillDir      string
	// Format is the encoding of events.
	Format Format
	// Maxwell chooses the optional fields of events in the Maxwell format.
	Maxwell event.MaxwellOptions
	// Debezium chooses how the Debezium format renders values and whether
	// it carries schemas.
	Debezium event.DebeziumOptions
	// SinkFormats, when set, gives the format of each sink OpenSinks opens,
	// in order; "" (or a sink past its end) takes Format. At most two
	// formats are in use.
	SinkFormats []Format
	// SchemaPath is where the table-version registry is kept, next to the
	// checkpoint; empty keeps it in memory only. SchemaStore, when set,
	// keeps it there instead (the lake, for a cluster).
	SchemaPath  string
	SchemaStore schema.Store
	// Owner names this process to a checkpoint store that fences writers
	// (host:pid by default).
	Owner  string
	Logger *slog.Logger

	// The fields below bound a replay.

	// StopAt ends Run once the stream has passed this position outside a
	// transaction.
	StopAt event.Position
	// StartGTID starts the stream after this GTID set instead of at the
	// checkpoint's position (MariaDB "0-1-42", MySQL "uuid:1-42").
	StartGTID string
	// NotBefore drops transactions committed before it; NotAfter ends Run
	// at the first transaction committed after it, which is not emitted.
	NotBefore, NotAfter time.Time
	// SchemaReadOnly reads the registry at SchemaPath but never writes it.
	SchemaReadOnly bool
	// Generation, with FixedGeneration, is the source generation every
	// event carries, whatever the server: a replay stamps the generation
	// the range was first streamed in. Without FixedGeneration the
	// generation is the checkpoint's, one more at each move to another
	// server.
	Generation      uint32
	FixedGeneration bool

	// HeartbeatTable ("db.table"), when set, gets a row with the time every
	// HeartbeatInterval; its rows measure lag and are not emitted.
	HeartbeatTable    string
	HeartbeatInterval time.Duration

	// BinlogPollInterval is how often SHOW BINARY LOGS is read to measure
	// how close the checkpoint is to the oldest binlog the server keeps
	// (metrics only); 0 never reads it.
	BinlogPollInterval time.Duration

	// SkipFinalSave, when set and true as Run stops, leaves out the final
	// sync and checkpoint save: a node that has lost leadership must not
	// write the checkpoint any more.
	SkipFinalSave func() bool

	// Snapshot configures table snapshots.
	Snapshot SnapshotConfig

	// Filter chooses the tables that stream and the columns dropped or
	// hashed, for the stream, snapshots and replays alike. The zero value
	// streams every table but those of the system databases.
	Filter filter.Config

	// Metrics, when set, records the pipeline's metrics.
	Metrics *Metrics
	// OnProgress, when set, is called whenever a transaction or a
	// heartbeat is read: a stall detector's input.
	OnProgress func(time.Time)
	// OnStreaming, when set, is called once the source has passed
	// preflight, the sinks have opened (and passed their checks) and the
	// stream begins: readiness.
	OnStreaming func()
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Name:               "main",
		Source:             binlog.DefaultConfig(),
		Start:              StartLatest,
		CheckpointInterval: time.Second,
		BatchBytes:         1 << 20,
		TxMemoryBytes:      4 << 20,
		Format:             FormatMaxwell,
		Maxwell:            event.DefaultMaxwellOptions(),
		Debezium:           event.DefaultDebeziumOptions(),
		Owner:              defaultOwner(),
		Snapshot:           SnapshotConfig{ChunkSize: 2000},
		BinlogPollInterval: 30 * time.Second,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("pipeline name is empty")
	}
	if c.Start != StartEarliest && c.Start != StartLatest {
		return fmt.Errorf("start is %q: want earliest or latest", c.Start)
	}
	if c.HeartbeatTable != "" {
		if db, t, ok := strings.Cut(c.HeartbeatTable, "."); !ok || db == "" || t == "" || strings.ContainsAny(c.HeartbeatTable, "`") {
			return fmt.Errorf("heartbeat table %q: want DATABASE.TABLE", c.HeartbeatTable)
		}
		if c.HeartbeatInterval <= 0 {
			return errors.New("heartbeat interval must be positive")
		}
	}
	if c.CheckpointInterval <= 0 || c.BatchBytes <= 0 || c.TxMemoryBytes <= 0 {
		return errors.New("checkpoint interval, batch bytes and transaction memory must be positive")
	}
	if err := c.Format.validate(); err != nil {
		return err
	}
	if err := c.validateSinkFormats(); err != nil {
		return err
	}
	if c.Format == FormatDebezium || slices.Contains(c.SinkFormats, FormatDebezium) {
		if err := c.Debezium.Validate(); err != nil {
			return err
		}
	}
	if err := c.Snapshot.validate(); err != nil {
		return err
	}
	if err := c.Filter.Validate(); err != nil {
		return err
	}
	return c.Source.Validate()
}

// OpenSinks opens a pipeline's sinks. It is called after the source passed
// preflight, so a bad source leaves no sink output behind; on error it must
// leave no sink open.
type OpenSinks func() ([]emit.Sink, error)

// Pipeline streams one source to its sinks.
type Pipeline struct {
	cfg       Config
	store     checkpoint.Store
	openSinks OpenSinks
	sinks     []emit.Sink
	log       *slog.Logger
	filter    *filter.Filter

	mu      sync.Mutex
	pending []pendingCheckpoint    // batches carrying a transaction boundary, not yet checkpointed
	unsaved *checkpoint.Checkpoint // acknowledged by every sink, but its save failed
	saved   *checkpoint.Checkpoint

	delivered atomic.Uint64 // events handed to every sink
	// takesTwin says, per sink, whether it takes the batches in the second
	// format (see sinkformat.go).
	takesTwin []bool
}

type pendingCheckpoint struct {
	seq uint64
	cp  checkpoint.Checkpoint
}

// New returns a pipeline. Run opens the sinks and closes them when it returns.
func New(cfg Config, store checkpoint.Store, openSinks OpenSinks) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Source.Logger == nil {
		cfg.Source.Logger = log
	}
	if cfg.Format == FormatMaxwell && cfg.Maxwell.RowQuery {
		cfg.Source.RowQuery = true // ask MariaDB for the statements
	}
	f, err := filter.New(cfg.Filter)
	if err != nil {
		return nil, err
	}
	return &Pipeline{cfg: cfg, store: store, openSinks: openSinks, log: log.With("pipeline", cfg.Name), filter: f}, nil
}

// Run checks the source, then streams until ctx is done, an error halts it,
// or (with ExitWhenCaughtUp) it has caught up. It always tries to leave a
// checkpoint covering everything the sinks acknowledged.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil // stopped while connecting (preflight, registry): a stop, not a failure
		}
	}()
	p.cfg.Metrics.runStarted(p.cfg.Name)
	defer func() { p.cfg.Metrics.runStopped(err) }()
	if fs, ok := p.store.(checkpoint.FencingStore); ok {
		// Claim the pipeline first: from here on a process that held it
		// before can no longer move the checkpoint.
		epoch, err := fs.Acquire(ctx, p.cfg.Owner)
		if err != nil {
			return fmt.Errorf("claim pipeline %s: %w", p.cfg.Name, err)
		}
		p.log.Info("claimed the pipeline", "epoch", epoch, "owner", p.cfg.Owner)
	}
	cp, err := p.store.Load(ctx)
	if err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
		return err
	}
	var from event.Position
	if cp != nil {
		from = cp.Position
	}
	srv, resumeGTIDs, resnap, err := p.preflight(ctx, cp)
	if err != nil {
		return err
	}
	if err := p.checkFilter(ctx, cp); err != nil {
		return err
	}
	var initial *checkpoint.Snapshot
	if cp == nil || resnap {
		// A table that cannot be snapshotted is refused before anything is written.
		if initial, err = p.initialSnapshot(ctx, srv); err != nil {
			return err
		}
	}
	if p.sinks, err = p.openSinks(); err != nil {
		return err
	}
	if len(p.sinks) == 0 {
		return errors.New("no sinks configured")
	}
	defer func() {
		for _, s := range p.sinks {
			if cerr := s.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close sink: %w", cerr)
			}
		}
	}()
	if resnap {
		from = srv.Head
		cp = &checkpoint.Checkpoint{Pipeline: p.cfg.Name, Position: from, ServerID: srv.ServerID, UpdatedAt: time.Now().UTC(), Snapshot: initial,
			GTIDSet: srv.GTIDs, Filter: p.cfg.Filter.String(), History: cp.History, Generation: cp.Generation}
		if err := p.store.Save(ctx, cp); err != nil {
			return fmt.Errorf("save the checkpoint of the new snapshot: %w", err)
		}
	}
	if cp == nil {
		switch p.cfg.Start {
		case StartEarliest:
			from = event.Position{File: srv.Binlogs[0], Offset: 4}
		default:
			from = srv.Head
		}
		cp = &checkpoint.Checkpoint{Pipeline: p.cfg.Name, Position: from, ServerID: srv.ServerID, UpdatedAt: time.Now().UTC(), Snapshot: initial, Filter: p.cfg.Filter.String()}
		if from == srv.Head {
			cp.GTIDSet = srv.GTIDs
		}
		// Record where we begin, so a restart continues from here even if
		// nothing arrives before it.
		if err := p.store.Save(ctx, cp); err != nil {
			return fmt.Errorf("save initial checkpoint: %w", err)
		}
	} else if f := p.cfg.Filter.String(); cp.Filter != f {
		// Record the filter now: the change is logged once, even if
		// nothing streams before the next start.
		next := *cp
		next.Filter, next.UpdatedAt = f, time.Now().UTC()
		if err := p.store.Save(ctx, &next); err != nil {
			return fmt.Errorf("save checkpoint with the new filter: %w", err)
		}
		cp = &next
	}
	p.saved = cp
	p.cfg.Metrics.checkpointSaved(cp, time.Now(), 0)
	p.cfg.Metrics.sinksOpened(p.sinks)
	p.log.Info("streaming", "source", srv.Addr, "flavor", srv.Flavor, "version", srv.Version, "from", from.String(), "head", srv.Head.String())
	if p.cfg.OnStreaming != nil {
		p.cfg.OnStreaming()
	}

	var target event.Position
	if p.cfg.ExitWhenCaughtUp {
		target = srv.Head
	}
	if !p.cfg.StopAt.IsZero() {
		target = p.cfg.StopAt
	}
	return p.stream(ctx, srv, from, target, resumeGTIDs)
}

// errCaughtUp ends the stream when ExitWhenCaughtUp is satisfied.
var errCaughtUp = errors.New("caught up")

func (p *Pipeline) stream(ctx context.Context, srv *binlog.Server, from, target event.Position, resumeGTIDs string) error {
	registry, err := p.loadRegistry(ctx, srv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.cfg.spillDir(), 0o755); err != nil {
		return fmt.Errorf("spill directory: %w", err)
	}
	streamer := binlog.NewStreamer(p.cfg.Source, srv.Flavor, registry)
	executed, startGTID := p.saved.GTIDSet, p.cfg.StartGTID
	switch {
	case startGTID != "":
		executed = startGTID // a replay's start
	case resumeGTIDs != "":
		startGTID, executed = resumeGTIDs, resumeGTIDs
	case executed == "" && !from.IsZero():
		// A checkpoint without the set (older, or the start of a binlog):
		// MariaDB can tell it, so a failover can be followed from here.
		set, err := binlog.GTIDsAt(ctx, &p.cfg.Source, srv.Flavor, from)
		if err != nil {
			p.log.Warn("executed GTID set at the start not known; a failover can be followed once the next binlog file starts", "at", from.String(), "err", err.Error())
		}
		executed = set
	}
	if err := streamer.SetSource(srv.ServerID, executed); err != nil {
		return err
	}
	if startGTID != "" {
		if err := streamer.StartAfterGTID(startGTID); err != nil {
			return err
		}
		from = event.Position{} // the GTID set says where
	}
	items := make(chan binlog.Item, 64)

	streamCtx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	g, gctx := errgroup.WithContext(streamCtx)
	deliveries := make(chan delivery, 4)
	enc := newEncoder(p, srv.ServerID, deliveries)
	defer enc.close()
	if err := enc.setExecuted(srv.Flavor, executed); err != nil {
		return err
	}
	if p.cfg.Snapshot.SignalTable != "" {
		enc.snaps = newSnapshots(p.cfg.Snapshot, p.cfg.Name, enc.snapCommitted, registry)
		if !p.cfg.Snapshot.Ignore {
			g.Go(func() error { return p.readChunks(gctx, enc.snaps, srv.Flavor == mysql.MariaDBFlavor) })
		}
	}
	g.Go(func() error { return streamer.Run(gctx, from, items) })
	g.Go(func() error { return enc.loop(gctx, items, from, target) })
	g.Go(func() error {
		if err := p.deliver(gctx, deliveries); err != nil {
			return err
		}
		// deliveries is closed: the encoder is done. If it caught up,
		// everything is with the sinks and the stream can stop.
		if enc.caughtUp {
			return errCaughtUp
		}
		return nil
	})
	g.Go(func() error { return p.checkpointLoop(gctx) })
	if p.cfg.Metrics != nil && p.cfg.StopAt.IsZero() {
		g.Go(func() error { return p.pollRetention(gctx) })
	}
	if p.cfg.HeartbeatTable != "" && !p.cfg.ExitWhenCaughtUp && p.cfg.StopAt.IsZero() {
		g.Go(func() error { return p.heartbeats(gctx) })
	}
	err = g.Wait()
	if errors.Is(err, errCaughtUp) || (errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		err = nil
	}
	if p.cfg.SkipFinalSave != nil && p.cfg.SkipFinalSave() {
		p.log.Info("stopped without a final checkpoint: leadership is lost")
		return err
	}
	if err != nil && halts(err) {
		return err // fenced (or the store refuses for good): a final save would be refused too
	}
	// Whatever the sinks hold of whole transactions is made durable and
	// checkpointed, even on the way out.
	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if ferr := p.syncAndSave(finalCtx, true); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

func (p *Pipeline) checkpointLoop(ctx context.Context) error {
	t := time.NewTicker(p.cfg.CheckpointInterval)
	defer t.Stop()
	failing := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			err := p.syncAndSave(ctx, false)
			switch {
			case err == nil:
				if failing > 0 {
					p.log.Info("checkpoint saved again", "after_failures", failing)
				}
				failing = 0
			case halts(err):
				return err
			default:
				// The store is unreachable for now; the stream goes on and
				// the boundary is saved once it answers again.
				if failing++; failing == 1 || failing%30 == 0 {
					p.log.Warn("checkpoint not saved; retrying", "failures", failing, "err", err.Error())
				}
			}
		}
	}
}

// halts reports errors after which the pipeline must stop: another
// process owns the pipeline now, the checkpoint would move backwards, the
// stored item is corrupt, the checkpoint store refuses for good (missing
// table, access denied), or a sink does (emit.PermanentError: denied
// access, a missing bucket, an object conflict). Anything else is retried.
func halts(err error) bool { return checkpoint.Permanent(err) || emit.Permanent(err) }

// syncAndSave asks every sink what it has made durable and checkpoints the
// last transaction boundary all of them cover.
func (p *Pipeline) syncAndSave(ctx context.Context, force bool) error {
	acked := ^uint64(0)
	for _, s := range p.sinks {
		seq, err := s.Sync(ctx, force)
		if err != nil {
			p.cfg.Metrics.sinkFailed(sinkName(s), err, halts(err))
			return fmt.Errorf("sink %s: sync: %w", sinkName(s), err)
		}
		p.cfg.Metrics.sinkSynced(sinkName(s))
		acked = min(acked, seq)
	}
	p.mu.Lock()
	next := p.unsaved
	n := 0
	for n < len(p.pending) && p.pending[n].seq <= acked {
		cp := p.pending[n].cp
		next = &cp
		n++
	}
	p.pending = p.pending[n:]
	p.unsaved = nil
	p.mu.Unlock()
	if next == nil {
		return nil
	}
	next.Pipeline = p.cfg.Name
	next.UpdatedAt = time.Now().UTC()
	if next.History == nil && p.saved != nil {
		next.History = p.saved.History
	}
	next.Filter = p.cfg.Filter.String()
	if err := p.store.Save(ctx, next); err != nil {
		p.cfg.Metrics.saveFailed()
		p.mu.Lock()
		if p.unsaved == nil {
			p.unsaved = next // try again with the next save
		}
		p.mu.Unlock()
		return fmt.Errorf("save checkpoint at %s: %w", next.Position, err)
	}
	p.saved = next
	p.mu.Lock()
	idle := len(p.pending) == 0
	p.mu.Unlock()
	p.cfg.Metrics.saved(next, time.Now(), idle)
	return nil
}

func (p *Pipeline) addPending(seq uint64, cp checkpoint.Checkpoint) {
	p.mu.Lock()
	p.pending = append(p.pending, pendingCheckpoint{seq: seq, cp: cp})
	p.mu.Unlock()
}

// Delivered is the number of events handed to every sink so far.
func (p *Pipeline) Delivered() uint64 { return p.delivered.Load() }

// Checkpoint returns the last checkpoint saved (or loaded at start).
func (p *Pipeline) Checkpoint() *checkpoint.Checkpoint { return p.saved }

// SpillDir returns the directory for transaction spill files.
func (c *Config) spillDir() string {
	if c.SpillDir != "" {
		return c.SpillDir
	}
	return os.TempDir()
}

// loadRegistry reads the table-version registry. On first start against
// MariaDB it learns which existing columns are JSON.
func (p *Pipeline) loadRegistry(ctx context.Context, srv *binlog.Server) (*schema.Registry, error) {
	registry := schema.NewRegistry()
	store := p.cfg.SchemaStore
	if store == nil && p.cfg.SchemaPath != "" {
		store = schema.FileStore(p.cfg.SchemaPath)
	}
	if store != nil {
		var err error
		if registry, err = schema.OpenRegistryContext(ctx, store); err != nil {
			return nil, err
		}
		if p.cfg.SchemaReadOnly {
			registry.Detach()
		}
	}
	if registry.Empty() && srv.Flavor == mysql.MariaDBFlavor {
		cols, err := binlog.MariaDBJSONColumns(ctx, &p.cfg.Source)
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			registry.MarkJSON(c.Database, c.Table, c.Column)
		}
		if err := registry.SaveContext(ctx); err != nil {
			return nil, err
		}
	}
	return registry, nil
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// sinkName labels a sink in metrics: its type, e.g. "S3Sink".
func sinkName(s emit.Sink) string {
	name := fmt.Sprintf("%T", s)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
