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

	sinks   []any // decoded Sinks: *fileSinkConfig, *s3SinkConfig, ...
	aws     *awsClients
	metrics prometheus.Registerer // where sinks register metrics; nil for none
	// kafka is the Kafka sink the Kafka checkpoint store writes through,
	// until openSinks hands it to the pipeline; replaying gives a replay's
	// Kafka sink its own transactional id and checkpoint key.
	kafka     *emit.KafkaSink
	replaying bool
}

type sourceConfig struct {
	Host        string        `koanf:"host"`
	Port        uint16        `koanf:"port"`
	User        string        `koanf:"user"`
	Password    string        `koanf:"password"`
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
	// Mode is never (default) or initial: snapshot Tables when the
	// pipeline starts without a checkpoint.
	Mode string `koanf:"mode"`
	// Tables ("db.table") for the initial snapshot; empty: every table
	// with a primary key.
	Tables      []string `koanf:"tables"`
	ChunkSize   int      `koanf:"chunk_size"`
	SignalTable string   `koanf:"signal_table"`
}

type outputConfig struct {
	Format string `koanf:"format"`
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
		},
		Checkpoint: checkpointConfig{Store: "file", Dir: "./sluice-data", Interval: d.CheckpointInterval},
		Sinks:      []map[string]any{{"type": "file", "path": "./sluice-data/events.jsonl"}},
		Output:     outputConfig{Format: "maxwell"},
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
	err := k.Load(env.Provider(".", env.Opt{
		Prefix: "SLUICE_",
		TransformFunc: func(key, v string) (string, any) {
			key = strings.ToLower(strings.TrimPrefix(key, "SLUICE_"))
			if key == "test_mysql_dsn" {
				return "", nil // the test harness's variable, not a key
			}
			return strings.ReplaceAll(key, "__", "."), v
		},
		EnvironFunc: environ,
	}), nil)
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
	for i, raw := range c.Sinks {
		spec, err := decodeSink(i, raw)
		if err != nil {
			return err
		}
		c.sinks = append(c.sinks, spec)
	}
	if c.Checkpoint.Store == "kafka" {
		if err := c.validateKafkaStore(); err != nil {
			return err
		}
	}
	if c.Output.Format != "maxwell" && c.Output.Format != "debezium" {
		return fmt.Errorf("output.format %q: want maxwell or debezium", c.Output.Format)
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
	if c.Snapshot.Mode != "never" && c.Snapshot.Mode != "initial" {
		return fmt.Errorf("snapshot.mode %q: want never or initial", c.Snapshot.Mode)
	}
	if c.Snapshot.Mode == "never" && len(c.Snapshot.Tables) > 0 {
		return errors.New("snapshot.tables lists tables for the initial snapshot, but snapshot.mode is never: set snapshot.mode: initial, or request snapshots with `sluice snapshot --table`")
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
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
	pc.Source.Host = c.Source.Host
	pc.Source.Port = c.Source.Port
	pc.Source.User = c.Source.User
	pc.Source.Password = c.Source.Password
	pc.Source.ServerID = c.Source.ServerID
	pc.Source.HeartbeatPeriod = c.Source.Heartbeat
	pc.Source.ReadTimeout = c.Source.ReadTimeout
	pc.CheckpointInterval = c.Checkpoint.Interval
	pc.HeartbeatTable, pc.HeartbeatInterval = c.Heartbeat.Table, c.Heartbeat.Interval
	pc.Format = pipeline.Format(c.Output.Format)
	pc.Snapshot.SignalTable, pc.Snapshot.ChunkSize = c.Snapshot.SignalTable, c.Snapshot.ChunkSize
	if c.Snapshot.Mode == "initial" {
		pc.Snapshot.Initial = c.Snapshot.Tables
		pc.Snapshot.InitialAll = len(c.Snapshot.Tables) == 0
	}
	pc.Logger = log
	pc.Source.Logger = log
	return pc
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
				key := path.Join(s3c.Prefix, "_schemas", c.Pipeline+".json")
				return emit.NewS3Object(clients.s3(), s3c.Bucket, key), nil
			}
		}
	}
	return schema.FileStore(c.schemaPath()), nil
}

func (c *fileConfig) dynamoConfig() checkpoint.DynamoConfig {
	return checkpoint.DynamoConfig{Table: c.Checkpoint.Table, Pipeline: c.Pipeline, CreateTable: c.Checkpoint.CreateTable}
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
