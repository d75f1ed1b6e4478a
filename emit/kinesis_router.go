package emit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// StreamTemplate reports whether a Kinesis stream name is a template:
// "{database}" and "{table}" stand for each event's.
func StreamTemplate(s string) bool {
	return strings.Contains(s, "{database}") || strings.Contains(s, "{table}")
}

// kinesisStreamName is what Kinesis accepts as a stream name.
var kinesisStreamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// KinesisRouter sends each event to the Kinesis stream its template
// names (KinesisConfig.Stream, e.g. "cdc-{database}-{table}"), through one
// KinesisSink per stream, opened and checked when its first event comes.
// Events without a table (database-level schema changes) go to
// DatabaseStream, itself a template of {database}. Each stream keeps the
// ordering its sink keeps; a batch is durable once every stream that got a
// part of it has made that part durable.
type KinesisRouter struct {
	api            kinesisAPI
	cfg            KinesisConfig
	databaseStream string
	log            *slog.Logger

	mu      sync.Mutex
	sinks   map[string]*routedSink
	written uint64 // Seq of the last batch every stream got its part of
	closed  bool
}

type routedSink struct {
	sink    *KinesisSink
	written uint64 // Seq of the last batch it got a part of
}

var _ Sink = (*KinesisRouter)(nil)

// NewKinesisRouter returns a router; cfg.Stream is the template.
// databaseStream may be empty when the template has no {table}.
func NewKinesisRouter(client kinesisAPI, cfg KinesisConfig, databaseStream string, logger *slog.Logger) (*KinesisRouter, error) {
	probe := cfg
	probe.Stream = "probe"
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	if !StreamTemplate(cfg.Stream) {
		return nil, fmt.Errorf("kinesis sink: stream %q has no {database} or {table}: not a template", cfg.Stream)
	}
	if strings.Contains(cfg.Stream, "{table}") && databaseStream == "" {
		return nil, fmt.Errorf("kinesis sink: stream %q names a stream per table: set database_stream (e.g. \"cdc-{database}\") for the schema changes of whole databases", cfg.Stream)
	}
	if strings.Contains(databaseStream, "{table}") {
		return nil, fmt.Errorf("kinesis sink: database_stream %q: database-level events have no {table}", databaseStream)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &KinesisRouter{api: client, cfg: cfg, databaseStream: databaseStream, log: logger, sinks: map[string]*routedSink{}}, nil
}

// stream renders the stream of an event.
func (k *KinesisRouter) stream(r *Ref) (string, error) {
	tmpl := k.cfg.Stream
	if r.Table == "" && strings.Contains(tmpl, "{table}") {
		tmpl = k.databaseStream
	}
	name := strings.NewReplacer("{database}", r.Database, "{table}", r.Table).Replace(tmpl)
	if !kinesisStreamName.MatchString(name) {
		return "", fmt.Errorf("kinesis sink: %s.%s routes to stream %q, which is not a valid Kinesis stream name (1-128 of a-z A-Z 0-9 _ . -): filter the table out or change the template", r.Database, r.Table, name)
	}
	return name, nil
}

// open returns the sink of a stream, opening and checking it on first use.
func (k *KinesisRouter) open(ctx context.Context, name string) (*routedSink, error) {
	k.mu.Lock()
	rs, ok := k.sinks[name]
	closed := k.closed
	k.mu.Unlock()
	if ok {
		return rs, nil
	}
	if closed {
		return nil, errors.New("kinesis sink: closed")
	}
	cfg := k.cfg
	cfg.Stream = name
	s, err := NewKinesisSink(k.api, cfg, k.log)
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	k.log.Info("kinesis sink: routing to a new stream", "stream", name)
	rs = &routedSink{sink: s}
	k.mu.Lock()
	k.sinks[name] = rs
	k.mu.Unlock()
	return rs, nil
}

// Write implements Sink: it splits b by stream and writes each part, a
// batch of the same Seq, to its stream's sink. It copies what it keeps and
// releases b.
func (k *KinesisRouter) Write(ctx context.Context, b *Batch) error {
	defer b.Release()
	parts := map[string]*Batch{}
	var order []string
	for i := range b.Events {
		r := b.Events[i]
		name, err := k.stream(&r)
		if err != nil {
			return err
		}
		p, ok := parts[name]
		if !ok {
			p = &Batch{Seq: b.Seq}
			p.Hold(1, nil)
			parts[name] = p
			order = append(order, name)
		}
		off := len(p.Data)
		p.Data = append(p.Data, b.Data[r.Off:r.Off+r.Len+1]...) // with its '\n'
		r.Off = off
		p.Events = append(p.Events, r)
	}
	for _, name := range order {
		rs, err := k.open(ctx, name)
		if err != nil {
			return err
		}
		if err := rs.sink.Write(ctx, parts[name]); err != nil {
			return fmt.Errorf("kinesis stream %s: %w", name, err)
		}
		k.mu.Lock()
		rs.written = b.Seq
		k.mu.Unlock()
	}
	k.mu.Lock()
	k.written = b.Seq
	k.mu.Unlock()
	return nil
}

// Sync implements Sink: the last batch whose every part is durable.
func (k *KinesisRouter) Sync(ctx context.Context, force bool) (uint64, error) {
	k.mu.Lock()
	durable := k.written
	type state struct {
		name    string
		sink    *KinesisSink
		written uint64
	}
	states := make([]state, 0, len(k.sinks))
	for name, rs := range k.sinks {
		states = append(states, state{name, rs.sink, rs.written})
	}
	k.mu.Unlock()
	for _, st := range states {
		d, err := st.sink.Sync(ctx, force)
		if err != nil {
			return 0, fmt.Errorf("kinesis stream %s: %w", st.name, err)
		}
		if d < st.written {
			// Its parts after d are not durable yet (nor, conservatively,
			// any batch after d).
			durable = min(durable, d)
		}
	}
	return durable, nil
}

// Close implements Sink: it closes every stream's sink.
func (k *KinesisRouter) Close() error {
	k.mu.Lock()
	k.closed = true
	sinks := k.sinks
	k.sinks = map[string]*routedSink{}
	k.mu.Unlock()
	var errs []error
	for _, rs := range sinks {
		errs = append(errs, rs.sink.Close())
	}
	return errors.Join(errs...)
}
