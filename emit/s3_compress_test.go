package emit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"
)

// TestS3CompressionRoundTrip writes the same events through the sink on
// gofakes3 in each compression, with objects rolled by size so that
// several are compressed on their own goroutines while writes go on, and
// reads every object back through DecodeObject: the events come back, in
// objects named, typed and compressed as the compression says.
func TestS3CompressionRoundTrip(t *testing.T) {
	cases := []struct {
		comp    Compression
		level   int
		ext     string
		ctype   string
		magic   []byte
		smaller bool
	}{
		{CompressionGzip, 0, ".json.gz", "application/gzip", gzipMagic, true},
		{CompressionGzip, 1, ".json.gz", "application/gzip", gzipMagic, true},
		{CompressionZstd, 0, ".json.zst", "application/zstd", zstdMagic, true},
		{CompressionZstd, 19, ".json.zst", "application/zstd", zstdMagic, true},
		{CompressionNone, 0, ".json", "application/x-ndjson", []byte(`{"database"`), false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.comp, tc.level), func(t *testing.T) {
			f := newFakeS3(t)
			cfg := testS3Config(f.bucket)
			cfg.Compression, cfg.CompressionLevel = tc.comp, tc.level
			cfg.RollBytes = 16 << 10
			cfg.CompressionWorkers = 2
			s, _ := newTestSink(t, f.client, cfg)
			var want strings.Builder
			const batches, per = 20, 50
			for i := range batches {
				evs := seqEvents("shop", "orders", h14, uint64(1000+i*per*100), per)
				for j := range evs {
					evs[j].pad = 40
				}
				want.WriteString(linesOf(evs...))
				write(t, s, mkBatch(uint64(i+1), evs...))
			}
			syncTo(t, s, true, batches)

			keys := dataKeys(f.objects(t, "cdc/"))
			if len(keys) < 3 {
				t.Fatalf("%d objects, want several (roll bytes %d): %q", len(keys), cfg.RollBytes, keys)
			}
			var got strings.Builder
			for _, k := range keys {
				if !strings.HasSuffix(k, tc.ext) || (tc.ext == ".json" && strings.HasSuffix(k, ".gz")) {
					t.Fatalf("object %s: want extension %s", k, tc.ext)
				}
				obj, err := f.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(k)})
				if err != nil {
					t.Fatal(err)
				}
				raw, err := io.ReadAll(obj.Body)
				_ = obj.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if ct := aws.ToString(obj.ContentType); ct != tc.ctype {
					t.Errorf("object %s: content type %q, want %q", k, ct, tc.ctype)
				}
				if ce := aws.ToString(obj.ContentEncoding); ce != "" {
					t.Errorf("object %s: content encoding %q, want none", k, ce)
				}
				if !bytes.HasPrefix(raw, tc.magic) {
					t.Errorf("object %s starts %x, want %x", k, raw[:min(4, len(raw))], tc.magic)
				}
				lines, err := DecodeObject(k, raw)
				if err != nil {
					t.Fatal(err)
				}
				if tc.smaller && len(raw) >= len(lines) {
					t.Errorf("object %s: %d bytes for %d of events: not compressed", k, len(raw), len(lines))
				}
				// By magic bytes alone, whatever the name says.
				if byMagic, err := DecodeObject("renamed", raw); err != nil || !bytes.Equal(byMagic, lines) {
					t.Errorf("object %s: decoded by magic bytes: err %v, equal %v", k, err, bytes.Equal(byMagic, lines))
				}
				got.Write(lines)
			}
			if got.String() != want.String() {
				t.Fatalf("events read back differ: got %d bytes, want %d", got.Len(), want.Len())
			}
		})
	}
}

