// Package event is sluice's change-event model: rows decoded from the binlog,
// the transaction facts known only at commit, binlog positions, and the JSON
// encodings consumers read.
package event

import (
	"strconv"

	"github.com/sluicecdc/sluice/event/position"
	"github.com/sluicecdc/sluice/schema"
)

// Type is what happened to a row.
type Type uint8

// Row change types.
const (
	Insert Type = iota + 1
	Update
	Delete
	// BootstrapInsert is a row read by a snapshot rather than the binlog.
	BootstrapInsert
)

var typeNames = [...]string{Insert: "insert", Update: "update", Delete: "delete", BootstrapInsert: "bootstrap-insert"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "type-" + strconv.Itoa(int(t))
}

// Position is a place in a server's binlog; see package position.
type Position = position.Position

// ParsePosition parses "file:offset".
func ParsePosition(s string) (Position, error) { return position.Parse(s) }

// Row is one changed row, as decoded from one rows event.
type Row struct {
	Table *schema.Table
	Type  Type
	// Before is the row image before the change (updates and deletes), After
	// the image after it (inserts and updates). Values are as go-mysql's
	// replication package decodes them.
	Before, After []any
	// Pos is the position of the rows event that holds the row, Index the
	// row's index within that event. With the server id they form the row's
	// dedupe key, which a replay of the same binlog reproduces exactly.
	Pos   Position
	Index int
	// Last marks a snapshot's last row: the last that goes out of the
	// final chunk of the last table queued (source.snapshot "last" in the
	// Debezium format).
	Last bool
	// Query is the statement that wrote the row, when the binlog carries
	// it (MariaDB annotate rows, MySQL rows query events).
	Query string
}

// Tx holds the facts about a transaction that are known when it begins.
type Tx struct {
	ServerID uint32
	// GTID is the transaction's global id, when the server writes them.
	GTID string
	// Thread is the id of the client connection that ran the transaction
	// (0 when the binlog does not say: MariaDB names none for rows), Begin
	// the position of the event that began it.
	Thread uint32
	Begin  Position
	// Generation is the pipeline's source generation when it read the
	// transaction (checkpoint.Checkpoint.Generation): 0 until the
	// pipeline first moves to another server, then one more at each
	// move. Places (Begin, rows' Pos) compare only within a generation.
	Generation uint32
}

// Commit holds the facts about a transaction that are known only when it commits.
type Commit struct {
	// Timestamp is the commit time in seconds since the epoch.
	Timestamp uint32
	Xid       uint64
	// Pos is the position right after the commit: where a reader resumes.
	Pos Position
}

// DDL is a schema change, emitted in binlog order between row events.
type DDL struct {
	schema.DDL
	SQL string
	// Pos is the query event's position, Index the change's index among
	// those the statement makes; with the server id they form the dedupe key.
	Pos   Position
	Index int
	// SchemaVersion is the table's version the change starts (0 for a
	// database-level change).
	SchemaVersion int
	// Meta is the table's definition after the change, as far as sluice
	// knows it (nil for a drop, a database-level change, or a statement it
	// could not apply): Debezium's tableChanges[].table.
	Meta *schema.TableMeta `json:"-"`
}
