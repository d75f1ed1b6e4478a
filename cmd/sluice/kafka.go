package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/ha"
	"github.com/sluicecdc/sluice/pipeline"
)

// kafkaSinkConfig is a sink entry of type kafka (see docs/kafka.md).
type kafkaSinkConfig struct {
	Type               string          `koanf:"type"`
	Brokers            []string        `koanf:"brokers"`
	Topic              string          `koanf:"topic"`
	Key                string          `koanf:"key"`         // maxwell | debezium; default from the format and output.debezium.key
	Compression        string          `koanf:"compression"` // none | gzip | snappy | lz4 | zstd
	MaxRecordBytes     int             `koanf:"max_record_bytes"`
	MaxBufferedBytes   int             `koanf:"max_buffered_bytes"`
	CheckpointTopic    string          `koanf:"checkpoint_topic"`
	TransactionalID    string          `koanf:"transactional_id"` // default: the pipeline's name
	TransactionTimeout time.Duration   `koanf:"transaction_timeout"`
	TLS                kafkaTLSConfig  `koanf:"tls"`
	SASL               kafkaSASLConfig `koanf:"sasl"`
}

type kafkaTLSConfig struct {
	Enabled            bool   `koanf:"enabled"`
	CAFile             string `koanf:"ca_file"`
	CertFile           string `koanf:"cert_file"`
	KeyFile            string `koanf:"key_file"`
	ServerName         string `koanf:"server_name"`
	InsecureSkipVerify bool   `koanf:"insecure_skip_verify"`
}

type kafkaSASLConfig struct {
	Mechanism    string `koanf:"mechanism"` // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | AWS_MSK_IAM
	Username     string `koanf:"username"`
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password_file"`
}

// emitConfig is the sink's config for pipeline; suffix (".replay" for a
// replay) keeps a second writer off the pipeline's transactional id and
// checkpoint record.
func (sc *kafkaSinkConfig) emitConfig(pipeline, suffix string) (emit.KafkaConfig, error) {
	e := emit.DefaultKafkaConfig()
	for _, b := range sc.Brokers {
		for _, s := range strings.Split(b, ",") { // SLUICE_SINKS__0__BROKERS="a:9092,b:9092"
			if s = strings.TrimSpace(s); s != "" {
				e.Brokers = append(e.Brokers, s)
			}
		}
	}
	if sc.Topic != "" {
		e.Topic = sc.Topic
	}
	if sc.Key != "" {
		e.Key = emit.KafkaKey(sc.Key)
	}
	if sc.Compression != "" {
		e.Compression = sc.Compression
	}
	if sc.MaxRecordBytes != 0 {
		e.MaxRecordBytes = sc.MaxRecordBytes
	}
	if sc.MaxBufferedBytes != 0 {
		e.MaxBufferedBytes = sc.MaxBufferedBytes
	}
	if sc.CheckpointTopic != "" {
		e.CheckpointTopic = sc.CheckpointTopic
	}
	if sc.TransactionTimeout != 0 {
		e.TransactionTimeout = sc.TransactionTimeout
	}
	e.TransactionalID = pipeline
	if sc.TransactionalID != "" {
		e.TransactionalID = sc.TransactionalID
	}
	e.TransactionalID += suffix
	e.Pipeline = pipeline + suffix
	e.TLS = emit.KafkaTLS{Enabled: sc.TLS.Enabled, CAFile: sc.TLS.CAFile, CertFile: sc.TLS.CertFile, KeyFile: sc.TLS.KeyFile,
		ServerName: sc.TLS.ServerName, InsecureSkipVerify: sc.TLS.InsecureSkipVerify}
	e.SASL = emit.KafkaSASL{Mechanism: sc.SASL.Mechanism, Username: sc.SASL.Username, Password: sc.SASL.Password}
	if sc.SASL.PasswordFile != "" {
		if sc.SASL.Password != "" {
			return e, errors.New("sasl: password and password_file are exclusive")
		}
		b, err := os.ReadFile(sc.SASL.PasswordFile)
		if err != nil {
			return e, fmt.Errorf("sasl password_file: %w", err)
		}
		e.SASL.Password = strings.TrimRight(string(b), "\r\n")
	}
	if e.SASL.Mechanism == "AWS_MSK_IAM" {
		// Set for Validate; openKafka puts the SDK's credentials in.
		e.SASL.AWSCredentials = func(context.Context) (string, string, string, error) {
			return "", "", "", errors.New("no AWS credentials")
		}
	}
	return e, e.Validate()
}

// maxBufferedBytes is the sink's memory cap, max_buffered_bytes or its
// default.
func (sc *kafkaSinkConfig) maxBufferedBytes() int {
	if sc.MaxBufferedBytes != 0 {
		return sc.MaxBufferedBytes
	}
	return emit.DefaultKafkaConfig().MaxBufferedBytes
}

// kafkaConfig is sc's sink config with the AWS SDK's credentials for
// AWS_MSK_IAM.
func (c *fileConfig) kafkaConfig(ctx context.Context, sc *kafkaSinkConfig) (emit.KafkaConfig, error) {
	suffix := ""
	if c.replaying {
		suffix = ".replay"
	}
	ec, err := sc.emitConfig(c.Pipeline, suffix)
	if err != nil {
		return ec, err
	}
	if err := c.kafkaOutput(sc, &ec); err != nil {
		return ec, err
	}
	if ec.SASL.Mechanism == "AWS_MSK_IAM" {
		clients, err := c.awsClients(ctx)
		if err != nil {
			return ec, err
		}
		creds := clients.cfg.Credentials
		ec.SASL.AWSCredentials = func(ctx context.Context) (string, string, string, error) {
			v, err := creds.Retrieve(ctx)
			return v.AccessKeyID, v.SecretAccessKey, v.SessionToken, err
		}
	}
	return ec, nil
}

