package emit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3API is the part of the S3 client the S3 sink uses.
type s3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

var _ s3API = (*s3.Client)(nil)

// S3Config configures the S3 sink.
type S3Config struct {
	Bucket string
	// Prefix is prepended to every key, e.g. "cdc/prod" (no leading '/').
	Prefix string
	// Layout is the partition path of objects under Prefix; see
	// DefaultS3Layout for the tokens.
	Layout string
	// RollBytes ends an object when the events it holds reach this many
	// bytes uncompressed; RollAge when it has been open this long. 0 is
	// DefaultS3RollBytes or MaxBufferedBytes/4, whichever is smaller, so
	// that several partitions can fill at once within the cap.
	RollBytes int
	RollAge   time.Duration
	// MaxBufferedBytes caps the memory the sink holds: the capacity of
	// its buffers of events, open or uploading, and of their compressed
	// bodies. Past it Write uploads the largest buffers itself before
	// returning.
	MaxBufferedBytes int
	// Concurrency is how many objects are uploaded at once.
	Concurrency int
	// Compression of data objects: zstd (the default), gzip or none; see
	// Compression. CompressionLevel 0 is the compression's default.
	Compression      Compression
	CompressionLevel int
	// CompressionWorkers bounds the objects compressed at once; each
	// object is compressed on its own goroutine as soon as it is sealed,
	// while events go on arriving. 0 is GOMAXPROCS.
	CompressionWorkers int
	// RequestTimeout bounds one attempt of one request, the SDK's own
	// retries included.
	RequestTimeout time.Duration
	// RetryBackoff and RetryBackoffMax bound the wait between attempts
	// while S3 is unavailable; attempts go on until the caller's context
	// ends.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// WatermarkInterval is how often the global watermark object is
	// rewritten while it advances; 0 publishes no watermarks.
	WatermarkInterval time.Duration
	// WatermarkLateness is subtracted from the time the pipeline reports
	// through Watermark before it is published. Events carry the time of
	// their transaction's commit event, which on MySQL is when the COMMIT
	// statement began: a transaction can reach the binlog after others
	// that carry later times (a long autocommit UPDATE). Events that still
	// come in older than a published watermark are counted (LateEvents).
	WatermarkLateness time.Duration
	// CheckConditionalWrites makes Check verify that the store refuses a
	// second If-None-Match write of one key.
	CheckConditionalWrites bool

	// Region, Endpoint and PathStyle configure the client NewS3Client
	// builds; the sink itself does not read them.
	Region    string
	Endpoint  string
	PathStyle bool
}

// DefaultS3RollBytes is the largest RollBytes a default gives.
const DefaultS3RollBytes = 64 << 20

// DefaultS3Config returns the defaults; Bucket must still be set.
func DefaultS3Config() S3Config {
	return S3Config{
		Layout:                 DefaultS3Layout,
		RollBytes:              0, // min(DefaultS3RollBytes, MaxBufferedBytes/4)
		RollAge:                time.Minute,
		MaxBufferedBytes:       512 << 20,
		Concurrency:            8,
		Compression:            CompressionZstd,
		RequestTimeout:         2 * time.Minute,
		RetryBackoff:           500 * time.Millisecond,
		RetryBackoffMax:        10 * time.Second,
		WatermarkInterval:      time.Minute,
		WatermarkLateness:      10 * time.Minute,
		CheckConditionalWrites: true,
	}
}

