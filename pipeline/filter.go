package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/filter"
)

// FilterError is a filter that cannot work on the live schema (it drops a
// primary key column); the message names the fix.
type FilterError struct{ Err error }

func (e *FilterError) Error() string { return e.Err.Error() }
func (e *FilterError) Unwrap() error { return e.Err }

// SchemaColumns lists the source's base-table columns in order, for a
// filter report. Tables the user cannot see are not listed.
func SchemaColumns(ctx context.Context, src *binlog.Config) ([]filter.Column, error) {
	conn, err := binlog.Connect(ctx, src)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	r, err := conn.Execute(`SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_KEY = 'PRI'
		FROM information_schema.COLUMNS c JOIN information_schema.TABLES t
		ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
		WHERE t.TABLE_TYPE = 'BASE TABLE'
		ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`)
	if err != nil {
		return nil, fmt.Errorf("list the source's columns on %s: %w", src.Addr(), err)
	}
	cols := make([]filter.Column, 0, r.RowNumber())
	for i := range r.RowNumber() {
		db, _ := r.GetString(i, 0)
		table, _ := r.GetString(i, 1)
		name, _ := r.GetString(i, 2)
		key, _ := r.GetInt(i, 3)
		cols = append(cols, filter.Column{Database: db, Table: table, Name: name, Key: key == 1})
	}
	return cols, nil
}

// ownTables are sluice's tables, never streamed whatever the filter says.
func (c *Config) ownTables() []string {
	own := []string{c.Snapshot.SignalTable}
	if c.HeartbeatTable != "" {
		own = append(own, c.HeartbeatTable)
	}
	return own
}

// FilterReport applies the configured filter to the live schema.
func FilterReport(ctx context.Context, cfg *Config) (*filter.Report, error) {
	f, err := filter.New(cfg.Filter)
	if err != nil {
		return nil, err
	}
	cols, err := SchemaColumns(ctx, &cfg.Source)
	if err != nil {
		return nil, err
	}
	r := reportOf(f, cfg, cols)
	return &r, nil
}

func reportOf(f *filter.Filter, cfg *Config, cols []filter.Column) filter.Report {
	own := cfg.ownTables()
	cols = slices.DeleteFunc(slices.Clone(cols), func(c filter.Column) bool {
		return slices.Contains(own, c.Database+"."+c.Table)
	})
	return f.Apply(cols)
}

// checkFilter applies the filter to the live schema at start: it halts on a
// filter the rows would halt on, warns of patterns that match nothing, and
// logs the tables a change of filter since the checkpoint adds or removes.
func (p *Pipeline) checkFilter(ctx context.Context, cp *checkpoint.Checkpoint) error {
	now := p.cfg.Filter.String()
	changed := cp != nil && cp.Filter != "" && cp.Filter != now
	if p.cfg.Filter.IsZero() && !changed {
		return nil
	}
	cols, err := SchemaColumns(ctx, &p.cfg.Source)
	if err != nil {
		p.log.Warn("filter: the live schema could not be listed to check the filter", "err", err.Error())
		return nil
	}
	r := reportOf(p.filter, &p.cfg, cols)
	if len(r.Problems) > 0 {
		return &FilterError{Err: fmt.Errorf("filter: %s", r.Problems[0])}
	}
	for _, u := range r.Unmatched {
		p.log.Warn("filter: a pattern matches nothing in the live schema", "pattern", u)
	}
	p.log.Info("filter", "tables_streamed", len(r.Streamed), "tables_excluded", len(r.Excluded))
	if !changed {
		return nil
	}
	before, err := filter.Parse(cp.Filter)
	if err != nil {
		p.log.Warn("filter: the checkpoint's filter is unreadable", "err", err.Error())
		return nil
	}
	before.HashKey = p.cfg.Filter.HashKey
	old, err := filter.New(before)
	if err != nil {
		p.log.Warn("filter: the checkpoint's filter is unreadable", "err", err.Error())
		return nil
	}
	was := reportOf(old, &p.cfg, cols)
	added, removed := filter.Diff(&was, &r)
	p.log.Warn("filter changed since the checkpoint: tables added stream from here on without their earlier rows (snapshot them to backfill); tables removed stop streaming",
		"before", cp.Filter, "now", now, "tables_added", added, "tables_removed", removed)
	return nil
}
