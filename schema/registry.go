package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event/position"
	"github.com/sluicecdc/sluice/internal/atomicfile"
)

// Version is one shape of one table, valid from Pos until the next version.
type Version struct {
	Number int               `json:"version"`
	Pos    position.Position `json:"pos"`
	// Cause is "table_map" when a TABLE_MAP event showed a new shape, or the
	// DDL kind that started the version.
	Cause string `json:"cause"`
	SQL   string `json:"sql,omitempty"`
	// Table is the shape; nil while a DDL's result has not been seen in a
	// TABLE_MAP yet (or the table was dropped).
	Table *Table `json:"table,omitempty"`
	// JSON lists the columns (lower case) that hold JSON in this version.
	// MariaDB logs JSON as LONGTEXT, so only DDL tells; it is kept per
	// version so a replay decodes each row as JSON exactly when the first
	// run did.
	JSON []string `json:"json,omitempty"`
	// Meta is the table's definition after the DDL that started the
	// version (nil for a TABLE_MAP version, a drop, or a statement sluice
	// could not apply): what Debezium's schema change events carry.
	Meta *TableMeta `json:"meta,omitempty"`
}

// Registry keeps every shape each table has had. Versions are numbered per
// table from 1, in binlog order, and keyed by the position of the event
// that started them, so streaming the same binlog again — a restart, a
// replay from an old checkpoint — finds the same versions instead of adding
// new ones.
//
// It is safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	tables map[string][]*Version // by "db.table", ordered by Pos
	// json holds, per table, the JSON columns of tables that existed before
	// the registry began (from the server's json_valid CHECK constraints on
	// first start); versions carry their own.
	json map[string]map[string]bool

	store Store // where Save writes; nil for an in-memory registry
	dirty bool
	tag   string // the stored copy's version tag, for a ConditionalStore
}

// NewRegistry returns an empty in-memory registry.
func NewRegistry() *Registry {
	return &Registry{tables: make(map[string][]*Version), json: make(map[string]map[string]bool)}
}

// LoadRegistry reads the registry kept at path; a missing file gives an
// empty registry that will be saved there.
func LoadRegistry(path string) (*Registry, error) {
	return OpenRegistry(FileStore(path))
}

// Store keeps the registry's serialized form: a local file, or an object
// in the lake so that every node of a cluster reads the versions the last
// leader wrote.
type Store interface {
	// Read returns the stored bytes, or nil and no error when nothing is stored.
	Read(ctx context.Context) ([]byte, error)
	// Write replaces the stored bytes atomically.
	Write(ctx context.Context, b []byte) error
	// String names the place, for messages.
	String() string
}

// ConditionalStore is a Store that writes only over the copy it last read
// (S3's If-Match on the ETag): a leader deposed while it wrote cannot
// overwrite a newer leader's registry. Save then reads the newer copy,
// merges it (versions are keyed by position, so both copies' versions
// fit together) and writes again.
type ConditionalStore interface {
	Store
	// ReadVersion returns the stored bytes (nil when nothing is stored)
	// and their version tag ("" then).
	ReadVersion(ctx context.Context) ([]byte, string, error)
	// WriteIf replaces the stored bytes if their version tag is still
	// version ("": only if nothing is stored) and returns the new tag;
	// ErrChanged (wrapped) if it is not.
	WriteIf(ctx context.Context, b []byte, version string) (string, error)
}

// ErrChanged is returned by ConditionalStore.WriteIf when the stored copy
// changed since it was read.
var ErrChanged = errors.New("stored schema registry changed since it was read")

// FileStore keeps the registry in a local file.
type FileStore string

// Read implements Store.
func (f FileStore) Read(context.Context) ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Write implements Store.
func (f FileStore) Write(_ context.Context, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(string(f)), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(string(f), b)
}

func (f FileStore) String() string { return string(f) }

// OpenRegistry reads the registry kept in store; nothing stored gives an
// empty registry that Save will write there.
func OpenRegistry(store Store) (*Registry, error) {
	return OpenRegistryContext(context.Background(), store)
}

// OpenRegistryContext is OpenRegistry with a context for a store that
// does I/O (S3): a stop or a lost leadership ends the read.
func OpenRegistryContext(ctx context.Context, store Store) (*Registry, error) {
	r := NewRegistry()
	r.store = store
	f, tag, err := readRegistry(ctx, store)
	if err != nil {
		return nil, err
	}
	r.tag = tag
	if f == nil {
		return r, nil
	}
	for name, vs := range f.Tables {
		r.tables[name] = vs
	}
	for name, cols := range f.JSONColumns {
		r.json[name] = make(map[string]bool)
		for _, c := range cols {
			r.json[name][strings.ToLower(c)] = true
		}
	}
	return r, nil
}

// readRegistry reads and parses the stored registry (nil when nothing is
// stored), with its version tag when store has them.
func readRegistry(ctx context.Context, store Store) (*registryFile, string, error) {
	var b []byte
	var tag string
	var err error
	if cs, ok := store.(ConditionalStore); ok {
		b, tag, err = cs.ReadVersion(ctx)
	} else {
		b, err = store.Read(ctx)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read schema registry %s: %w", store, err)
	}
	if b == nil {
		return nil, "", nil
	}
	var f registryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("schema registry %s is corrupt (%w): restore it, or remove it together with the checkpoint", store, err)
	}
	return &f, tag, nil
}

