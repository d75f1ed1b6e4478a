// Package filter chooses what leaves the database: which tables stream,
// which columns are dropped, and which are replaced by a keyed hash. One
// Filter is applied to the binlog stream, snapshots and replays alike, so a
// row looks the same whichever way it left.
package filter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

// SystemDatabases are left out unless an include pattern names them
// literally: RDS writes mysql.rds_heartbeat2 every few minutes, and none of
// them hold application data.
var SystemDatabases = []string{"mysql", "sys", "performance_schema", "information_schema"}

// Config is a filter's definition. Table patterns are "database.table"
// globs, column patterns "database.table.column" globs (path.Match syntax
// in each part: *, ?, [...]); table names match case-sensitively as on a
// Linux server, column names without regard to case as MySQL does.
type Config struct {
	// Include lists the tables to stream; empty streams every table.
	Include []string `json:"include,omitempty"`
	// Exclude lists tables never streamed; it wins over Include.
	Exclude []string `json:"exclude,omitempty"`
	// ExcludeColumns are dropped from every row image.
	ExcludeColumns []string `json:"columns_exclude,omitempty"`
	// HashColumns are replaced by the hex HMAC-SHA256, under HashKey, of
	// the value's text (as the JSON encoding shows it, unquoted). NULL stays NULL.
	HashColumns []string `json:"columns_hash,omitempty"`
	// HashKey is the HMAC key; required when HashColumns is set.
	HashKey []byte `json:"-"`
	// KeyID identifies HashKey without revealing it (String sets it), so
	// a changed key shows as a changed filter: every hash changes with it.
	KeyID string `json:"key_id,omitempty"`
}

// ErrNoHashKey: hashing without a key would be a plain digest anyone can
// reverse for guessable values.
var ErrNoHashKey = errors.New("filter.columns.hash is set but there is no key: set filter.hash_key_file (a file holding the key) or SLUICE_FILTER__HASH_KEY")

// Validate checks every pattern and the key.
func (c *Config) Validate() error {
	for _, set := range []struct {
		name  string
		pats  []string
		parts int
	}{
		{"filter.include", c.Include, 2}, {"filter.exclude", c.Exclude, 2},
		{"filter.columns.exclude", c.ExcludeColumns, 3}, {"filter.columns.hash", c.HashColumns, 3},
	} {
		for _, p := range set.pats {
			if _, err := compile(p, set.parts); err != nil {
				return fmt.Errorf("%s: %w", set.name, err)
			}
		}
	}
	if len(c.HashColumns) > 0 && len(c.HashKey) == 0 {
		return ErrNoHashKey
	}
	return nil
}

// IsZero reports a filter that only applies the default (system databases out).
func (c *Config) IsZero() bool {
	return len(c.Include) == 0 && len(c.Exclude) == 0 && len(c.ExcludeColumns) == 0 && len(c.HashColumns) == 0
}

// String is the definition without the key, as kept in the checkpoint to
// notice a change at the next start.
func (c *Config) String() string {
	d := *c
	d.KeyID = ""
	if len(c.HashColumns) > 0 && len(c.HashKey) > 0 {
		d.KeyID = HashText(c.HashKey, []byte("sluice filter key id"))[:16]
	}
	b, _ := json.Marshal(&d)
	return string(b)
}

// Parse reads a definition String wrote.
func Parse(s string) (Config, error) {
	var c Config
	err := json.Unmarshal([]byte(s), &c)
	return c, err
}

// pattern is one compiled glob: one path.Match pattern per dotted part.
type pattern struct {
	text  string
	parts []string
}

func compile(p string, n int) (pattern, error) {
	parts := strings.Split(p, ".")
	want := "database.table"
	if n == 3 {
		want = "database.table.column"
	}
	if len(parts) != n {
		return pattern{}, fmt.Errorf("pattern %q: want %s (globs with *, ? or [...] in each part)", p, want)
	}
	for i, part := range parts {
		if part == "" {
			return pattern{}, fmt.Errorf("pattern %q: empty part: want %s", p, want)
		}
		if n == 3 && i == 2 {
			parts[i] = strings.ToLower(part)
		}
		if _, err := path.Match(parts[i], ""); err != nil {
			return pattern{}, fmt.Errorf("pattern %q: bad glob %q: %w", p, part, err)
		}
	}
	return pattern{text: p, parts: parts}, nil
}

func (p *pattern) match(names ...string) bool {
	for i, n := range names {
		if ok, _ := path.Match(p.parts[i], n); !ok {
			return false
		}
	}
	return true
}

