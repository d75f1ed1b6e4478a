// Package position names places in a MySQL or MariaDB binlog. It is a leaf
// package so that every other package can use positions.
package position

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is a place in a server's binlog: a file and a byte offset in it.
type Position struct {
	// File is the binlog file name, Offset a byte offset in it.
	File   string `json:"file"`
	Offset uint64 `json:"offset"`
}

func (p Position) String() string { return p.File + ":" + strconv.FormatUint(p.Offset, 10) }

// IsZero reports an unset position.
func (p Position) IsZero() bool { return p.File == "" }

// Parse parses "file:offset".
func Parse(s string) (Position, error) {
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
		a, b := FileSeq(p.File), FileSeq(o.File)
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

// FileSeq is a binlog file's sequence number: the numeric suffix after the
// last dot (3 for mysql-bin.000003), or 0 when there is none. Compare orders
// files by it first; stores that order positions themselves must use it too.
func FileSeq(name string) uint64 {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
