package compact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/emit"
)

// LakeAPI is the part of an S3 client the compactor reads the lake with.
type LakeAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ LakeAPI = (*s3.Client)(nil)

// lake reads what the S3 sink wrote: manifests and the objects they list.
type lake struct {
	api    LakeAPI
	bucket string
	prefix string // with a trailing '/', or empty
	layout *regexp.Regexp
	dbIdx  int // submatch of {database}, or -1
	tblIdx int // submatch of {table}, or -1
}

func newLake(api LakeAPI, cfg *Config) (*lake, error) {
	re, db, tbl, err := layoutRegexp(cfg.Layout)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	full, err := regexp.Compile("^" + regexp.QuoteMeta(prefix) + re + "/[^/]+$")
	if err != nil {
		return nil, fmt.Errorf("layout %q: %w", cfg.Layout, err)
	}
	return &lake{api: api, bucket: cfg.Bucket, prefix: prefix, layout: full, dbIdx: db, tblIdx: tbl}, nil
}

// parseLayout checks a layout the way the S3 sink does.
func parseLayout(s string) (string, error) {
	re, _, _, err := layoutRegexp(s)
	return re, err
}

// layoutRegexp turns a partition layout ("{database}/{table}/dt={year}-...")
// into a regular expression over the partition path, and the submatch
// numbers of {database} and {table} (-1 when the layout lacks one).
func layoutRegexp(s string) (re string, dbIdx, tblIdx int, err error) {
	if s == "" {
		return "", 0, 0, errors.New("layout is empty")
	}
	if strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") {
		return "", 0, 0, fmt.Errorf("layout %q: no leading, trailing or doubled '/'", s)
	}
	var b strings.Builder
	dbIdx, tblIdx = -1, -1
	group := 0
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", 0, 0, fmt.Errorf("layout %q: unclosed '{'", s)
		}
		switch name := rest[i+1 : i+j]; name {
		case "database", "table":
			group++
			if name == "database" {
				dbIdx = group
			} else {
				tblIdx = group
			}
			// Database-level events have an empty table name.
			b.WriteString("([^/]*)")
		case "year":
			b.WriteString(`\d{4}`)
		case "month", "day", "hour":
			b.WriteString(`\d{2}`)
		default:
			return "", 0, 0, fmt.Errorf("layout %q: unknown token {%s}", s, name)
		}
		rest = rest[i+j+1:]
	}
	return b.String(), dbIdx, tblIdx, nil
}

// objectTable names the table an object key belongs to; ok is false when
// the key does not follow the layout or the layout does not name tables.
func (l *lake) objectTable(key string) (database, table string, ok bool) {
	if l.dbIdx < 0 || l.tblIdx < 0 {
		return "", "", false
	}
	m := l.layout.FindStringSubmatch(key)
	if m == nil {
		return "", "", false
	}
	database, err1 := url.PathUnescape(m[l.dbIdx])
	table, err2 := url.PathUnescape(m[l.tblIdx])
	return database, table, err1 == nil && err2 == nil
}

// manifestRef is a manifest as a listing shows it.
type manifestRef struct {
	Key          string
	LastModified time.Time
}

// listManifests lists every manifest of the lake.
func (l *lake) listManifests(ctx context.Context) ([]manifestRef, error) {
	var refs []manifestRef
	p := s3.NewListObjectsV2Paginator(l.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(l.bucket),
		Prefix: aws.String(l.prefix + "_manifests/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s_manifests/: %w", l.bucket, l.prefix, err)
		}
		for _, o := range page.Contents {
			if o.Key == nil || !strings.HasSuffix(*o.Key, ".json") {
				continue
			}
			refs = append(refs, manifestRef{Key: *o.Key, LastModified: aws.ToTime(o.LastModified)})
		}
	}
	return refs, nil
}

// manifest is what the S3 sink writes (emit's manifest type).
type manifest struct {
	Version int           `json:"version"`
	Objects []lakeObjInfo `json:"objects"`
}

type lakeObjInfo struct {
	Key    string `json:"key"`
	Bytes  int    `json:"bytes"`
	Events int    `json:"events"`
	First  string `json:"first_dedupe_key"`
	Last   string `json:"last_dedupe_key"`
	// LastGen is Last's source generation.
	LastGen uint32 `json:"last_generation"`
}

// readManifests reads the manifests keys names, Concurrency at a time.
func (l *lake) readManifests(ctx context.Context, keys []string, concurrency int, done func()) (map[string]*manifest, error) {
	out := make(map[string]*manifest, len(keys))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, key := range keys {
		g.Go(func() error {
			b, err := l.get(gctx, key)
			if err != nil {
				return err
			}
			var m manifest
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("manifest s3://%s/%s: %w", l.bucket, key, err)
			}
			if m.Version != 1 {
				return fmt.Errorf("manifest s3://%s/%s: version %d: this sluice reads version 1", l.bucket, key, m.Version)
			}
			mu.Lock()
			out[key] = &m
			mu.Unlock()
			if done != nil {
				done()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// readObject returns an object's JSON lines, uncompressed.
func (l *lake) readObject(ctx context.Context, key string) ([]byte, error) {
	b, err := l.get(ctx, key)
	if err != nil {
		return nil, err
	}
	return decodeLakeObject(l.bucket, key, b)
}

// decodeLakeObject uncompresses a data object whatever compression the sink
// was configured with: gzip, zstd or none, told by the key's extension or
// the bytes' magic (emit.DecodeObject).
func decodeLakeObject(bucket, key string, b []byte) ([]byte, error) {
	out, err := emit.DecodeObject(key, b)
	if err != nil {
		return nil, fmt.Errorf("object s3://%s/%s: %w", bucket, key, err)
	}
	return out, nil
}

func (l *lake) get(ctx context.Context, key string) ([]byte, error) {
	out, err := l.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", l.bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", l.bucket, key, err)
	}
	return b, nil
}
