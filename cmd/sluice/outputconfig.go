package main

import (
	"fmt"

	"github.com/sluicecdc/sluice/event"
)

// maxwellOutputConfig is output.maxwell: the optional fields of Maxwell
// events, under Maxwell's output_* names (see docs/output.md).
type maxwellOutputConfig struct {
	// PrimaryKey is array (Maxwell's [1]), object ({"id":1}) or none.
	PrimaryKey        string `koanf:"primary_key"`
	PrimaryKeyColumns bool   `koanf:"primary_key_columns"`
	DDL               bool   `koanf:"ddl"`
	BinlogPosition    bool   `koanf:"binlog_position"`
	GTID              bool   `koanf:"gtid"`
	ServerID          bool   `koanf:"server_id"`
	CommitInfo        bool   `koanf:"commit_info"`
	XOffset           bool   `koanf:"xoffset"`
	Nulls             bool   `koanf:"nulls"`
	ThreadID          bool   `koanf:"thread_id"`
	RowQuery          bool   `koanf:"row_query"`
	DedupeKey         bool   `koanf:"dedupe_key"`
	SchemaVersion     bool   `koanf:"schema_version"`
}

// defaultMaxwellOutput is sluice's default output (event.DefaultMaxwellOptions).
func defaultMaxwellOutput() maxwellOutputConfig {
	d := event.DefaultMaxwellOptions()
	return maxwellOutputConfig{
		PrimaryKey: "array", PrimaryKeyColumns: d.PrimaryKeyColumns, DDL: true, BinlogPosition: d.Position, GTID: d.GTID,
		ServerID: d.ServerID, CommitInfo: true, XOffset: true, Nulls: true, DedupeKey: d.DedupeKey, SchemaVersion: d.SchemaVersion,
	}
}

func (c *maxwellOutputConfig) validate() error {
	switch c.PrimaryKey {
	case "array", "object", "none":
	default:
		return fmt.Errorf("output.maxwell.primary_key %q: want array (Maxwell's [1]), object ({\"id\":1}) or none", c.PrimaryKey)
	}
	return nil
}

func (c *maxwellOutputConfig) options() event.MaxwellOptions {
	return event.MaxwellOptions{
		Position: c.BinlogPosition, GTID: c.GTID, ServerID: c.ServerID, ThreadID: c.ThreadID,
		PrimaryKey: c.PrimaryKey != "none", PrimaryKeyObject: c.PrimaryKey == "object", PrimaryKeyColumns: c.PrimaryKeyColumns,
		RowQuery: c.RowQuery, DedupeKey: c.DedupeKey, SchemaVersion: c.SchemaVersion,
		NoCommitInfo: !c.CommitInfo, NoXOffset: !c.XOffset, NoNulls: !c.Nulls, NoDDL: !c.DDL,
	}
}
