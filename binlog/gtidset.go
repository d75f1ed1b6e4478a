package binlog

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"
)

// GTID is one transaction's global id, as the binlog gives it: MariaDB's
// domain-server-seq or MySQL's source uuid and number. The zero value is
// no GTID.
type GTID struct {
	MariaDB *mysql.MariadbGTID
	SID     uuid.UUID
	GNO     int64
}

// IsZero reports a transaction without a GTID.
func (g GTID) IsZero() bool { return g.MariaDB == nil && g.GNO == 0 }

// ExecutedSet is an executed GTID set that grows by one transaction at a
// time. Add is cheap; String spells the set and is meant for the
// checkpoints actually saved, not for every commit. Not safe for
// concurrent use.
type ExecutedSet struct {
	set mysql.GTIDSet
}

// ParseExecutedSet parses a set of the flavor ("" is the empty set).
func ParseExecutedSet(flavor, s string) (*ExecutedSet, error) {
	set, err := mysql.ParseGTIDSet(flavor, s)
	if err != nil {
		return nil, fmt.Errorf("executed GTID set %q for %s: %w", s, flavor, err)
	}
	return &ExecutedSet{set: set}, nil
}

// Add adds one transaction.
func (e *ExecutedSet) Add(g GTID) {
	switch s := e.set.(type) {
	case *mysql.MariadbGTIDSet:
		if g.MariaDB != nil {
			_ = s.AddSet(g.MariaDB) // errs only for another domain, which AddSet never passes
		}
	case *mysql.MysqlGTIDSet:
		if g.GNO != 0 {
			s.AddGTID(g.SID, g.GNO)
		}
	}
}

// String spells the set: MariaDB "0-1-42,1-2-7", MySQL "uuid:1-42,...".
func (e *ExecutedSet) String() string { return e.set.String() }

// Clone returns an independent copy.
func (e *ExecutedSet) Clone() *ExecutedSet { return &ExecutedSet{set: e.set.Clone()} }
