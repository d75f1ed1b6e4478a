package compact

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicecdc/sluice/filter"
)

// tableState is one table's current rows and what compaction remembers
// about its history: where each row was last written, deleted keys, the
// last truncate, the current columns.
//
// Every change is applied only if it is newer (in binlog order) than what
// it would overwrite: a row is replaced only by a change at a later place,
// a deleted key stays deleted against older changes (its tombstone), and
// a truncate discards every older change. Applying the same change twice,
// or an older change after a newer one, therefore changes nothing, which
// makes compaction idempotent across copies, late objects and replays.
type tableState struct {
	database, table string

	cols   []string       // every column a row may hold, by index
	colIdx map[string]int // name → index in cols
	// shape is the current columns in table order: those of the row image
	// at the highest place seen (shapeAt).
	shape   []string
	shapeAt place
	pk      []string // primary key columns, in key order
	pkAt    place

	rows    map[string]*row
	tombs   map[string]tomb // in memory: of the run, or of an older state file
	cleared place           // the last truncate or drop
	dropped bool            // the last clear was a drop: a CREATE makes the table anew
	maxAt   place           // the highest place applied
	maxSID  uint32
	maxTS   uint32
	// tombFile is the location of the tombstone file (tombs.go), holding
	// tombCount tombstones.
	tombFile  string
	tombCount int
	// lakeAt is the highest place in any manifest consumed.
	lakeAt  place
	lakeSID uint32

	// types are the columns' types in the previous snapshot; hints the
	// types columns were declared with; untyped the columns that had no
	// value to type them by (written as strings, free to change).
	types map[string]colType
	hints map[string]colType
	// fracs are the fraction digits of the temporal columns as last
	// written: values read back render with them, as the source would.
	fracs   map[string]int
	untyped map[string]bool

	// filter, when set, is the pipeline's filter (see filter.go).
	filter *filter.Filter

	notes []string

	// deleted holds, in a merge-on-read run, the primary key values of
	// every key the run deleted (nil otherwise).
	deleted map[string][]any
	// nulled counts the values written as NULL because their temporal
	// column cannot hold them (zero dates, TIME outside a day).
	nulled int
	// existed tells, in a merge-on-read run, for each key the run
	// touched whether the key had a row before the run (its first change
	// was not an insert).
	existed map[string]bool
	// valStats are, in a sorted rewrite, what the values of the run's
	// row images need of each column's type (rows are not in memory).
	valStats map[string]*typeStats
	// fills, in an ordered rewrite (recordFills set), are the defaults
	// ALTER TABLE gave rows written before it, in binlog order: the rows
	// are not in memory, so they are filled in as they are written out.
	// hasRows tells there whether the table holds rows.
	fills       []fillOp
	recordFills bool
	hasRows     bool

	stats applyStats
}

type row struct {
	vals []any // by column index; shorter when columns were added since
	at   place
	sid  uint32
}

type tomb struct {
	at place
	ts uint32
}

// applyStats counts what a run did.
type applyStats struct {
	Applied    int // changes that changed rows
	Stale      int // changes older than what they would overwrite
	Duplicates int // copies of a change (same dedupe_key) dropped
	Upserts    int
	Deletes    int
	Clears     int
}

func newTableState(database, table string) *tableState {
	return &tableState{
		database: database, table: table,
		colIdx:  make(map[string]int),
		rows:    make(map[string]*row),
		tombs:   make(map[string]tomb),
		types:   make(map[string]colType),
		hints:   make(map[string]colType),
		fracs:   make(map[string]int),
		untyped: make(map[string]bool),
	}
}

func (s *tableState) name() string { return s.database + "." + s.table }

// genColumn reports whether the snapshot needs ColumnGeneration: a change
// of a source generation above 0 was applied (the highest place is of
// the highest generation).
func (s *tableState) genColumn() bool { return s.maxAt.gen > 0 }

// col returns a column's index, adding it when new.
func (s *tableState) col(name string) int {
	if i, ok := s.colIdx[name]; ok {
		return i
	}
	s.cols = append(s.cols, name)
	s.colIdx[name] = len(s.cols) - 1
	return len(s.cols) - 1
}