// mergeLocked adds what another writer's copy has and this one lacks:
// versions at positions this registry has no version at, and JSON
// columns. Callers hold r.mu.
func (r *Registry) mergeLocked(f *registryFile) {
	for name, vs := range f.Tables {
		for _, v := range vs {
			r.insert(name, v)
		}
	}
	for name, cols := range f.JSONColumns {
		if r.json[name] == nil {
			r.json[name] = make(map[string]bool)
		}
		for _, c := range cols {
			r.json[name][strings.ToLower(c)] = true
		}
	}
}

// maxSaveConflicts bounds how often Save reloads and merges a copy that
// keeps changing under it.
const maxSaveConflicts = 5

type registryFile struct {
	Tables      map[string][]*Version `json:"tables"`
	JSONColumns map[string][]string   `json:"json_columns,omitempty"`
}

// Detach keeps the registry in memory only from now on: Save writes nothing.
// Replays use it so they never change the pipeline's registry.
func (r *Registry) Detach() {
	r.mu.Lock()
	r.store = nil
	r.mu.Unlock()
}

// Empty reports whether the registry knows no table yet.
func (r *Registry) Empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tables) == 0 && len(r.json) == 0
}

// Save writes the registry if it changed since the last Save. It writes
// atomically.
func (r *Registry) Save() error {
	return r.SaveContext(context.Background())
}

// SaveContext is Save with a context for a store that does I/O.
func (r *Registry) SaveContext(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store == nil || !r.dirty {
		return nil
	}
	cs, conditional := r.store.(ConditionalStore)
	if !conditional {
		return r.writeLocked(ctx, r.store.Write)
	}
	for conflicts := 0; ; conflicts++ {
		err := r.writeLocked(ctx, func(ctx context.Context, b []byte) error {
			tag, err := cs.WriteIf(ctx, b, r.tag)
			if err == nil {
				r.tag = tag
			}
			return err
		})
		if !errors.Is(err, ErrChanged) || conflicts == maxSaveConflicts {
			return err
		}
		// Another writer (a newer leader, or a deposed one) saved since
		// we read: take its versions in and write over its copy.
		f, tag, rerr := readRegistry(ctx, r.store)
		if rerr != nil {
			return rerr
		}
		r.tag = tag
		if f != nil {
			r.mergeLocked(f)
		}
		r.dirty = true
	}
}

// writeLocked serializes the registry and writes it with write.
func (r *Registry) writeLocked(ctx context.Context, write func(context.Context, []byte) error) error {
	f := registryFile{Tables: r.tables, JSONColumns: make(map[string][]string)}
	for name, cols := range r.json {
		for c := range cols {
			f.JSONColumns[name] = append(f.JSONColumns[name], c)
		}
		sort.Strings(f.JSONColumns[name])
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	if err := write(ctx, append(b, '\n')); err != nil {
		return fmt.Errorf("save schema registry %s: %w", r.store, err)
	}
	r.dirty = false
	return nil
}

// MarkJSON records that a column of a table that existed before the
// registry began holds JSON.
func (r *Registry) MarkJSON(database, table, column string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := database + "." + table
	if r.json[name] == nil {
		r.json[name] = make(map[string]bool)
	}
	if c := strings.ToLower(column); !r.json[name][c] {
		r.json[name][c] = true
		r.dirty = true
	}
}

// jsonAt returns the JSON columns of a table at pos.
func (r *Registry) jsonAt(name string, pos position.Position) []string {
	if v := at(r.tables[name], pos); v != nil {
		return v.JSON
	}
	var cols []string
	for c := range r.json[name] {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// withJSON returns list with add added and remove removed, sorted.
func withJSON(list, add, remove []string) []string {
	set := make(map[string]bool, len(list)+len(add))
	for _, c := range list {
		set[c] = true
	}
	for _, c := range add {
		set[strings.ToLower(c)] = true
	}
	for _, c := range remove {
		delete(set, strings.ToLower(c))
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// at returns the version valid at pos: the last one starting at or before it.
func at(vs []*Version, pos position.Position) *Version {
	i := sort.Search(len(vs), func(i int) bool { return vs[i].Pos.Compare(pos) > 0 })
	if i == 0 {
		return nil
	}
	return vs[i-1]
}

// Observe returns the registered table of the shape a TABLE_MAP event at
// pos shows, registering a new version when it differs from the version
// valid at pos.
func (r *Registry) Observe(t *Table, pos position.Position) *Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := t.QualifiedName()
	jsonCols := r.jsonAt(name, pos)
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Type == mysql.MYSQL_TYPE_BLOB && c.Charset != "binary" && contains(jsonCols, strings.ToLower(c.Name)) {
			c.JSON = true
		}
	}
	vs := r.tables[name]
	cur := at(vs, pos)
	switch {
	case cur != nil && cur.Table != nil && cur.Table.SameShape(t):
		return cur.Table
	case cur != nil && cur.Table == nil:
		// the first TABLE_MAP after a DDL: it shows the DDL's result
		t.Version = cur.Number
		cur.Table = t
		r.dirty = true
		return t
	}
	v := r.insert(name, &Version{Pos: pos, Cause: "table_map", Table: t, JSON: jsonCols})
	return v.Table
}

// insert adds v at its position. Numbers follow binlog order; a version
// found again at the same position is the one returned.
func (r *Registry) insert(name string, v *Version) *Version {
	vs := r.tables[name]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].Pos.Compare(v.Pos) >= 0 })
	if i < len(vs) && vs[i].Pos.Compare(v.Pos) == 0 {
		return vs[i]
	}
	if i < len(vs) {
		// Only a registry that diverged from the binlog (restored from
		// elsewhere) lands here: number on from the newest so numbers stay unique.
		v.Number = vs[len(vs)-1].Number + 1
	} else {
		v.Number = len(vs) + 1
		if len(vs) > 0 {
			v.Number = vs[len(vs)-1].Number + 1
		}
	}
	if v.Table != nil {
		v.Table.Version = v.Number
	}
	vs = append(vs, nil)
	copy(vs[i+1:], vs[i:])
	vs[i] = v
	r.tables[name] = vs
	r.dirty = true
	return v
}

