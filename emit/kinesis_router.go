package emit

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// StreamTemplate reports whether a Kinesis stream name is a template:
// "{database}" and "{table}" stand for each event's.
func StreamTemplate(s string) bool {
	return strings.Contains(s, "{database}") || strings.Contains(s, "{table}")
}

// kinesisStreamName is what Kinesis accepts as a stream name.
var kinesisStreamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// NewKinesisRouter returns a Router that sends each event to the Kinesis
// stream its template names (cfg.Stream, e.g. "cdc-{database}-{table}"),
// through one KinesisSink per stream, opened and checked when its first
// event comes. Events without a table (database-level schema changes) go to
// databaseStream, itself a template of {database}, which is required when
// the stream template has {table}. Each stream keeps the ordering its sink
// keeps.
func NewKinesisRouter(client kinesisAPI, cfg KinesisConfig, databaseStream string, logger *slog.Logger) (*Router, error) {
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
	route := func(r *Ref) (string, error) {
		tmpl := cfg.Stream
		if r.Table == "" && strings.Contains(tmpl, "{table}") {
			tmpl = databaseStream
		}
		name := strings.NewReplacer("{database}", r.Database, "{table}", r.Table).Replace(tmpl)
		if !kinesisStreamName.MatchString(name) {
			return "", fmt.Errorf("kinesis sink: %s.%s routes to stream %q, which is not a valid Kinesis stream name (1-128 of a-z A-Z 0-9 _ . -): filter the table out or change the template", r.Database, r.Table, name)
		}
		return name, nil
	}
	open := func(ctx context.Context, name string) (Sink, error) {
		c := cfg
		c.Stream = name
		s, err := NewKinesisSink(client, c, logger)
		if err != nil {
			return nil, err
		}
		if err := s.Check(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
		logger.Info("kinesis sink: routing to a new stream", "stream", name)
		return s, nil
	}
	return NewRouter(route, open), nil
}
