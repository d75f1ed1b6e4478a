package emit

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how the S3 sink compresses its data objects.
type Compression string

// The compressions of S3Config.Compression. Each gives objects its own
// extension, so a reader can tell them apart by name (and, for gzip and
// zstd, by their magic bytes too).
const (
	CompressionGzip Compression = "gzip" // .json.gz, the default
	CompressionZstd Compression = "zstd" // .json.zst: read natively by Athena, Spark and Trino
	CompressionNone Compression = "none" // .json
)

// Extension is the suffix of object names in this compression.
func (c Compression) Extension() string {
	switch c {
	case CompressionZstd:
		return ".json.zst"
	case CompressionNone:
		return ".json"
	}
	return ".json.gz"
}

// ContentType is the media type objects are written with. Objects carry no
// Content-Encoding: with one, HTTP clients and browsers decompress on the
// fly and hand readers bytes that no longer match the object's extension.
func (c Compression) ContentType() string {
	switch c {
	case CompressionZstd:
		return "application/zstd"
	case CompressionNone:
		return "application/x-ndjson"
	}
	return "application/gzip"
}

// validateLevel checks level for c; 0 is the compression's default.
func (c Compression) validateLevel(level int) error {
	switch c {
	case CompressionGzip:
		if level < 0 || level > 9 {
			return fmt.Errorf("compression_level %d for gzip: want 1 (fastest) to 9 (smallest), or 0 for the default (%d)", level, gzip.DefaultCompression)
		}
	case CompressionZstd:
		if level < 0 || level > 22 {
			return fmt.Errorf("compression_level %d for zstd: want 1 (fastest) to 22 (smallest), or 0 for the default (3)", level)
		}
	case CompressionNone:
		if level != 0 {
			return fmt.Errorf("compression_level %d with compression none: remove compression_level", level)
		}
	default:
		return fmt.Errorf("compression %q: want gzip, zstd or none", string(c))
	}
	return nil
}

// compressor compresses objects deterministically: equal events at one
// compression and level give equal bytes, so a retried or re-emitted
// object is recognised as the same. Safe for concurrent use.
type compressor struct {
	kind  Compression
	level int
	gz    sync.Pool // *gzip.Writer
	zstd  *zstd.Encoder
}

func newCompressor(kind Compression, level int) (*compressor, error) {
	c := &compressor{kind: kind, level: level}
	switch kind {
	case CompressionGzip:
		if level == 0 {
			c.level = gzip.DefaultCompression
		}
		if _, err := gzip.NewWriterLevel(io.Discard, c.level); err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		c.gz.New = func() any {
			w, _ := gzip.NewWriterLevel(nil, c.level)
			return w
		}
	case CompressionZstd:
		if level == 0 {
			c.level = 3
		}
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(c.level)),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("zstd level %d: %w", level, err)
		}
		c.zstd = enc
	}
	return c, nil
}

// compress returns data compressed; with CompressionNone, data itself.
func (c *compressor) compress(data []byte) []byte {
	switch c.kind {
	case CompressionNone:
		return data
	case CompressionZstd:
		return c.zstd.EncodeAll(data, make([]byte, 0, len(data)/6+1024))
	}
	var out bytes.Buffer
	out.Grow(len(data)/6 + 1024)
	w := c.gz.Get().(*gzip.Writer)
	w.Reset(&out) // clears the header: no name, no comment
	w.ModTime = time.Unix(0, 0)
	_, _ = w.Write(data)
	_ = w.Close()
	c.gz.Put(w)
	return out.Bytes()
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
})

// DecodeObject returns the JSON lines of a data object the S3 sink wrote
// under key, whatever its compression: gzip (.gz), zstd (.zst) or none.
// The name decides; an object whose name says neither is still
// decompressed when it starts with gzip's or zstd's magic bytes (JSON
// lines never do).
func DecodeObject(key string, b []byte) ([]byte, error) {
	switch {
	case strings.HasSuffix(key, ".gz") || (!strings.HasSuffix(key, ".zst") && bytes.HasPrefix(b, gzipMagic)):
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("gunzip %s: %w", key, err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("gunzip %s: %w", key, err)
		}
		return out, nil
	case strings.HasSuffix(key, ".zst") || bytes.HasPrefix(b, zstdMagic):
		d, err := zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		out, err := d.DecodeAll(b, nil)
		if err != nil {
			return nil, fmt.Errorf("unzstd %s: %w", key, err)
		}
		return out, nil
	}
	return b, nil
}

// IsDataObject reports whether key names a data object of the S3 sink in
// any compression (not a manifest, watermark or other bookkeeping object,
// which live under names starting with '_').
func IsDataObject(key string) bool {
	if strings.Contains(key, "/_") || strings.HasPrefix(key, "_") {
		return false
	}
	for _, c := range []Compression{CompressionGzip, CompressionZstd, CompressionNone} {
		if strings.HasSuffix(key, c.Extension()) {
			return true
		}
	}
	return false
}