// Filter applies a Config. It is safe for concurrent use.
type Filter struct {
	cfg                Config
	include, exclude   []pattern
	dropCols, hashCols []pattern
	systemIncluded     map[string]bool // system databases an include pattern names literally
	mu                 sync.Mutex
	plans              map[*schema.Table]*plan
	macs               sync.Pool // of hash.Hash: HMAC-SHA256 under the key
}

// New compiles cfg; it returns Validate's error for a bad one.
func New(cfg Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Filter{cfg: cfg, systemIncluded: map[string]bool{}, plans: map[*schema.Table]*plan{}}
	all := func(pats []string, n int) []pattern {
		out := make([]pattern, 0, len(pats))
		for _, p := range pats {
			c, _ := compile(p, n) // checked by Validate
			out = append(out, c)
		}
		return out
	}
	f.include, f.exclude = all(cfg.Include, 2), all(cfg.Exclude, 2)
	f.dropCols, f.hashCols = all(cfg.ExcludeColumns, 3), all(cfg.HashColumns, 3)
	for _, p := range f.include {
		if slices.Contains(SystemDatabases, p.parts[0]) {
			f.systemIncluded[p.parts[0]] = true
		}
	}
	return f, nil
}

// Config returns the definition f applies.
func (f *Filter) Config() Config { return f.cfg }

func (f *Filter) systemOut(db string) bool {
	return slices.Contains(SystemDatabases, strings.ToLower(db)) && !f.systemIncluded[strings.ToLower(db)]
}

// Table reports whether the table's rows, snapshots and schema changes stream.
func (f *Filter) Table(db, table string) bool {
	if f.systemOut(db) {
		return false
	}
	for i := range f.exclude {
		if f.exclude[i].match(db, table) {
			return false
		}
	}
	if len(f.include) == 0 {
		return true
	}
	for i := range f.include {
		p := &f.include[i]
		if p.match(db, table) && (!slices.Contains(SystemDatabases, strings.ToLower(db)) || p.parts[0] == strings.ToLower(db)) {
			return true
		}
	}
	return false
}

// Database reports whether a database-level schema change streams: the
// database is not left out as a whole, and it may hold an included table.
func (f *Filter) Database(db string) bool {
	if f.systemOut(db) {
		return false
	}
	for i := range f.exclude {
		if p := &f.exclude[i]; p.parts[1] == "*" && p.match(db) {
			return false
		}
	}
	if len(f.include) == 0 {
		return true
	}
	for i := range f.include {
		if f.include[i].match(db) {
			return true
		}
	}
	return false
}

// DDL reports whether a schema change streams: it follows its table's
// filter (either side of a rename), or the database's for a database-level one.
func (f *Filter) DDL(d *schema.DDL) bool {
	if d.Table == "" {
		return f.Database(d.Database)
	}
	if f.Table(d.Database, d.Table) {
		return true
	}
	return d.OldTable != "" && f.Table(d.OldDatabase, d.OldTable)
}

// ColumnAction is what the filter does to one column.
type ColumnAction uint8

// Column actions.
const (
	Keep ColumnAction = iota
	Drop
	Hash
)

// Column says what happens to a column; Drop wins over Hash.
func (f *Filter) Column(db, table, column string) ColumnAction {
	col := strings.ToLower(column)
	for i := range f.dropCols {
		if f.dropCols[i].match(db, table, col) {
			return Drop
		}
	}
	for i := range f.hashCols {
		if f.hashCols[i].match(db, table, col) {
			return Hash
		}
	}
	return Keep
}

// Unmatched returns the patterns that match none of tables ("db.table") or,
// for column patterns, none of columns ("db.table.column"): a filter that
// matches nothing is most likely a typo.
func (f *Filter) Unmatched(tables, columns []string) []string {
	var out []string
	check := func(pats []pattern, names []string, key string) {
		for i := range pats {
			hit := false
			for _, n := range names {
				parts := strings.Split(n, ".")
				if len(parts) != len(pats[i].parts) {
					continue
				}
				if len(parts) == 3 {
					parts[2] = strings.ToLower(parts[2])
				}
				if pats[i].match(parts...) {
					hit = true
					break
				}
			}
			if !hit {
				out = append(out, key+" "+pats[i].text)
			}
		}
	}
	check(f.include, tables, "filter.include")
	check(f.exclude, tables, "filter.exclude")
	check(f.dropCols, columns, "filter.columns.exclude")
	check(f.hashCols, columns, "filter.columns.hash")
	return out
}