// value returns a row's value of column i.
func (r *row) value(i int) any {
	if i < len(r.vals) {
		return r.vals[i]
	}
	return nil
}

// errNoPrimaryKey: a table without a primary key has no row identity.
var errNoPrimaryKey = fmt.Errorf("table has no primary key: its rows cannot be compacted")

// applyAll applies a run's changes in binlog order, dropping copies.
func (s *tableState) applyAll(changes []*change) error {
	slices.SortStableFunc(changes, func(a, b *change) int { return a.place.compare(b.place) })
	var prev *change
	for _, c := range changes {
		if prev != nil && prev.place == c.place {
			// Copies of one row event carry the same dedupe_key and
			// bytes; keep the first.
			s.stats.Duplicates++
			continue
		}
		prev = c
		if err := s.apply(c); err != nil {
			return fmt.Errorf("%s: apply %s event %s: %w", s.name(), c.typ, c.dedupe, err)
		}
	}
	return nil
}

// apply applies one change.
func (s *tableState) apply(c *change) error {
	if c.place.compare(s.maxAt) > 0 {
		s.maxAt, s.maxSID = c.place, c.serverID
	}
	s.maxTS = max(s.maxTS, c.ts)
	switch c.kind {
	case kindClear:
		if s.clear(c.place) {
			s.dropped = c.typ != "table-truncate"
		}
		return nil
	case kindUpsert, kindDelete:
	default:
		if c.typ == "table-create" || c.typ == "table-alter" {
			s.applySchemaChange(c)
		}
		return nil
	}
	if len(c.pk) == 0 {
		return errNoPrimaryKey
	}
	s.dropFiltered(c)
	if c.place.compare(s.shapeAt) > 0 && len(c.cols) > 0 {
		s.shape, s.shapeAt = c.cols, c.place
	}
	if !slices.Equal(c.pk, s.pk) && c.place.compare(s.pkAt) > 0 {
		s.rekey(c.pk)
	}
	if c.place.compare(s.pkAt) > 0 {
		s.pkAt = c.place
	}
	key := keyOf(c.key)
	if c.kind == kindDelete {
		if s.remove(key, c.key, c.place, c.ts) {
			s.stats.Applied++
			s.stats.Deletes++
		} else {
			s.stats.Stale++
		}
		return nil
	}
	rekeyed := false
	if c.old != nil {
		// An update that changed the key: the old key's row is gone.
		oldVals := make([]any, len(c.pk))
		changed := false
		for i, name := range c.pk {
			oldVals[i] = c.key[i]
			if v, ok := c.old[name]; ok {
				oldVals[i], changed = v, true
			}
		}
		if oldKey := keyOf(oldVals); changed && oldKey != key {
			rekeyed = true
			if s.remove(oldKey, oldVals, c.place, c.ts) {
				s.stats.Deletes++
			}
		}
	}
	if s.existed != nil {
		if _, ok := s.existed[key]; !ok {
			s.existed[key] = !rekeyed && c.typ != "insert" && c.typ != "bootstrap-insert"
		}
	}
	if s.upsert(key, c) {
		s.stats.Applied++
		s.stats.Upserts++
	} else {
		s.stats.Stale++
	}
	return nil
}

// upsert writes c's row image under key unless something newer is there.
func (s *tableState) upsert(key string, c *change) bool {
	if c.place.compare(s.cleared) <= 0 {
		return false
	}
	if r, ok := s.rows[key]; ok && r.at.compare(c.place) >= 0 {
		return false
	}
	if t, ok := s.tombs[key]; ok && t.at.compare(c.place) >= 0 {
		return false
	}
	delete(s.tombs, key)
	vals := make([]any, len(s.cols))
	for i, name := range c.cols {
		idx := s.col(name)
		if idx >= len(vals) {
			vals = append(vals, make([]any, idx+1-len(vals))...)
		}
		vals[idx] = c.vals[i]
	}
	s.rows[key] = &row{vals: vals, at: c.place, sid: c.serverID}
	return true
}

