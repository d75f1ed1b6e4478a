package compact

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// checkLayout warns about objects whose keys do not follow the configured
// layout: their events are never compacted, which is what a layout that
// differs from the sink's looks like.
func (c *Compactor) checkLayout(manifests map[string]*manifest) {
	if c.lake.dbIdx < 0 || c.lake.tblIdx < 0 {
		return
	}
	n, example := 0, ""
	for _, m := range manifests {
		for _, o := range m.Objects {
			if _, _, ok := c.lake.objectTable(o.Key); !ok {
				n, example = n+1, o.Key
			}
		}
	}
	if n > 0 {
		c.log.Warn("lake objects do not follow the configured layout and are not compacted: is the layout the S3 sink's?",
			"objects", n, "example", example, "layout", c.cfg.Layout, "prefix", c.cfg.Prefix)
	}
}

// tables returns the tables to compact, sorted: the configured ones, or
// those the lake and the catalog hold. Manifests it had to read are left
// in manifests.
func (c *Compactor) tables(ctx context.Context, refs []manifestRef, manifests map[string]*manifest) ([]string, error) {
	if len(c.cfg.Tables) > 0 {
		out := slices.Clone(c.cfg.Tables)
		slices.Sort(out)
		return slices.DeleteFunc(slices.Compact(out), c.filteredOut), nil
	}
	found := make(map[string]bool)
	known, err := c.cat.SourceTables(ctx, c.cfg.Namespace)
	if err != nil {
		return nil, err
	}
	for name := range known {
		found[name] = true
	}
	lakeTables, err := c.lakeTables(ctx, refs, manifests)
	if err != nil {
		return nil, err
	}
	for _, name := range lakeTables {
		found[name] = true
	}
	out := make([]string, 0, len(found))
	for name := range found {
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.DeleteFunc(out, c.filteredOut), nil
}

// filteredOut reports a table ("db.table") the filter excludes.
func (c *Compactor) filteredOut(name string) bool {
	db, tbl, _ := strings.Cut(name, ".")
	return c.filter != nil && !c.filter.Table(db, tbl)
}

// sluiceDirs are the directories sluice itself keeps beside the
// databases under the lake's prefix; any other directory, "_" or not, is a
// database.
var sluiceDirs = map[string]bool{"_manifests": true, "_sluice": true, "_schemas": true}

// lakeTables lists the tables the lake holds objects of: from the
// partition directories when the layout starts with {database}/{table},
// else from every manifest.
func (c *Compactor) lakeTables(ctx context.Context, refs []manifestRef, manifests map[string]*manifest) ([]string, error) {
	var out []string
	if strings.HasPrefix(c.cfg.Layout, "{database}/{table}/") {
		dbs, err := c.listDirs(ctx, c.lake.prefix)
		if err != nil {
			return nil, err
		}
		for _, db := range dbs {
			if sluiceDirs[db] {
				c.log.Debug("not a database: sluice's own directory", "dir", c.lake.prefix+db+"/")
				continue
			}
			tables, err := c.listDirs(ctx, c.lake.prefix+db+"/")
			if err != nil {
				return nil, err
			}
			for _, t := range tables {
				if t == "" {
					c.log.Info("skipping database-level events: they belong to no table", "dir", c.lake.prefix+db+"//")
					continue
				}
				name, err := unescapeName(db, t)
				if err != nil {
					return nil, err
				}
				// A directory of database-level events can look like a
				// table on stores that fold "db//dt=..." into "db/dt=...".
				ok, err := c.holdsTable(ctx, c.lake.prefix+db+"/"+t+"/", name)
				if err != nil {
					return nil, err
				}
				if !ok {
					c.log.Info("skipping a directory that holds no partitions of a table under the configured layout", "dir", c.lake.prefix+db+"/"+t+"/", "table", name, "layout", c.cfg.Layout)
					continue
				}
				out = append(out, name)
			}
		}
		return out, nil
	}
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = r.Key
	}
	read, err := c.lake.readManifests(ctx, keys, c.cfg.Concurrency, nil)
	if err != nil {
		return nil, err
	}
	for k, m := range read {
		manifests[k] = m
		for _, o := range m.Objects {
			if db, t, ok := c.lake.objectTable(o.Key); ok && t != "" {
				out = append(out, db+"."+t)
			}
		}
	}
	return out, nil
}

// holdsTable reports whether the first objects under prefix are
// partitions of table name.
func (c *Compactor) holdsTable(ctx context.Context, prefix, name string) (bool, error) {
	out, err := c.lake.api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(c.lake.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(10),
	})
	if err != nil {
		return false, fmt.Errorf("list s3://%s/%s: %w", c.lake.bucket, prefix, err)
	}
	for _, o := range out.Contents {
		if db, t, ok := c.lake.objectTable(aws.ToString(o.Key)); ok && db+"."+t == name {
			return true, nil
		}
	}
	return false, nil
}

// listDirs lists the "directories" right under prefix.
func (c *Compactor) listDirs(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(c.lake.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(c.lake.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", c.lake.bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/"))
		}
	}
	return out, nil
}

func unescapeName(db, t string) (string, error) {
	d, err := unescapeSegment(db)
	if err != nil {
		return "", err
	}
	n, err := unescapeSegment(t)
	if err != nil {
		return "", err
	}
	return d + "." + n, nil
}

func unescapeSegment(s string) (string, error) {
	out, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("lake directory %q: %w", s, err)
	}
	return out, nil
}