// plan is what the filter does to one table shape: out is the shape events
// carry, keep the source columns it holds (in order), hash which of out's
// columns are hashed, with their source column's text encoder.
type plan struct {
	out  *schema.Table
	keep []int
	hash map[int]*event.ColumnText
	noop bool
	err  error
}

// ErrKeyColumnDropped: the primary key identifies rows for dedupe keys,
// partition keys and compaction; hash a key column instead.
var ErrKeyColumnDropped = errors.New("filter.columns.exclude drops a primary key column, which identifies rows for dedupe, partitioning and compaction: hash it (filter.columns.hash) instead")

func (f *Filter) plan(t *schema.Table) *plan {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.plans[t]; ok {
		return p
	}
	p := f.newPlan(t)
	if len(f.plans) > 4096 {
		clear(f.plans) // tables re-created by DDL churn: keep the cache bounded
	}
	f.plans[t] = p
	return p
}

func (f *Filter) newPlan(t *schema.Table) *plan {
	p := &plan{hash: map[int]*event.ColumnText{}}
	out := &schema.Table{Database: t.Database, Name: t.Name, Version: t.Version}
	newIndex := make([]int, len(t.Columns))
	for i := range t.Columns {
		c := t.Columns[i]
		newIndex[i] = -1
		switch f.Column(t.Database, t.Name, c.Name) {
		case Drop:
			if slices.Contains(t.PrimaryKey, i) {
				p.err = fmt.Errorf("table %s column %s: %w", t.QualifiedName(), c.Name, ErrKeyColumnDropped)
				return p
			}
			continue
		case Hash:
			ct, err := event.NewColumnText(&t.Columns[i])
			if err != nil {
				p.err = fmt.Errorf("table %s: hash column %s: %w", t.QualifiedName(), c.Name, err)
				return p
			}
			p.hash[len(out.Columns)] = ct
			c = HashedColumn(c)
		}
		newIndex[i] = len(out.Columns)
		p.keep = append(p.keep, i)
		out.Columns = append(out.Columns, c)
	}
	for _, i := range t.PrimaryKey {
		out.PrimaryKey = append(out.PrimaryKey, newIndex[i])
	}
	if len(p.keep) == len(t.Columns) && len(p.hash) == 0 {
		p.noop, p.out = true, t
		return p
	}
	p.out = out
	return p
}

// HashedColumn is the shape of a hashed column: text (the hex digest),
// nullable as the source column is.
func HashedColumn(c schema.Column) schema.Column {
	return schema.Column{Name: c.Name, Type: mysql.MYSQL_TYPE_VARCHAR, Nullable: c.Nullable, Charset: "utf8mb4"}
}

// Row applies the column filter to r in place: r.Table becomes the shape
// events carry, and r's images lose dropped columns and hash hashed ones.
// The images are copied, never modified: the caller may still hold them.
// It does not apply the table filter (see Table).
func (f *Filter) Row(r *event.Row) error {
	if len(f.dropCols) == 0 && len(f.hashCols) == 0 {
		return nil // no column patterns: every row as it is
	}
	p := f.plan(r.Table)
	if p.err != nil {
		return p.err
	}
	if p.noop {
		return nil
	}
	var err error
	if r.Before, err = f.image(p, r.Before); err != nil {
		return fmt.Errorf("table %s: %w", r.Table.QualifiedName(), err)
	}
	if r.After, err = f.image(p, r.After); err != nil {
		return fmt.Errorf("table %s: %w", r.Table.QualifiedName(), err)
	}
	r.Table = p.out
	return nil
}

func (f *Filter) image(p *plan, row []any) ([]any, error) {
	if row == nil {
		return nil, nil
	}
	out := make([]any, len(p.keep))
	for j, i := range p.keep {
		if i < len(row) {
			out[j] = row[i]
		}
	}
	for j, ct := range p.hash {
		if out[j] == nil {
			continue
		}
		text, err := ct.Append(nil, out[j])
		if err != nil {
			return nil, fmt.Errorf("hash column %s: %w", p.out.Columns[j].Name, err)
		}
		out[j] = f.hash(text)
	}
	return out, nil
}

// hash is HashText with f's key, reusing HMAC states.
func (f *Filter) hash(text []byte) string {
	m, _ := f.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, f.cfg.HashKey)
	}
	m.Reset()
	m.Write(text)
	var sum [sha256.Size]byte
	s := hex.EncodeToString(m.Sum(sum[:0]))
	f.macs.Put(m)
	return s
}

// HashText is the hex HMAC-SHA256 of text under key: the same value always
// gives the same hash, so hashed columns still join and group.
func HashText(key, text []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(text)
	return hex.EncodeToString(m.Sum(nil))
}
