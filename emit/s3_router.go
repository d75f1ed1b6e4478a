package emit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// PrefixTemplate reports whether an S3 prefix is a template: "{database}"
// stands for each event's database.
func PrefixTemplate(s string) bool { return strings.Contains(s, "{") }

// NewS3Router returns a Router that writes each event to the lake under the
// prefix its template names (cfg.Prefix, e.g. "raw/{database}"): one
// S3Sink per database, each with its own objects, manifests and
// watermarks under its prefix, opened and checked when its first event
// comes. Compact each database's lake with its own prefix.
func NewS3Router(client s3API, cfg S3Config, logger *slog.Logger) (*Router, error) {
	rest := strings.ReplaceAll(cfg.Prefix, "{database}", "")
	if !strings.Contains(cfg.Prefix, "{database}") || strings.ContainsAny(rest, "{}") {
		return nil, fmt.Errorf("s3 sink: prefix %q: the only token a prefix takes is {database} (the layout has {table})", cfg.Prefix)
	}
	probe := cfg
	probe.Prefix = strings.ReplaceAll(cfg.Prefix, "{database}", "db")
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	route := func(r *Ref) (string, error) {
		if r.Database == "" || strings.ContainsAny(r.Database, "/") {
			return "", fmt.Errorf("s3 sink: database %q cannot name a prefix", r.Database)
		}
		return strings.ReplaceAll(cfg.Prefix, "{database}", r.Database), nil
	}
	open := func(ctx context.Context, prefix string) (Sink, error) {
		c := cfg
		c.Prefix = prefix
		s, err := NewS3Sink(client, c, logger.With("prefix", prefix))
		if err != nil {
			return nil, err
		}
		if err := s.Check(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
		logger.Info("s3 sink: writing a new prefix", "prefix", prefix)
		return s, nil
	}
	return NewRouter(route, open), nil
}