// Validate checks the config.
func (c *S3Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("s3 sink: bucket is empty")
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//") {
		return fmt.Errorf("s3 sink: prefix %q: no leading or doubled '/'", c.Prefix)
	}
	if _, err := parseLayout(c.Layout); err != nil {
		return fmt.Errorf("s3 sink: %w", err)
	}
	if c.Compression == "" {
		return errors.New("s3 sink: compression is empty: want gzip, zstd or none")
	}
	if err := c.Compression.validateLevel(c.CompressionLevel); err != nil {
		return fmt.Errorf("s3 sink: %w", err)
	}
	switch {
	case c.RollBytes < 0 || c.RollAge <= 0:
		return errors.New("s3 sink: roll bytes must not be negative, roll age must be positive")
	case c.MaxBufferedBytes < 4<<10:
		return fmt.Errorf("s3 sink: max buffered bytes (%d) is below 4 KiB: raise it", c.MaxBufferedBytes)
	case c.MaxBufferedBytes < c.RollBytes:
		return fmt.Errorf("s3 sink: max buffered bytes (%d) is below roll bytes (%d): raise it or lower roll bytes", c.MaxBufferedBytes, c.RollBytes)
	case c.Concurrency <= 0:
		return errors.New("s3 sink: concurrency must be positive")
	case c.CompressionWorkers < 0:
		return errors.New("s3 sink: compression workers is negative: want 0 (GOMAXPROCS) or more")
	case c.RequestTimeout <= 0:
		return errors.New("s3 sink: request timeout must be positive")
	case c.RetryBackoff <= 0 || c.RetryBackoffMax < c.RetryBackoff:
		return errors.New("s3 sink: want 0 < retry backoff <= retry backoff max")
	case c.WatermarkInterval < 0:
		return errors.New("s3 sink: watermark interval is negative")
	case c.WatermarkLateness < 0:
		return errors.New("s3 sink: watermark lateness is negative")
	}
	return nil
}

// S3Sink writes events to S3 as JSON-lines objects, compressed with gzip,
// zstd or not at all (S3Config.Compression), one series of objects per
// partition (DefaultS3Layout: table and commit hour).
//
// Objects are named after the first and last event they hold
// ("<file>-<offset>-<row>_<file>-<offset>-<row>.json.gz", or .json.zst, or
// .json) and written with
// If-None-Match: *, so a retry, or another process re-emitting the same
// range, writes the same name with the same bytes and the write is taken as
// done; a different object under that name is an *ObjectConflictError. A
// process resuming from a checkpoint may cut its objects elsewhere than its
// predecessor did: events then appear in two objects, and readers drop the
// copies by dedupe_key.
//
// After each round of uploads a manifest under <prefix>/_manifests/ lists
// its objects; only objects listed in a manifest are known complete. Events
// count as durable once their object's manifest is written. Objects rolled
// by RollBytes are uploaded in the background as soon as they are
// compressed (see kick); Sync uploads those it rolls itself.
//
// While S3 is unavailable, uploads are retried until the caller's context
// ends: Sync keeps returning the last durable Seq it can prove, and Write
// keeps accepting events until MaxBufferedBytes, then blocks in uploads
// (backpressure), returning only when the store answers or ctx ends.
// Errors the store will repeat (access denied, missing bucket, conflicts),
// and those of the configuration (no region or credentials, an endpoint
// host that does not resolve) are returned at once.
type S3Sink struct {
	api    s3API
	cfg    S3Config
	prefix string // Prefix with a trailing '/', or empty
	layout *s3Layout
	log    *slog.Logger
	now    func() time.Time
	comp   *compressor
	// stopped is cancelled by Close: uploads under way give up.
	stopped context.Context
	stop    context.CancelCauseFunc
	// packSlots bounds the compressions under way; packs counts the
	// goroutines compressing sealed buffers, which Close waits for.
	packSlots chan struct{}
	packs     sync.WaitGroup
	// rounds counts the background upload rounds (see kick), which Close
	// waits for: after Close the sink writes nothing more.
	rounds sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	written uint64 // Seq of the last batch written
	// writeCtx is the context of the last Write: background rounds run
	// under it, so they stop with the writer (a deposed leader's term),
	// not only at Close.
	writeCtx context.Context
	open     map[bufferKey]*s3Buffer
	sealed   []*s3Buffer // rolled and waiting for an upload round
	flying   map[*s3Buffer]struct{}
	// buffered counts the bytes held by open, sealed and flying buffers:
	// the capacity of their events and compressed bodies (s3Buffer.held).
	buffered int
	changed  chan struct{} // closed when an upload round ends
	// eager is set while a background upload round runs; eagerFailed,
	// after one failed, until an upload round succeeds: the next Sync or
	// Write uploads those buffers itself and meets the error.
	eager       bool
	eagerFailed bool
	dirs        map[bufferKey]string
	tables      map[tableName]struct{} // seen, for watermarks
	wm          watermarkState
	lateEvents  uint64 // events older than the published watermark

	// spareData and spareBodies are the event buffers and compressed
	// bodies of uploaded objects, kept for the next objects instead of
	// allocating (zeroing, and later returning to the OS) tens of MiB per
	// object. Their capacity, spareBytes, counts in buffered too.
	spareData   [][]byte
	spareBodies [][]byte
	spareBytes  int

	lastKey bufferKey // Write's cache of the last event's buffer
	lastBuf *s3Buffer
	scratch []byte
}