// TestS3CompressionDeterministic: equal events give equal objects at each
// compression, so a retry or another leader writing the same range is
// recognised as the same write.
func TestS3CompressionDeterministic(t *testing.T) {
	raw := []byte(linesOf(seqEvents("d", "t", h14, 1, 500)...))
	for _, comp := range []Compression{CompressionGzip, CompressionZstd, CompressionNone} {
		a, err := newCompressor(comp, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := newCompressor(comp, 0)
		x, y := a.compress(raw, nil), b.compress(raw, nil)
		if !bytes.Equal(x, y) {
			t.Errorf("%s: two compressors gave different bytes", comp)
		}
		key := "x" + comp.Extension()
		if !sameContent(key, x, y, raw) {
			t.Errorf("%s: same content not recognised", comp)
		}
		if sameContent(key, x, []byte("other"), raw[:len(raw)-1]) {
			t.Errorf("%s: other content taken as the same", comp)
		}
	}
}

func TestS3CompressionConfig(t *testing.T) {
	// The default is zstd at its fastest level, with the smaller window.
	if c := DefaultS3Config().Compression; c != CompressionZstd {
		t.Errorf("default compression %q, want zstd", c)
	}
	def, err := newCompressor(CompressionZstd, 0)
	if err != nil || def.level != 1 {
		t.Fatalf("zstd's default level: %+v, %v; want 1", def, err)
	}
	raw := []byte(linesOf(seqEvents("d", "t", h14, 1, 40000)...))
	if len(raw) <= 2*zstdFastestWindow {
		t.Fatalf("test needs more than twice the window: %d bytes", len(raw))
	}
	framed, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(zstdFastestWindow))
	if err != nil {
		t.Fatal(err)
	}
	defer framed.Close()
	if got, err := framed.DecodeAll(def.compress(raw, nil), nil); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("default zstd object does not decode within a %d-byte window: %v", zstdFastestWindow, err)
	}
	for _, tc := range []struct {
		comp  Compression
		level int
		want  string // "" when valid
	}{
		{CompressionGzip, 0, ""}, {CompressionGzip, 9, ""}, {CompressionGzip, 10, "want 1 (fastest) to 9"},
		{CompressionZstd, 22, ""}, {CompressionZstd, -1, "want 1 (fastest) to 22"},
		{CompressionNone, 0, ""}, {CompressionNone, 3, "remove compression_level"},
		{"lz4", 0, "want gzip, zstd or none"}, {"", 0, "compression is empty"},
	} {
		cfg := testS3Config("b")
		cfg.Compression, cfg.CompressionLevel = tc.comp, tc.level
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q level %d: %v", tc.comp, tc.level, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q level %d: error %v, want one saying %q", tc.comp, tc.level, err, tc.want)
		}
	}
}