// remove deletes key's row unless it was written after at, and remembers
// the deletion (and, in a merge-on-read run, the key's values).
func (s *tableState) remove(key string, vals []any, at place, ts uint32) bool {
	if at.compare(s.cleared) <= 0 {
		return false
	}
	if t, ok := s.tombs[key]; ok && t.at.compare(at) >= 0 {
		return false
	}
	if r, ok := s.rows[key]; ok {
		if r.at.compare(at) >= 0 {
			return false
		}
		delete(s.rows, key)
	}
	s.tombs[key] = tomb{at: at, ts: ts}
	if s.existed != nil {
		if _, ok := s.existed[key]; !ok {
			s.existed[key] = true
		}
	}
	if s.deleted != nil {
		s.deleted[key] = slices.Clone(vals)
	}
	return true
}

// clear applies a truncate or drop at place at: every older change is
// void. It reports whether it applied.
func (s *tableState) clear(at place) bool {
	if at.compare(s.cleared) <= 0 {
		s.stats.Stale++
		return false
	}
	s.cleared = at
	for k, r := range s.rows {
		if r.at.compare(at) < 0 {
			delete(s.rows, k)
		}
	}
	for k, t := range s.tombs {
		if t.at.compare(at) < 0 {
			delete(s.tombs, k)
		}
	}
	s.stats.Applied++
	s.stats.Clears++
	return true
}

// rekey re-indexes the rows by a new primary key (ALTER TABLE ... PRIMARY
// KEY). Tombstones of the old key cannot be translated and are dropped.
func (s *tableState) rekey(pk []string) {
	s.pk = slices.Clone(pk)
	if len(s.rows) == 0 && len(s.tombs) == 0 {
		return
	}
	idx := make([]int, len(pk))
	for i, name := range pk {
		idx[i] = s.col(name)
	}
	rows := make(map[string]*row, len(s.rows))
	vals := make([]any, len(pk))
	for _, r := range s.rows {
		for i, ci := range idx {
			vals[i] = r.value(ci)
		}
		k := keyOf(vals)
		if o, ok := rows[k]; !ok || o.at.compare(r.at) < 0 {
			rows[k] = r
		}
	}
	s.rows = rows
	clear(s.tombs)
}

// expireTombstones forgets deletions older than retention before the
// newest change seen.
func (s *tableState) expireTombstones(retention time.Duration) {
	horizon := int64(s.maxTS) - int64(retention/time.Second)
	for k, t := range s.tombs {
		if int64(t.ts) < horizon {
			delete(s.tombs, k)
		}
	}
}

// keyOf renders primary key values so that equal keys give equal strings
// whatever the column types became (5, 5.0 and "5" are one key).
func keyOf(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		t := keyText(v)
		b.WriteString(strconv.Itoa(len(t)))
		b.WriteByte(':')
		b.WriteString(t)
	}
	return b.String()
}

func keyText(v any) string {
	switch v := v.(type) {
	case nil:
		return "\x00"
	case int64:
		return strconv.FormatInt(v, 10)
	case number:
		return canonicalNumber(string(v))
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// canonicalNumber drops a plain decimal's trailing fraction zeros ("1.50"
// → "1.5", "2.00" → "2").
func canonicalNumber(s string) string {
	if _, _, ok := decimalShape(s); !ok || !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// sortedRows returns the rows ordered by primary key.
func (s *tableState) sortedRows() []*row {
	idx := make([]int, len(s.pk))
	for i, name := range s.pk {
		idx[i] = s.col(name)
	}
	out := make([]*row, 0, len(s.rows))
	for _, r := range s.rows {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *row) int {
		for _, i := range idx {
			if c := compareValues(a.value(i), b.value(i)); c != 0 {
				return c
			}
		}
		return a.at.compare(b.at)
	})
	return out
}

// compareValues orders key values: NULL, then numbers by value, then
// strings bytewise.
func compareValues(a, b any) int {
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	}
	ra, rb := valueRank(a), valueRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case 1:
		x, _ := new(big.Rat).SetString(keyText(a))
		y, _ := new(big.Rat).SetString(keyText(b))
		if x != nil && y != nil {
			return x.Cmp(y)
		}
	}
	return strings.Compare(keyText(a), keyText(b))
}

func valueRank(v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case int64:
		return 1
	case number:
		if _, _, ok := decimalShape(string(v)); ok {
			return 1
		}
	}
	return 2
}