var (
	_ Sink        = (*S3Sink)(nil)
	_ Watermarker = (*S3Sink)(nil)
)

// bufferKey names the partition of an event before its path is rendered.
type bufferKey struct {
	database, table string
	unit            int64
}

type tableName struct{ database, table string }

// s3Buffer holds the events of one partition that will form one object.
type s3Buffer struct {
	key         bufferKey
	dir         string // the object's key up to its name, ending in '/'
	data        []byte
	events      int
	first, last rowPlace
	unplaced    bool   // some event has no binlog place: name by content
	minSeq      uint64 // Seq of the first batch with an event here
	minTS       uint32
	maxTS       uint32
	opened      time.Time
	// held is what this buffer counts in S3Sink.buffered: cap(data),
	// plus cap(body) once compressed into a separate slice.
	held int
	// packed is closed when a goroutine has compressed the sealed buffer
	// into body, with sum the SHA-256 of data; nil while none was started.
	packed chan struct{}
	body   []byte
	sum    [sha256.Size]byte
}

// NewS3Sink returns a sink writing to cfg.Bucket through client. It does no
// I/O: call Check before streaming to fail early on a bad bucket.
func NewS3Sink(client s3API, cfg S3Config, logger *slog.Logger) (*S3Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layout, _ := parseLayout(cfg.Layout)
	if cfg.RollBytes == 0 {
		cfg.RollBytes = min(DefaultS3RollBytes, cfg.MaxBufferedBytes/4)
	}
	comp, err := newCompressor(cfg.Compression, cfg.CompressionLevel)
	if err != nil {
		return nil, fmt.Errorf("s3 sink: %w", err)
	}
	workers := cfg.CompressionWorkers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if logger == nil {
		logger = slog.Default()
	}
	prefix := strings.TrimSuffix(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	stopped, stop := context.WithCancelCause(context.Background())
	return &S3Sink{
		api:       client,
		cfg:       cfg,
		prefix:    prefix,
		layout:    layout,
		log:       logger.With("sink", "s3", "bucket", cfg.Bucket),
		now:       time.Now,
		comp:      comp,
		stopped:   stopped,
		packSlots: make(chan struct{}, workers),
		stop:      stop,
		open:      make(map[bufferKey]*s3Buffer),
		flying:    make(map[*s3Buffer]struct{}),
		changed:   make(chan struct{}),
		dirs:      make(map[bufferKey]string),
		tables:    make(map[tableName]struct{}),
	}, nil
}

// Write implements Sink. It copies b's events into per-partition buffers
// and releases b. When more than MaxBufferedBytes are held it uploads the
// largest buffers before returning (see S3Sink for outages).
func (s *S3Sink) Write(ctx context.Context, b *Batch) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("s3 sink: write: %w", errSinkClosed)
	}
	s.writeCtx = ctx
	now := s.now()
	late := 0
	for i := range b.Events {
		r := &b.Events[i]
		key := bufferKey{r.Database, r.Table, s.layout.unit(r.Timestamp)}
		buf := s.lastBuf
		if buf == nil || key != s.lastKey {
			buf = s.open[key]
			if buf == nil {
				buf = s.newBuffer(key, r, b.Seq, now)
			}
			s.lastKey, s.lastBuf = key, buf
		}
		place := rowPlace{pos: r.Pos, index: r.Index, serverID: r.ServerID, gen: r.Generation}
		if buf.events == 0 {
			buf.first, buf.minTS, buf.maxTS = place, r.Timestamp, r.Timestamp
		}
		buf.last = place
		buf.unplaced = buf.unplaced || r.Pos.IsZero()
		buf.minTS, buf.maxTS = min(buf.minTS, r.Timestamp), max(buf.maxTS, r.Timestamp)
		buf.events++
		s.appendLine(buf, b.Data[r.Off:r.Off+r.Len])
		if r.Timestamp < s.wm.publishedTS {
			late++
		}
		if len(buf.data) >= s.cfg.RollBytes {
			s.seal(buf)
		}
	}
	s.written = b.Seq
	s.lateEvents += uint64(late)
	over := s.buffered > s.cfg.MaxBufferedBytes
	s.mu.Unlock()
	b.Release()
	if late > 0 {
		// Expected now and then (see WatermarkLateness); LateEvents counts them.
		s.log.Debug("late events: committed before the published watermark", "events", late, "seq", b.Seq)
	}
	if over {
		return s.relieve(ctx)
	}
	return nil
}