// ApplyDDL records a schema change at pos and returns the version number it
// starts for the table it names (0 for database-level changes). The
// shape is learned from the next TABLE_MAP; a drop leaves no shape.
func (r *Registry) ApplyDDL(d *DDL, sql string, pos position.Position) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.Table == "" {
		return 0
	}
	name := d.Database + "." + d.Table
	if v := r.exactly(name, pos); v != nil {
		return v.Number // the same DDL streamed again
	}
	var jsonCols []string
	var before, like *TableMeta
	switch d.Kind {
	case TableRename:
		before = r.metaAt(d.OldDatabase+"."+d.OldTable, pos)
	case TableCreate:
		like = r.metaAt(d.LikeDatabase+"."+d.LikeTable, pos)
	default:
		before = r.metaAt(name, pos)
	}
	meta := metaAfter(d, sql, before, like)
	switch d.Kind {
	case TableCreate:
		jsonCols = withJSON(nil, d.JSONColumns, nil)
		if d.LikeTable != "" {
			// CREATE TABLE ... LIKE copies JSON-ness along with the shape
			jsonCols = withJSON(r.jsonAt(d.LikeDatabase+"."+d.LikeTable, pos), nil, nil)
		}
	case TableRename:
		old := d.OldDatabase + "." + d.OldTable
		jsonCols = r.jsonAt(old, pos)
		r.insert(old, &Version{Pos: pos, Cause: string(TableDrop), SQL: sql})
	case TableTruncate:
		return r.currentNumber(name, pos)
	case TableDrop:
	default:
		jsonCols = withJSON(r.jsonAt(name, pos), d.JSONColumns, d.NotJSON)
	}
	v := r.insert(name, &Version{Pos: pos, Cause: string(d.Kind), SQL: sql, JSON: jsonCols, Meta: meta})
	return v.Number
}

// exactly returns the version of a table that starts at pos, if any.
func (r *Registry) exactly(name string, pos position.Position) *Version {
	if v := at(r.tables[name], pos); v != nil && v.Pos.Compare(pos) == 0 {
		return v
	}
	return nil
}

// metaAt returns the definition of a table at pos: the one its last DDL
// left, or the shape of its last TABLE_MAP; nil if neither is known.
func (r *Registry) metaAt(name string, pos position.Position) *TableMeta {
	v := at(r.tables[name], pos)
	switch {
	case v == nil:
		return nil
	case v.Meta != nil:
		return v.Meta
	case v.Table != nil:
		return metaFromTable(v.Table)
	}
	return nil
}

// MetaAfter returns the definition the DDL at pos left a table with, for
// Debezium's schema change events; nil when the table was dropped or
// sluice could not work out its definition.
func (r *Registry) MetaAfter(database, table string, pos position.Position) *TableMeta {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v := r.exactly(database+"."+table, pos); v != nil {
		return v.Meta
	}
	return nil
}

func (r *Registry) currentNumber(name string, pos position.Position) int {
	if v := at(r.tables[name], pos); v != nil {
		return v.Number
	}
	return 0
}

// Versions returns the versions of one table, oldest first.
func (r *Registry) Versions(database, table string) []Version {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Version
	for _, v := range r.tables[database+"."+table] {
		out = append(out, *v)
	}
	return out
}

// Tables returns the names ("db.table") of every table the registry knows, sorted.
func (r *Registry) Tables() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.tables))
	for n := range r.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// At returns the version of a table valid at pos, if any.
func (r *Registry) At(database, table string, pos position.Position) (Version, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := at(r.tables[database+"."+table], pos)
	if v == nil {
		return Version{}, false
	}
	return *v, true
}
