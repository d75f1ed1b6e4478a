package compact

// SetSortBudget makes a compactor's external sort spill beyond n bytes and
// stream every batch larger than n into it.
func SetSortBudget(cfg *Config, n int64) { cfg.sortBudget = n }

// SetBeforeCommit makes a compactor call fn before it writes a table's
// snapshot.
func SetBeforeCommit(cfg *Config, fn func(table string)) { cfg.beforeCommit = fn }

// SetHoldTable makes a compactor's runs with an ALTER TABLE or a primary
// key change hold the table in memory (the path before ordered rewrites).
func SetHoldTable(cfg *Config, hold bool) { cfg.holdTable = hold }