// rollSlack is room past RollBytes for the line that fills a buffer, so
// that line rarely makes the whole buffer move.
const rollSlack = 64 << 10

// appendLine appends line and '\n' to buf, growing it by doubling up to
// RollBytes+rollSlack (never past, unless one line needs it), and counts
// the capacity it gains in buffered. From a sixteenth of RollBytes on it
// grows into a spare buffer of an uploaded object when there is one.
// Callers hold s.mu.
func (s *S3Sink) appendLine(buf *s3Buffer, line []byte) {
	need := len(buf.data) + len(line) + 1
	if need > cap(buf.data) {
		c := max(min(max(2*cap(buf.data), 4<<10), s.cfg.RollBytes+rollSlack), need)
		var grown []byte
		if c >= s.cfg.RollBytes/16 {
			grown = s.takeSpare(&s.spareData, buf, c)
		}
		if grown == nil {
			grown = make([]byte, 0, c)
			s.hold(buf, cap(grown))
		}
		grown = append(grown[:0], buf.data...)
		s.hold(buf, -cap(buf.data)) // open buffers have no body yet
		buf.data = grown
	}
	buf.data = append(buf.data, line...)
	buf.data = append(buf.data, '\n')
}

// hold adds n bytes to what buf holds. Callers hold s.mu.
func (s *S3Sink) hold(buf *s3Buffer, n int) {
	buf.held += n
	s.buffered += n
}

// takeSpare removes from spares a buffer of at least n bytes of capacity
// and hands it to buf (what it counts moves from spareBytes to buf.held),
// or returns nil when there is none. Callers hold s.mu.
func (s *S3Sink) takeSpare(spares *[][]byte, buf *s3Buffer, n int) []byte {
	list := *spares
	for i := len(list) - 1; i >= 0; i-- {
		if b := list[i]; cap(b) >= n {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			*spares = list[:len(list)-1]
			s.spareBytes -= cap(b)
			buf.held += cap(b)
			return b[:0]
		}
	}
	return nil
}

// recycle keeps the buffers of an uploaded object, which holds nothing any
// more, as spares: its event buffer when it is one of the large ones
// appendLine grows into, and its compressed body, while what the sink
// holds, spares included, stays within MaxBufferedBytes. Callers hold s.mu.
func (s *S3Sink) recycle(buf *s3Buffer) {
	keep := func(spares *[][]byte, b []byte) {
		if cap(b) > 0 && s.buffered+cap(b) <= s.cfg.MaxBufferedBytes && !s.closed {
			*spares = append(*spares, b[:0])
			s.spareBytes += cap(b)
			s.buffered += cap(b)
		}
	}
	if c := cap(buf.data); c >= s.cfg.RollBytes/4 && c <= s.cfg.RollBytes+rollSlack {
		keep(&s.spareData, buf.data)
	}
	if !sameArray(buf.body, buf.data) {
		keep(&s.spareBodies, buf.body)
	}
	buf.data, buf.body = nil, nil
}

