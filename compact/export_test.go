package compact

import (
	"context"

	"github.com/apache/iceberg-go/table"
)

// SetSortBudget makes a compactor's external sort spill beyond n bytes and
// stream every batch larger than n into it.
func SetSortBudget(cfg *Config, n int64) { cfg.sortBudget = n }

// SetBeforeCommit makes a compactor call fn before it writes a table's
// snapshot.
func SetBeforeCommit(cfg *Config, fn func(table string)) { cfg.beforeCommit = fn }

// SetHoldTable makes a compactor's runs with an ALTER TABLE or a primary
// key change hold the table in memory (the path before ordered rewrites).
func SetHoldTable(cfg *Config, hold bool) { cfg.holdTable = hold }

// Tombstones reads a table's tombstones as its current state holds them:
// how many are inline in the state file, the tombstone file, and every
// tombstone's key, read from both.
func Tombstones(ctx context.Context, tbl *table.Table) (inline int, file string, keys []string, err error) {
	st := newTableState("", "")
	if _, err := loadState(ctx, tbl, st); err != nil {
		return 0, "", nil, err
	}
	inline, file = len(st.tombs), st.tombFile
	err = st.eachTomb(ctx, tbl, func(k string, _ tomb) error {
		keys = append(keys, k)
		return nil
	})
	return inline, file, keys, err
}