// TestS3HeldBytesAreCapacity: the sink counts what it holds as the
// capacity of its buffers, compressed bodies included, not as the length
// of the events; an upload gives all of it back.
func TestS3HeldBytesAreCapacity(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	cfg.MaxBufferedBytes = 1 << 20
	// PUTs wait while gate is open: the objects sealed stay in the
	// background round that uploads them, to be looked at.
	var gateMu sync.Mutex
	gate := make(chan struct{})
	setGate := func(g chan struct{}) {
		gateMu.Lock()
		gate = g
		gateMu.Unlock()
	}
	api := &hookedS3{s3API: f.client, beforePut: func(ctx context.Context, _ *s3.PutObjectInput) error {
		gateMu.Lock()
		g := gate
		gateMu.Unlock()
		select {
		case <-g:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	s, _ := newTestSink(t, api, cfg)
	if s.cfg.RollBytes != cfg.MaxBufferedBytes/4 {
		t.Fatalf("default roll bytes %d, want max buffered bytes / 4 = %d", s.cfg.RollBytes, cfg.MaxBufferedBytes/4)
	}
	// sealed returns the buffers sealed, waiting or in an upload round.
	sealed := func() []*s3Buffer {
		s.mu.Lock()
		defer s.mu.Unlock()
		bufs := slices.Clone(s.sealed)
		for buf := range s.flying {
			bufs = append(bufs, buf)
		}
		return bufs
	}
	held := func() (buffered, want, lens int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.eachBuffer(func(buf *s3Buffer) {
			want += cap(buf.data)
			lens += len(buf.data)
			if buf.body != nil && !sameArray(buf.body, buf.data) {
				want += cap(buf.body)
			}
		})
		want += s.spareBytes
		return s.buffered, want, lens
	}
	evs := seqEvents("d", "t", h14, 1, 1)
	evs[0].pad = 100
	write(t, s, mkBatch(1, evs...))
	buffered, want, lens := held()
	if buffered != want || buffered < 4<<10 || lens >= buffered {
		t.Fatalf("one small event: buffered %d, capacity held %d, events %d bytes: want buffered = capacity (at least 4 KiB)", buffered, want, lens)
	}
	// Fill past one object: it is sealed and compressed on its own
	// goroutine; its body counts too once there.
	for i := range 40 {
		evs := seqEvents("d", "t", h14, uint64(1000+i*1000), 10)
		for j := range evs {
			evs[j].pad = 700
		}
		write(t, s, mkBatch(uint64(i+2), evs...))
	}
	rolled := sealed()
	if len(rolled) == 0 {
		t.Fatal("no object sealed at roll bytes")
	}
	for _, buf := range rolled {
		<-buf.packed
	}
	buffered, want, lens = held()
	if buffered != want {
		t.Fatalf("after compression: buffered %d, capacity held %d", buffered, want)
	}
	s.mu.Lock()
	body := cap(rolled[0].body)
	s.mu.Unlock()
	if body == 0 || buffered < lens+body {
		t.Fatalf("compressed body (%d bytes) not counted: buffered %d, events %d", body, buffered, lens)
	}
	if buffered > cfg.MaxBufferedBytes {
		t.Fatalf("buffered %d past the cap %d after Write returned", buffered, cfg.MaxBufferedBytes)
	}
	close(gate)
	syncTo(t, s, true, 41)
	// What the uploads gave back is either gone or kept as spares for the
	// next objects, and the spares count, within the cap.
	s.mu.Lock()
	spareData, spareBodies, spareBytes := len(s.spareData), len(s.spareBodies), s.spareBytes
	s.mu.Unlock()
	if buffered, want, _ := held(); buffered != spareBytes || buffered != want || buffered > cfg.MaxBufferedBytes {
		t.Fatalf("after a forced sync: %d bytes counted, %d held as spares (want all of it, within %d)", buffered, spareBytes, cfg.MaxBufferedBytes)
	}
	if spareData == 0 || spareBodies == 0 {
		t.Fatalf("after a forced sync: %d spare event buffers and %d spare bodies, want the uploaded object's", spareData, spareBodies)
	}
	// The next object grows into the spare event buffer and compresses
	// into the spare body: no new buffer is counted for them.
	setGate(make(chan struct{}))
	for i := range 40 {
		evs := seqEvents("d", "t", h14, uint64(100000+i*1000), 10)
		for j := range evs {
			evs[j].pad = 700
		}
		write(t, s, mkBatch(uint64(i+42), evs...))
	}
	for _, buf := range sealed() {
		<-buf.packed
	}
	if buffered, want, _ = held(); buffered != want || buffered > cfg.MaxBufferedBytes {
		t.Fatalf("reusing spares: buffered %d, capacity held %d, cap %d", buffered, want, cfg.MaxBufferedBytes)
	}
	s.mu.Lock()
	reused := len(s.spareData) < spareData && len(s.spareBodies) < spareBodies
	s.mu.Unlock()
	if !reused {
		t.Fatal("the next object took neither the spare event buffer nor the spare body")
	}
	open := make(chan struct{})
	close(open)
	setGate(open)
	syncTo(t, s, true, 81)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if buffered, _, _ := held(); buffered != 0 {
		t.Fatalf("after Close: %d bytes still counted", buffered)
	}
}
