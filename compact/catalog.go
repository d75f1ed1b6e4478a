package compact

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	_ "github.com/apache/iceberg-go/catalog/glue" // registers the "glue" catalog type for catalog.Load
	_ "github.com/apache/iceberg-go/catalog/rest" // registers the "rest" catalog type for catalog.Load
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// warehouses
	"github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// Catalog is an open Iceberg catalog.
type Catalog struct {
	catalog.Catalog
	db *sql.DB // the SQLite database of a "sql" catalog
}

// OpenCatalog opens the catalog cfg describes. A "sql" catalog is a SQLite
// file (created with its tables when missing), through the pure-Go
// modernc.org/sqlite driver; "rest" and "glue" are iceberg-go's.
func OpenCatalog(ctx context.Context, cfg CatalogConfig) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	props := iceberg.Properties{}
	maps.Copy(props, cfg.Properties)
	if cfg.Warehouse != "" {
		wh, err := warehouseURL(cfg.Warehouse)
		if err != nil {
			return nil, err
		}
		props["warehouse"] = wh
	}
	switch cfg.Type {
	case CatalogSQL:
		// Several processes may share the file: wait on its lock rather
		// than fail.
		dsn := "file:" + cfg.URI + "?_pragma=" + url.QueryEscape("busy_timeout(10000)")
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("iceberg catalog: open SQLite %s: %w", cfg.URI, err)
		}
		props["init_catalog_tables"] = "true"
		cat, err := sqlcat.NewCatalog(cfg.Name, db, sqlcat.SQLite, props)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("iceberg catalog: SQLite %s: %w", cfg.URI, err)
		}
		return &Catalog{Catalog: cat, db: db}, nil
	default:
		props["type"] = cfg.Type
		if cfg.URI != "" {
			props["uri"] = cfg.URI
		}
		cat, err := catalog.Load(ctx, cfg.Name, props)
		if err != nil {
			return nil, fmt.Errorf("iceberg catalog: %s: %w", cfg.Type, err)
		}
		return &Catalog{Catalog: cat}, nil
	}
}

// warehouseURL makes a local directory absolute; URLs pass unchanged.
func warehouseURL(s string) (string, error) {
	if strings.Contains(s, "://") {
		return strings.TrimSuffix(s, "/"), nil
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", fmt.Errorf("iceberg warehouse %q: %w", s, err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// Close closes the catalog.
func (c *Catalog) Close() error {
	var err error
	if cl, ok := c.Catalog.(interface{ Close() error }); ok {
		err = cl.Close()
	}
	if c.db != nil {
		err = errors.Join(err, c.db.Close())
	}
	return err
}

// Identifier is the Iceberg identifier of source table database.table
// under namespace ("" or dot-separated levels).
func Identifier(namespace, database, tbl string) table.Identifier {
	var id table.Identifier
	if namespace != "" {
		id = strings.Split(namespace, ".")
	}
	return append(id, database, tbl)
}

// ensureNamespace creates ns and its parents when missing.
func (c *Catalog) ensureNamespace(ctx context.Context, ns table.Identifier) error {
	for i := 1; i <= len(ns); i++ {
		level := ns[:i]
		ok, err := c.CheckNamespaceExists(ctx, level)
		if err != nil {
			return fmt.Errorf("iceberg namespace %s: %w", strings.Join(level, "."), err)
		}
		if ok {
			continue
		}
		err = c.CreateNamespace(ctx, level, iceberg.Properties{})
		if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return fmt.Errorf("create iceberg namespace %s: %w", strings.Join(level, "."), err)
		}
	}
	return nil
}

// loadTable loads a table; it returns nil, nil when there is none.
func (c *Catalog) loadTable(ctx context.Context, id table.Identifier) (*table.Table, error) {
	t, err := c.LoadTable(ctx, id)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load iceberg table %s: %w", strings.Join(id, "."), err)
	}
	return t, nil
}

// SourceTables lists the snapshot tables of the catalog under namespace,
// by the source table each was compacted from ("database.table").
func (c *Catalog) SourceTables(ctx context.Context, namespace string) (map[string]table.Identifier, error) {
	var root table.Identifier
	if namespace != "" {
		root = strings.Split(namespace, ".")
	}
	out := make(map[string]table.Identifier)
	var namespaces []table.Identifier
	if len(root) > 0 {
		ok, err := c.CheckNamespaceExists(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("iceberg namespace %s: %w", namespace, err)
		}
		if !ok {
			return out, nil
		}
	}
	namespaces, err := c.ListNamespaces(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("list iceberg namespaces under %q: %w", namespace, err)
	}
	for _, ns := range namespaces {
		for id, err := range c.ListTables(ctx, ns) {
			if err != nil {
				return nil, fmt.Errorf("list iceberg tables of %s: %w", strings.Join(ns, "."), err)
			}
			t, err := c.loadTable(ctx, id)
			if err != nil {
				return nil, err
			}
			if t == nil {
				continue
			}
			if src := t.Properties()[PropSource]; src != "" {
				out[src] = id
			}
		}
	}
	return out, nil
}