// dropSpares lets the spare buffers go. Callers hold s.mu.
func (s *S3Sink) dropSpares() {
	clear(s.spareData)
	clear(s.spareBodies)
	s.spareData, s.spareBodies = s.spareData[:0], s.spareBodies[:0]
	s.buffered -= s.spareBytes
	s.spareBytes = 0
}

// newBuffer opens the buffer of key, whose first event is r. Callers hold s.mu.
func (s *S3Sink) newBuffer(key bufferKey, r *Ref, seq uint64, now time.Time) *s3Buffer {
	dir, ok := s.dirs[key]
	if !ok {
		if len(s.dirs) > 4096 {
			clear(s.dirs) // old hours: keep the cache bounded
		}
		s.scratch = append(s.scratch[:0], s.prefix...)
		s.scratch = s.layout.render(s.scratch, r.Database, r.Table, r.Timestamp)
		s.scratch = append(s.scratch, '/')
		dir = string(s.scratch)
		s.dirs[key] = dir
	}
	s.tables[tableName{r.Database, r.Table}] = struct{}{}
	buf := &s3Buffer{key: key, dir: dir, minSeq: seq, opened: now}
	s.open[key] = buf
	return buf
}

// seal moves an open buffer to the upload queue. Callers hold s.mu.
func (s *S3Sink) seal(buf *s3Buffer) {
	delete(s.open, buf.key)
	if s.lastBuf == buf {
		s.lastBuf = nil
	}
	s.sealed = append(s.sealed, buf)
	s.startPack(buf)
}

// startPack compresses a sealed buffer on its own goroutine, at most
// packSlots at once, so that its upload finds the body ready. Callers
// hold s.mu.
func (s *S3Sink) startPack(buf *s3Buffer) {
	if buf.packed != nil || s.closed {
		return
	}
	buf.packed = make(chan struct{})
	s.packs.Add(1)
	go func() {
		defer s.packs.Done()
		defer close(buf.packed)
		select {
		case s.packSlots <- struct{}{}:
		case <-s.stopped.Done():
			return // body stays nil: nobody will upload it
		}
		defer func() { <-s.packSlots }()
		s.pack(buf)
		s.mu.Lock()
		s.kick()
		s.mu.Unlock()
	}()
}

// kick starts a background upload round of the sealed buffers already
// compressed, unless one is under way (it kicks again when it ends), the
// last one failed, or the sink is closed. A round writes its objects and
// their manifest like any other (upload): a sealed buffer is uploaded as
// soon as it is compressed, instead of at the next Sync or when Write
// reaches MaxBufferedBytes. It runs under the last Write's context: once
// that ends (the writer stopped, e.g. a leader's term ended) no round
// starts or goes on. Callers hold s.mu.
func (s *S3Sink) kick() {
	if s.eager || s.eagerFailed || s.closed || s.writeCtx == nil || s.writeCtx.Err() != nil {
		return
	}
	bufs := s.take(noBuffer, func(buf *s3Buffer) bool { return buf.body != nil })
	if len(bufs) == 0 {
		return
	}
	s.eager = true
	s.rounds.Add(1)
	ctx := s.writeCtx
	go func() {
		defer s.rounds.Done()
		err := s.upload(ctx, bufs) // until the writer's context ends, or Close
		s.mu.Lock()
		defer s.mu.Unlock()
		s.eager = false
		if err != nil {
			if !s.closed {
				s.eagerFailed = true
				s.log.Warn("background upload failed: the next sync or write retries it", "objects", len(bufs), "err", err)
				close(s.changed) // for waiters that look at eagerFailed
				s.changed = make(chan struct{})
			}
			return
		}
		s.kick()
	}()
}

