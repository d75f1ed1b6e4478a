package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/ha"
)

// A sink entry in the configuration is decoded by its type into one of
// these; a key that belongs to no field of that type is an error.

type fileSinkConfig struct {
	Type string `koanf:"type"`
	Path string `koanf:"path"`
}

type stdoutSinkConfig struct {
	Type string `koanf:"type"`
}

type s3SinkConfig struct {
	Type                   string         `koanf:"type"`
	Bucket                 string         `koanf:"bucket"`
	Prefix                 string         `koanf:"prefix"`
	Layout                 string         `koanf:"layout"`
	RollBytes              int            `koanf:"roll_bytes"`
	RollAge                time.Duration  `koanf:"roll_age"`
	MaxBufferedBytes       int            `koanf:"max_buffered_bytes"`
	Concurrency            int            `koanf:"concurrency"`
	Compression            string         `koanf:"compression"` // zstd (default) | gzip | none
	CompressionLevel       int            `koanf:"compression_level"`
	CompressionWorkers     int            `koanf:"compression_workers"`
	RequestTimeout         time.Duration  `koanf:"request_timeout"`
	WatermarkInterval      *time.Duration `koanf:"watermark_interval"` // 0 turns watermarks off
	WatermarkLateness      time.Duration  `koanf:"watermark_lateness"`
	RetryBackoff           time.Duration  `koanf:"retry_backoff"`
	RetryBackoffMax        time.Duration  `koanf:"retry_backoff_max"`
	CheckConditionalWrites bool           `koanf:"check_conditional_writes"`
}

func (c *s3SinkConfig) emitConfig() emit.S3Config {
	e := emit.DefaultS3Config()
	e.Bucket, e.Prefix = c.Bucket, c.Prefix
	if c.Layout != "" {
		e.Layout = c.Layout
	}
	if c.RollBytes != 0 {
		e.RollBytes = c.RollBytes
	}
	if c.RollAge != 0 {
		e.RollAge = c.RollAge
	}
	if c.MaxBufferedBytes != 0 {
		e.MaxBufferedBytes = c.MaxBufferedBytes
	}
	if c.Concurrency != 0 {
		e.Concurrency = c.Concurrency
	}
	if c.Compression != "" {
		e.Compression = emit.Compression(c.Compression)
	}
	e.CompressionLevel, e.CompressionWorkers = c.CompressionLevel, c.CompressionWorkers
	if c.RequestTimeout != 0 {
		e.RequestTimeout = c.RequestTimeout
	}
	if c.WatermarkInterval != nil {
		e.WatermarkInterval = *c.WatermarkInterval
	}
	if c.WatermarkLateness != 0 {
		e.WatermarkLateness = c.WatermarkLateness
	}
	if c.RetryBackoff != 0 {
		e.RetryBackoff = c.RetryBackoff
	}
	if c.RetryBackoffMax != 0 {
		e.RetryBackoffMax = c.RetryBackoffMax
	}
	e.CheckConditionalWrites = c.CheckConditionalWrites
	return e
}

type kinesisSinkConfig struct {
	Type              string        `koanf:"type"`
	Stream            string        `koanf:"stream"`          // a name, or a template of {database} and {table}
	DatabaseStream    string        `koanf:"database_stream"` // with {table} in stream: where database-level events go
	PartitionKey      string        `koanf:"partition_key"`
	Columns           []string      `koanf:"columns"`  // partition_key: columns
	Ordering          string        `koanf:"ordering"` // strict (default) | relaxed
	Aggregate         bool          `koanf:"aggregate"`
	AggregateMaxBytes int           `koanf:"aggregate_max_bytes"`
	AggregateGroups   int           `koanf:"aggregate_groups"`
	MaxRecordBytes    int           `koanf:"max_record_bytes"`
	MaxInFlight       int           `koanf:"max_in_flight"`
	MaxBufferedBytes  int           `koanf:"max_buffered_bytes"`
	RequestTimeout    time.Duration `koanf:"request_timeout"`
	RetryBackoff      time.Duration `koanf:"retry_backoff"`
	RetryBackoffMax   time.Duration `koanf:"retry_backoff_max"`
}

