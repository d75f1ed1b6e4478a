package schema

import "sync"

// Registry keeps every shape each table has had, numbered per table from 1.
// A new version starts whenever a TABLE_MAP event shows a shape that differs
// from the table's latest one.
type Registry struct {
	mu       sync.Mutex
	versions map[string][]*Table // by qualified name, oldest first
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{versions: make(map[string][]*Table)}
}

// Observe returns the registered table equal in shape to t, registering t as
// a new version when the table's latest version has another shape.
func (r *Registry) Observe(t *Table) *Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := t.QualifiedName()
	vs := r.versions[name]
	if n := len(vs); n > 0 && vs[n-1].SameShape(t) {
		return vs[n-1]
	}
	t.Version = len(vs) + 1
	r.versions[name] = append(vs, t)
	return t
}

// Versions returns the versions of one table, oldest first.
func (r *Registry) Versions(database, table string) []*Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Table(nil), r.versions[database+"."+table]...)
}