// compressed returns the SHA-256 of buf's events and their compressed
// bytes, waiting for the goroutine startPack started, or compressing here
// if none was (or it gave up at Close).
func (s *S3Sink) compressed(buf *s3Buffer) ([sha256.Size]byte, []byte) {
	if buf.packed != nil {
		<-buf.packed
		s.mu.Lock()
		sum, body := buf.sum, buf.body
		s.mu.Unlock()
		if body != nil {
			return sum, body
		}
	}
	return s.pack(buf)
}

// pack sets buf's SHA-256 and compressed body, compressing into a spare
// body when there is one, and counts what the body holds past that.
func (s *S3Sink) pack(buf *s3Buffer) ([sha256.Size]byte, []byte) {
	var dst []byte
	if s.cfg.Compression != CompressionNone {
		s.mu.Lock()
		dst = s.takeSpare(&s.spareBodies, buf, 0)
		s.mu.Unlock()
	}
	sum := sha256.Sum256(buf.data)
	body := s.comp.compress(buf.data, dst)
	s.mu.Lock()
	buf.sum, buf.body = sum, body
	if !sameArray(body, buf.data) && !sameArray(body, dst) {
		s.hold(buf, cap(body)-cap(dst)) // dst, if any, was outgrown
	}
	s.mu.Unlock()
	return sum, body
}

// sameArray reports whether a and b share their first byte (compression
// none returns the events themselves as the body).
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}

func anyBuffer(*s3Buffer) bool { return true }
func noBuffer(*s3Buffer) bool  { return false }

// take seals the open buffers seal chooses, then hands the sealed buffers
// want chooses to the caller's upload round. Callers hold s.mu.
func (s *S3Sink) take(seal, want func(*s3Buffer) bool) []*s3Buffer {
	for _, buf := range s.open {
		if seal(buf) {
			s.seal(buf)
		}
	}
	var bufs []*s3Buffer
	kept := s.sealed[:0]
	for _, buf := range s.sealed {
		if want(buf) {
			bufs = append(bufs, buf)
			s.flying[buf] = struct{}{}
		} else {
			kept = append(kept, buf)
		}
	}
	clear(s.sealed[len(kept):])
	s.sealed = kept
	return bufs
}

// eachBuffer calls f on every buffer holding events not yet uploaded:
// open, sealed or in an upload round. Callers hold s.mu.
func (s *S3Sink) eachBuffer(f func(*s3Buffer)) {
	for _, buf := range s.open {
		f(buf)
	}
	for _, buf := range s.sealed {
		f(buf)
	}
	for buf := range s.flying {
		f(buf)
	}
}

// relieve uploads the largest buffers until at most three quarters of
// MaxBufferedBytes are held, or waits for uploads already under way.
func (s *S3Sink) relieve(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return fmt.Errorf("s3 sink: free memory: %w", errSinkClosed)
		}
		if s.buffered > s.cfg.MaxBufferedBytes {
			s.dropSpares()
		}
		if s.buffered <= s.cfg.MaxBufferedBytes {
			s.mu.Unlock()
			return nil
		}
		need := s.buffered - s.cfg.MaxBufferedBytes*3/4
		for buf := range s.flying {
			need -= buf.held
		}
		for _, buf := range s.sealed {
			need -= buf.held
		}
		if need > 0 {
			open := make([]*s3Buffer, 0, len(s.open))
			for _, buf := range s.open {
				open = append(open, buf)
			}
			slices.SortFunc(open, func(a, b *s3Buffer) int { return len(b.data) - len(a.data) })
			for _, buf := range open {
				if need <= 0 {
					break
				}
				s.seal(buf)
				need -= buf.held
			}
		}
		bufs := s.take(noBuffer, anyBuffer)
		changed, buffered := s.changed, s.buffered
		s.mu.Unlock()
		if len(bufs) == 0 {
			// Everything over the cap is being uploaded by Sync: wait for
			// it (or for Close, which closes changed too).
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return fmt.Errorf("s3 sink: wait for uploads to free memory: %w", ctx.Err())
			}
		}
		s.log.Debug("memory cap reached: uploading early", "objects", len(bufs), "buffered", buffered)
		if err := s.upload(ctx, bufs); err != nil {
			return err
		}
	}
}