func (c *kinesisSinkConfig) emitConfig() emit.KinesisConfig {
	e := emit.DefaultKinesisConfig()
	e.Stream = c.Stream
	if c.PartitionKey != "" {
		e.PartitionKey = emit.KinesisPartitionKey(c.PartitionKey)
	}
	e.Columns = c.Columns
	e.Aggregate = c.Aggregate
	if c.Ordering != "" {
		e.Ordering = emit.KinesisOrdering(c.Ordering)
	}
	if c.AggregateMaxBytes != 0 {
		e.AggregateMaxBytes = c.AggregateMaxBytes
	}
	if c.AggregateGroups != 0 {
		e.AggregateGroups = c.AggregateGroups
	}
	if c.MaxRecordBytes != 0 {
		e.MaxRecordBytes = c.MaxRecordBytes
	}
	if c.RetryBackoff != 0 {
		e.RetryBackoff = c.RetryBackoff
	}
	if c.RetryBackoffMax != 0 {
		e.RetryBackoffMax = c.RetryBackoffMax
	}
	if c.MaxInFlight != 0 {
		e.MaxInFlight = c.MaxInFlight
	}
	if c.MaxBufferedBytes != 0 {
		e.MaxBufferedBytes = c.MaxBufferedBytes
	}
	if c.RequestTimeout != 0 {
		e.RequestTimeout = c.RequestTimeout
	}
	return e
}

// decodeSink decodes one entry of "sinks" by its type.
func decodeSink(i int, raw map[string]any) (any, error) {
	typ, _ := raw["type"].(string)
	var out any
	switch typ {
	case "file":
		out = &fileSinkConfig{}
	case "stdout":
		out = &stdoutSinkConfig{}
	case "s3":
		// 64 MiB of events in memory at most: beyond it, writing waits for
		// uploads, and the binlog waits on the server.
		out = &s3SinkConfig{CheckConditionalWrites: true, MaxBufferedBytes: 64 << 20}
	case "kinesis":
		out = &kinesisSinkConfig{}
	case "kafka":
		out = &kafkaSinkConfig{}
	case "":
		return nil, fmt.Errorf("sinks[%d]: no type (file, stdout, s3, kinesis or kafka)", i)
	default:
		return nil, fmt.Errorf("sinks[%d].type %q: want file, stdout, s3, kinesis or kafka", i, typ)
	}
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName: "koanf", ErrorUnused: true, WeaklyTypedInput: true, Result: out,
		DecodeHook: mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return nil, err
	}
	if err := d.Decode(raw); err != nil {
		return nil, fmt.Errorf("sinks[%d] (%s): %w", i, typ, err)
	}
	switch s := out.(type) {
	case *fileSinkConfig:
		if s.Path == "" {
			return nil, fmt.Errorf("sinks[%d]: a file sink needs a path", i)
		}
	case *s3SinkConfig:
		ec := s.emitConfig()
		if err := ec.Validate(); err != nil {
			return nil, fmt.Errorf("sinks[%d] (s3): %w", i, err)
		}
		if emit.PrefixTemplate(s.Prefix) {
			if _, err := emit.NewS3Router(nil, ec, nil); err != nil {
				return nil, fmt.Errorf("sinks[%d] (s3): %w", i, err)
			}
		}
	case *kinesisSinkConfig:
		ec := s.emitConfig()
		if err := ec.Validate(); err != nil {
			return nil, fmt.Errorf("sinks[%d] (kinesis): %w", i, err)
		}
		switch {
		case emit.StreamTemplate(s.Stream):
			if _, err := emit.NewKinesisRouter(nil, ec, s.DatabaseStream, nil); err != nil {
				return nil, fmt.Errorf("sinks[%d] (kinesis): %w", i, err)
			}
		case s.DatabaseStream != "":
			return nil, fmt.Errorf("sinks[%d] (kinesis): database_stream is set but stream %q is not a template of {database} and {table}", i, s.Stream)
		}
	case *kafkaSinkConfig:
		if _, err := s.emitConfig("pipeline", ""); err != nil {
			return nil, fmt.Errorf("sinks[%d] (kafka): %w", i, err)
		}
	}
	return out, nil
}

