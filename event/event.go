// Package event is sluice's change-event model: rows decoded from the binlog,
// the transaction facts known only at commit, binlog positions, and the JSON
// encodings consumers read.
package event

import (
	"fmt"
	"strconv"
	"strings"

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

// Position is a place in a server's binlog: a file and a byte offset in it.
type Position struct {
	File   string
	Offset uint64
}

func (p Position) String() string { return p.File + ":" + strconv.FormatUint(p.Offset, 10) }

// IsZero reports an unset position.
func (p Position) IsZero() bool { return p.File == "" }

// ParsePosition parses "file:offset".
func ParsePosition(s string) (Position, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Position{}, fmt.Errorf("binlog position %q: want FILE:OFFSET, e.g. mysql-bin.000003:4", s)
	}
	off, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("binlog position %q: offset: %w", s, err)
	}
	return Position{File: s[:i], Offset: off}, nil
}

// Compare orders positions of one server: by the binlog file's sequence
// number (the numeric suffix), then by offset. It never compares file names
// as strings, so mysql-bin.1000000 sorts after mysql-bin.999999.
func (p Position) Compare(o Position) int {
	if p.File != o.File {
		a, b := fileSeq(p.File), fileSeq(o.File)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return strings.Compare(p.File, o.File)
	}
	switch {
	case p.Offset < o.Offset:
		return -1
	case p.Offset > o.Offset:
		return 1
	}
	return 0
}

func fileSeq(name string) uint64 {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

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
}

// Tx holds the facts about a transaction that are known when it begins.
type Tx struct {
	ServerID uint32
	// GTID is the transaction's global id, when the server writes them.
	GTID string
}

// Commit holds the facts about a transaction that are known only when it commits.
type Commit struct {
	// Timestamp is the commit time in seconds since the epoch.
	Timestamp uint32
	Xid       uint64
	// Pos is the position right after the commit: where a reader resumes.
	Pos Position
}
