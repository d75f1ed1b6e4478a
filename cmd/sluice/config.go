package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/schema"
)

// fileConfig is the configuration file's shape. Keys not named here are an
// error. Every key can be overridden by an environment variable: SLUICE_
// then the key path in capitals with "__" between levels, e.g.
// SLUICE_SOURCE__PASSWORD or SLUICE_CHECKPOINT__DIR.
type fileConfig struct {
	Pipeline   string           `koanf:"pipeline"`
	Start      string           `koanf:"start"`
	Source     sourceConfig     `koanf:"source"`
	Checkpoint checkpointConfig `koanf:"checkpoint"`
	Sinks      []map[string]any `koanf:"sinks"`
	AWS        awsConfig        `koanf:"aws"`
	Output     outputConfig     `koanf:"output"`
	Log        logConfig        `koanf:"log"`
	HA         haConfig         `koanf:"ha"`
	HTTP       httpConfig       `koanf:"http"`
	Heartbeat  heartbeatConfig  `koanf:"heartbeat"`
	Compact    compactConfig    `koanf:"compact"`
	Snapshot   snapshotConfig   `koanf:"snapshot"`
	Filter     filterConfig     `koanf:"filter"`
	// SpillDir holds the spill files of large transactions (default
	// <checkpoint.dir>/spill); leftovers of a crash are removed at start.
	SpillDir string `koanf:"spill_dir"`

	sinks   []any // decoded Sinks: *fileSinkConfig, *s3SinkConfig, ...
	aws     *awsClients
	metrics prometheus.Registerer // where sinks register metrics; nil for none

	// sinkFormats is each decoded sink's format ("": output.format).
	sinkFormats map[any]pipeline.Format
	// kafka is the Kafka sink the Kafka checkpoint store writes through,
	// until openSinks hands it to the pipeline; replaying gives a replay's
	// Kafka sink its own transactional id and checkpoint key.
	kafka     *emit.KafkaSink
	replaying bool
}

type sourceConfig struct {
	Host     string `koanf:"host"`
	Port     uint16 `koanf:"port"`
	User     string `koanf:"user"`
	Password string `koanf:"password"`
	// PasswordFile is read at every connection; Auth is password or iam.
	PasswordFile string          `koanf:"password_file"`
	Auth         string          `koanf:"auth"`
	TLS          sourceTLSConfig `koanf:"tls"`
	// Hosts are tried in order at every (re)connect instead of Host.
	Hosts []string `koanf:"hosts"`
	// Resume is auto, position or gtid.
	Resume      string        `koanf:"resume"`
	ServerID    uint32        `koanf:"server_id"`
	Heartbeat   time.Duration `koanf:"heartbeat"`
	ReadTimeout time.Duration `koanf:"read_timeout"`
}

type checkpointConfig struct {
	Store string `koanf:"store"`
	// Dir holds the file checkpoint and, for every store, the schema registry.
	Dir      string        `koanf:"dir"`
	Interval time.Duration `koanf:"interval"`
	// Table and CreateTable configure the dynamodb store.
	Table       string `koanf:"table"`
	CreateTable bool   `koanf:"create_table"`
}

// snapshotConfig configures table snapshots (see docs/snapshot.md).
type snapshotConfig struct {
	// Mode is Debezium's snapshot.mode (docs/snapshot.md): never (default)
	// or no_data, initial (snapshot Tables when the pipeline starts without
	// a checkpoint), when_needed (also when the checkpoint's binlog is
	// purged) or initial_only (then stop once caught up).
	Mode string `koanf:"mode"`
	// Tables ("db.table") for the initial snapshot; empty: every table
	// with a primary key.
	Tables      []string `koanf:"tables"`
	ChunkSize   int      `koanf:"chunk_size"`
	SignalTable string   `koanf:"signal_table"`
	// WindowTimeout bounds the wait for a chunk's watermarks to come back
	// through the binlog (0: 5m).
	WindowTimeout time.Duration `koanf:"window_timeout"`
}

type outputConfig struct {
	Format   string              `koanf:"format"`
	Debezium debeziumConfig      `koanf:"debezium"`
	Maxwell  maxwellOutputConfig `koanf:"maxwell"`
}