// openKafka opens the Kafka sink of sc, not yet connected. The Kafka
// checkpoint store and the sink share one transactional producer: the one
// checkpointStore opens waits in c.kafka for openSinks to hand over.
func (c *fileConfig) openKafka(ctx context.Context, sc *kafkaSinkConfig, log *slog.Logger) (*emit.KafkaSink, error) {
	if !c.replaying && c.kafka != nil {
		s := c.kafka
		c.kafka = nil
		return s, nil
	}
	ec, err := c.kafkaConfig(ctx, sc)
	if err != nil {
		return nil, err
	}
	if term, ok := ha.TermFromContext(ctx); ok {
		ec.Term, ec.Epoch = ctx, term
	}
	if log == nil {
		log = slog.Default()
	}
	return emit.NewKafkaSink(ec, log.With("sink", "kafka"))
}

// kafkaOutput sets what of ec follows the sink's format: with Debezium
// events, the record key is output.debezium.key's (the key document, or
// Maxwell's key when false) and tombstones are output.debezium.tombstones.
// The sink's own key: may only repeat what output.debezium.key says.
func (c *fileConfig) kafkaOutput(sc *kafkaSinkConfig, ec *emit.KafkaConfig) error {
	format := c.sinkFormats[sc]
	if format == "" {
		format = pipeline.Format(c.Output.Format)
	}
	if format != pipeline.FormatDebezium {
		return nil
	}
	ec.Debezium = true
	ec.Tombstones = c.Output.Debezium.Tombstones
	want := emit.KafkaKeyMaxwell
	if c.Output.Debezium.Key {
		want = emit.KafkaKeyDebezium
	}
	if sc.Key != "" && emit.KafkaKey(sc.Key) != want {
		return fmt.Errorf("kafka sink key: %s contradicts output.debezium.key: %v: leave the sink's key out (it follows output.debezium.key) or change output.debezium.key", sc.Key, c.Output.Debezium.Key)
	}
	ec.Key = want
	return ec.Validate()
}

// kafkaSinkSpec returns the configured Kafka sink, if any.
func (c *fileConfig) kafkaSinkSpec() *kafkaSinkConfig {
	for _, spec := range c.sinks {
		if k, ok := spec.(*kafkaSinkConfig); ok {
			return k
		}
	}
	return nil
}

// validateKafkaStore checks checkpoint.store: kafka against the sinks.
func (c *fileConfig) validateKafkaStore() error {
	if len(c.sinks) != 1 || c.kafkaSinkSpec() == nil {
		return errors.New("checkpoint.store: kafka keeps the checkpoint in the Kafka sink's transactions: configure exactly one sink, of type kafka (with other sinks use file or dynamodb)")
	}
	return nil
}

// kafkaStoreConfig is the Kafka sink's config and client options, which
// the Kafka checkpoint store uses.
func (c *fileConfig) kafkaStoreConfig(ctx context.Context) (emit.KafkaConfig, []kgo.Opt, error) {
	sc := c.kafkaSinkSpec()
	if sc == nil {
		return emit.KafkaConfig{}, nil, errors.New("checkpoint.store: kafka needs a sink of type kafka")
	}
	ec, err := c.kafkaConfig(ctx, sc)
	if err != nil {
		return ec, nil, fmt.Errorf("checkpoint (kafka): %w", err)
	}
	opts, err := ec.ClientOpts()
	if err != nil {
		return ec, nil, fmt.Errorf("checkpoint (kafka): %w", err)
	}
	return ec, opts, nil
}

// kafkaReadStore is the Kafka checkpoint store opened read-only: it loads
// with a plain client and writes nothing.
func (c *fileConfig) kafkaReadStore(ctx context.Context) (checkpoint.Store, error) {
	ec, opts, err := c.kafkaStoreConfig(ctx)
	if err != nil {
		return nil, err
	}
	// The pipeline's own key: a replay's config reads where the pipeline is.
	return checkpoint.NewKafkaStore(opts, ec.CheckpointTopic, c.Pipeline, nil), nil
}

// kafkaCheckpointStore is the Kafka store, with the sink that writes it.
func (c *fileConfig) kafkaCheckpointStore(ctx context.Context) (checkpoint.Store, error) {
	if c.replaying {
		return c.kafkaReadStore(ctx) // a replay only reads where the pipeline is
	}
	ec, opts, err := c.kafkaStoreConfig(ctx)
	if err != nil {
		return nil, err
	}
	if c.kafka != nil {
		_ = c.kafka.Close() // a previous term's, never handed to a pipeline
	}
	if c.kafka, err = emit.NewKafkaSink(ec, slog.Default().With("sink", "kafka")); err != nil {
		return nil, fmt.Errorf("checkpoint (kafka): %w", err)
	}
	return checkpoint.NewKafkaStore(opts, ec.CheckpointTopic, ec.Pipeline, c.kafka), nil
}