// Sync implements Sink. It uploads the buffers that are due (full, older
// than RollAge, or with force all those holding events written before the
// call), publishes watermarks, and returns the highest Seq all of whose
// events, with those of every batch before it, are in objects listed in a
// manifest. It returns an error only when ctx ends, the sink is closed, or
// the store refuses for good; watermarks it cannot publish are logged and
// retried at the next Sync.
func (s *S3Sink) Sync(ctx context.Context, force bool) (uint64, error) {
	now := s.now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, fmt.Errorf("s3 sink: sync: %w", errSinkClosed)
	}
	target := s.written // with force: what must be durable on return
	holds := func(buf *s3Buffer) bool { return buf.minSeq <= target }
	bufs := s.take(func(buf *s3Buffer) bool {
		return (force && holds(buf)) || now.Sub(buf.opened) >= s.cfg.RollAge
	}, anyBuffer)
	s.mu.Unlock()
	for {
		if len(bufs) > 0 {
			if err := s.upload(ctx, bufs); err != nil {
				return 0, err
			}
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, fmt.Errorf("s3 sink: sync: %w", errSinkClosed)
		}
		if !force || s.durableLocked() >= target {
			s.mu.Unlock()
			break
		}
		// What still holds target back was put back by a failed round
		// Write started, or is in such a round. Take only that: buffers
		// sealed since by writes going on must not keep a forced Sync
		// going.
		bufs = s.take(noBuffer, holds)
		changed := s.changed
		s.mu.Unlock()
		if len(bufs) == 0 {
			select {
			case <-changed:
			case <-ctx.Done():
				return 0, fmt.Errorf("s3 sink: wait for uploads: %w", ctx.Err())
			}
		}
	}
	if err := s.publishWatermarks(ctx, now); err != nil {
		s.log.Warn("watermark not published: the next sync retries", "err", err)
	}
	return s.durable(), nil
}

// durable is the highest Seq such that every event of every batch up to it
// is uploaded: every event not yet uploaded sits in a buffer, and holds
// back the Seq before the first batch that buffer holds.
func (s *S3Sink) durable() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durableLocked()
}

func (s *S3Sink) durableLocked() uint64 {
	d := s.written
	s.eachBuffer(func(buf *s3Buffer) { d = min(d, buf.minSeq-1) })
	return d
}

// Watermark implements Watermarker: t less WatermarkLateness is published
// as complete once every event held now with an earlier commit time is
// uploaded.
func (s *S3Sink) Watermark(t time.Time) {
	s.mu.Lock()
	if t.After(s.wm.heard) {
		s.wm.heard = t
	}
	s.mu.Unlock()
}

// LateEvents is how many events came in with a commit time before the
// watermark already published (see WatermarkLateness).
func (s *S3Sink) LateEvents() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lateEvents
}

// errSinkClosed ends what Close interrupts.
var errSinkClosed = errors.New("sink closed")

// Close implements Sink: buffered events are dropped, Writes and Syncs
// under way return an error, and the background upload round is cancelled
// and waited for: nothing is written after Close returns.
func (s *S3Sink) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.open, s.sealed, s.lastBuf = nil, nil, nil
		s.dropSpares()
		close(s.changed) // wake waiters: they see closed
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	s.stop(errSinkClosed)
	s.packs.Wait()
	s.rounds.Wait()
	return nil
}

// untilClose returns ctx, cancelled too when the sink is closed.
func (s *S3Sink) untilClose(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(s.stopped, func() { cancel(errSinkClosed) })
	return ctx, func() {
		unhook()
		cancel(nil)
	}
}