type logConfig struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// defaultFileConfig is what an empty configuration file means: a local
// server, a file checkpoint and a file lake under ./sluice-data.
func defaultFileConfig() fileConfig {
	d := pipeline.DefaultConfig()
	return fileConfig{
		Pipeline: d.Name,
		Start:    string(d.Start),
		Source: sourceConfig{
			Host: d.Source.Host, Port: d.Source.Port, User: d.Source.User,
			Heartbeat: d.Source.HeartbeatPeriod, ReadTimeout: d.Source.ReadTimeout,
			Auth: string(binlog.AuthPassword), TLS: sourceTLSConfig{Mode: string(d.Source.TLS.Mode)},
			Resume: string(d.Source.Resume),
		},
		Checkpoint: checkpointConfig{Store: "file", Dir: "./sluice-data", Interval: d.CheckpointInterval},
		Sinks:      []map[string]any{{"type": "file", "path": "./sluice-data/events.jsonl"}},
		Output:     outputConfig{Format: "maxwell", Debezium: defaultDebeziumConfig(), Maxwell: defaultMaxwellOutput()},
		HTTP:       httpConfig{StallTimeout: 30 * time.Second},
		Heartbeat:  heartbeatConfig{Interval: time.Second},
		Log:        logConfig{Level: "info", Format: "text"},
		Snapshot:   snapshotConfig{Mode: "never", ChunkSize: d.Snapshot.ChunkSize, SignalTable: "sluice.signal"},
	}
}