// openSinks opens every configured sink and checks that it can be reached;
// on error none is left open.
func (c *fileConfig) openSinks(ctx context.Context, stdout io.Writer, log *slog.Logger) (_ []emit.Sink, err error) {
	var sinks []emit.Sink
	defer func() {
		if err != nil {
			for _, s := range sinks {
				_ = s.Close()
			}
		}
	}()
	for i, spec := range c.sinks {
		var s emit.Sink
		switch sc := spec.(type) {
		case *fileSinkConfig:
			if s, err = emit.OpenFile(sc.Path); err != nil {
				return nil, fmt.Errorf("sinks[%d]: %w", i, err)
			}
		case *stdoutSinkConfig:
			s = emit.NewWriterSink(stdout)
		case *s3SinkConfig:
			clients, err := c.awsClients(ctx)
			if err != nil {
				return nil, fmt.Errorf("sinks[%d] (s3): %w", i, err)
			}
			if emit.PrefixTemplate(sc.Prefix) {
				// one lake per database, opened as events come
				r, err := emit.NewS3Router(clients.s3(), sc.emitConfig(), log.With("sink", "s3"))
				if err != nil {
					return nil, fmt.Errorf("sinks[%d] (s3): %w", i, err)
				}
				sinks = append(sinks, r)
				continue
			}
			s3s, err := emit.NewS3Sink(clients.s3(), sc.emitConfig(), log.With("sink", "s3"))
			if err != nil {
				return nil, fmt.Errorf("sinks[%d] (s3): %w", i, err)
			}
			sinks = append(sinks, s3s)
			if err := s3s.Check(ctx); err != nil {
				return nil, fmt.Errorf("sinks[%d] (s3 bucket %s): %w", i, sc.Bucket, err)
			}
			continue
		case *kinesisSinkConfig:
			clients, err := c.awsClients(ctx)
			if err != nil {
				return nil, fmt.Errorf("sinks[%d] (kinesis): %w", i, err)
			}
			ec := sc.emitConfig()
			ec.Registerer = c.metrics
			if term, ok := ha.TermFromContext(ctx); ok {
				// A cluster's leader: the senders stop with the term, wait
				// while its lease is in doubt, and mark records with it.
				// Each request is abandoned within MaxWrite, and the first
				// waits MaxWrite after the election for the predecessor's.
				ec.Term, ec.Epoch = ctx, term
				if l, ok := ha.LeaseFromContext(ctx); ok {
					ec.Lease, ec.NotBefore = l.Until, l.WritesFrom()
					ec.RequestTimeout = min(ec.RequestTimeout, l.MaxWrite())
				}
			}
			if emit.StreamTemplate(sc.Stream) {
				// one stream per table or database, opened as events come
				kr, err := emit.NewKinesisRouter(clients.kinesis(), ec, sc.DatabaseStream, log.With("sink", "kinesis"))
				if err != nil {
					return nil, fmt.Errorf("sinks[%d] (kinesis): %w", i, err)
				}
				sinks = append(sinks, kr)
				continue
			}
			ks, err := emit.NewKinesisSink(clients.kinesis(), ec, log.With("sink", "kinesis"))
			if err != nil {
				return nil, fmt.Errorf("sinks[%d] (kinesis): %w", i, err)
			}
			sinks = append(sinks, ks)
			if err := ks.Check(ctx); err != nil {
				return nil, fmt.Errorf("sinks[%d] (kinesis stream %s): %w", i, sc.Stream, err)
			}
			continue
		case *kafkaSinkConfig:
			ks, err := c.openKafka(ctx, sc, log)
			if err != nil {
				return nil, fmt.Errorf("sinks[%d] (kafka): %w", i, err)
			}
			sinks = append(sinks, ks)
			if _, err := ks.Check(ctx); err != nil {
				return nil, fmt.Errorf("sinks[%d] (kafka): %w", i, err)
			}
			continue
		default:
			return nil, errors.New("unknown sink")
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}