// loadConfig reads path (YAML) over the defaults, then SLUICE_* variables.
func loadConfig(path string, environ func() []string) (*fileConfig, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	keys := newEnvKeys()
	err := k.Load(env.Provider(".", env.Opt{
		Prefix: "SLUICE_",
		TransformFunc: func(key, v string) (string, any) {
			// Only known key paths count: other SLUICE_ variables (the test
			// harness's SLUICE_TEST_MYSQL_DSN, a deploy tool's SLUICE_VERSION)
			// are not configuration, unless they look like a misspelt key.
			path, ok := keys.key(strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(key, "SLUICE_")), "__", "."))
			if !ok {
				return "", nil
			}
			return path, v
		},
		EnvironFunc: environ,
	}), nil)
	if err == nil {
		err = keys.err()
	}
	if err != nil {
		return nil, fmt.Errorf("config from environment: %w", err)
	}
	cfg := defaultFileConfig()
	if k.Exists("sinks") {
		cfg.Sinks = nil // a configured list replaces the default, never merges with it
	}
	err = k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(",")), // SLUICE_SNAPSHOT__TABLES=a.b,c.d
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		Result:           &cfg,
	}})
	if err != nil {
		where := "config"
		if path != "" {
			where = "config " + path
		}
		return nil, fmt.Errorf("%s: %w (see README.md for the keys)", where, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

func (c *fileConfig) validate() error {
	if c.Checkpoint.Dir == "" {
		return errors.New("checkpoint.dir is empty")
	}
	switch c.Checkpoint.Store {
	case "file":
	case "dynamodb":
		dc := c.dynamoConfig()
		if err := dc.Validate(); err != nil {
			return fmt.Errorf("checkpoint (dynamodb): %w", err)
		}
	case "kafka": // checked against the sinks below
	default:
		return fmt.Errorf("checkpoint.store %q: want file, dynamodb or kafka", c.Checkpoint.Store)
	}
	if len(c.Sinks) == 0 {
		return errors.New("sinks: configure at least one sink ({type: file, path: ...}, {type: stdout} or {type: s3, bucket: ...})")
	}
	c.sinks = c.sinks[:0]
	c.sinkFormats = map[any]pipeline.Format{}
	for i, raw := range c.Sinks {
		format, raw, err := popSinkFormat(i, raw)
		if err != nil {
			return err
		}
		spec, err := decodeSink(i, raw)
		if err != nil {
			return err
		}
		c.sinks = append(c.sinks, spec)
		c.sinkFormats[spec] = format
	}
	if c.Checkpoint.Store == "kafka" {
		if err := c.validateKafkaStore(); err != nil {
			return err
		}
	}
	if c.Output.Format != "maxwell" && c.Output.Format != "debezium" {
		return fmt.Errorf("output.format %q: want maxwell or debezium", c.Output.Format)
	}
	if err := c.Output.Debezium.validate(); err != nil {
		return err
	}
	if err := c.Output.Maxwell.validate(); err != nil {
		return err
	}
	for i, spec := range c.sinks {
		if sc, ok := spec.(*kafkaSinkConfig); ok {
			ec, _ := sc.emitConfig("pipeline", "") // checked with the sink
			if err := c.kafkaOutput(sc, &ec); err != nil {
				return fmt.Errorf("sinks[%d]: %w", i, err)
			}
		}
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.haEnabled() {
		if c.Checkpoint.Store != "dynamodb" {
			return errors.New("ha: a cluster needs a checkpoint store every node shares and that fences a deposed leader: set checkpoint.store: dynamodb")
		}
		if _, err := c.haNodeConfig(nil); err != nil {
			return err
		}
	}
	if err := c.Snapshot.validateMode(c.haEnabled()); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
	}
	if err := c.Filter.load(); err != nil {
		return err
	}
	if c.HTTP.StatusSample != 0 && c.HTTP.StatusSample < 100*time.Millisecond {
		return fmt.Errorf("http.status_sample %s: want 100ms or more (the page keeps an hour of samples), or leave it unset for 5s", c.HTTP.StatusSample)
	}
	pc := c.pipelineConfig(nil)
	return pc.Validate()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log.level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func (c *fileConfig) logger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (c *fileConfig) pipelineConfig(log *slog.Logger) pipeline.Config {
	pc := pipeline.DefaultConfig()
	pc.Name = c.Pipeline
	pc.Start = pipeline.Start(c.Start)
	pc.SchemaPath = c.schemaPath()
	c.sourceBinlogConfig(&pc.Source)
	pc.CheckpointInterval = c.Checkpoint.Interval
	pc.SpillDir = c.spillDir()
	pc.HeartbeatTable, pc.HeartbeatInterval = c.Heartbeat.Table, c.Heartbeat.Interval
	pc.Format = pipeline.Format(c.Output.Format)
	pc.Debezium = c.Output.Debezium.options()
	pc.SinkFormats = c.sinkFormatList()
	pc.Maxwell = c.Output.Maxwell.options()
	pc.Snapshot.SignalTable, pc.Snapshot.ChunkSize = c.Snapshot.SignalTable, c.Snapshot.ChunkSize
	pc.Snapshot.WindowTimeout = c.Snapshot.WindowTimeout
	if c.Snapshot.takesInitial() {
		pc.Snapshot.Initial = c.Snapshot.Tables
		pc.Snapshot.InitialAll = len(c.Snapshot.Tables) == 0
	}
	pc.Snapshot.WhenNeeded = c.Snapshot.Mode == snapshotWhenNeeded
	pc.ExitWhenCaughtUp = c.Snapshot.Mode == snapshotInitialOnly
	pc.Filter = c.Filter.filter()
	pc.Logger = log
	pc.Source.Logger = log
	return pc
}

// spillDir is where large transactions spill: spill_dir, or a directory
// under the checkpoint's, which the running pipeline's lock covers.
func (c *fileConfig) spillDir() string {
	if c.SpillDir != "" {
		return c.SpillDir
	}
	return filepath.Join(c.Checkpoint.Dir, "spill")
}

// schemaPath is where the table-version registry lives: next to the checkpoint.
func (c *fileConfig) schemaPath() string {
	return filepath.Join(c.Checkpoint.Dir, c.Pipeline+".schema.json")
}

// schemaStore is where the registry lives. With a shared checkpoint store
// (dynamodb: several nodes) it goes to the lake, <prefix>/_schemas/, so a
// new leader numbers table versions as the old one did and its re-emitted
// events are byte-identical; otherwise next to the file checkpoint.
func (c *fileConfig) schemaStore(ctx context.Context) (schema.Store, error) {
	if c.Checkpoint.Store == "dynamodb" {
		for _, spec := range c.sinks {
			if s3c, ok := spec.(*s3SinkConfig); ok {
				clients, err := c.awsClients(ctx)
				if err != nil {
					return nil, err
				}
				prefix, _, _ := strings.Cut(s3c.Prefix, "{") // a template's fixed part
				key := path.Join(prefix, "_schemas", c.Pipeline+".json")
				return emit.NewS3Object(clients.s3(), s3c.Bucket, key).WithTimeout(c.AWS.CallTimeout), nil
			}
		}
	}
	return schema.FileStore(c.schemaPath()), nil
}

func (c *fileConfig) dynamoConfig() checkpoint.DynamoConfig {
	return checkpoint.DynamoConfig{Table: c.Checkpoint.Table, Pipeline: c.Pipeline, CreateTable: c.Checkpoint.CreateTable, CallTimeout: c.AWS.CallTimeout}
}

// awsClients builds the AWS clients on first use.
func (c *fileConfig) awsClients(ctx context.Context) (*awsClients, error) {
	if c.aws == nil {
		a, err := newAWSClients(ctx, c.AWS)
		if err != nil {
			return nil, err
		}
		c.aws = a
	}
	return c.aws, nil
}

// loadCheckpointStore is checkpointStore for commands that only load the
// checkpoint (checkpoint show, status, snapshot's wait): with the Kafka
// store a plain reader, no transactional producer that could fence the
// running pipeline's.
func (c *fileConfig) loadCheckpointStore(ctx context.Context) (checkpoint.Store, error) {
	if c.Checkpoint.Store == "kafka" {
		return c.kafkaReadStore(ctx)
	}
	return c.checkpointStore(ctx)
}

func (c *fileConfig) checkpointStore(ctx context.Context) (checkpoint.Store, error) {
	if c.Checkpoint.Store == "dynamodb" {
		clients, err := c.awsClients(ctx)
		if err != nil {
			return nil, fmt.Errorf("checkpoint (dynamodb): %w", err)
		}
		return checkpoint.NewDynamoStore(ctx, clients.dynamodb(), c.dynamoConfig())
	}
	if c.Checkpoint.Store == "kafka" {
		return c.kafkaCheckpointStore(ctx)
	}
	return checkpoint.NewFileStore(c.Checkpoint.Dir, c.Pipeline)
}
