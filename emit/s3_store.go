package emit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// ErrObjectConflict is what an *ObjectConflictError is.
var ErrObjectConflict = errors.New("a different object already exists under the name")

// ObjectConflictError reports that the store holds, under a name the S3 sink
// derives from the events an object holds, an object with other events.
// Retrying cannot help: the same range of the binlog encoded differently
// (another format or options, or another source behind the same prefix).
type ObjectConflictError struct {
	Bucket, Key string
}

func (e *ObjectConflictError) Error() string {
	return fmt.Sprintf("s3://%s/%s: %v: another writer encoded the same binlog range differently (another source or format options under the same prefix?)", e.Bucket, e.Key, ErrObjectConflict)
}

// Is makes errors.Is(err, ErrObjectConflict) hold.
func (e *ObjectConflictError) Is(target error) bool { return target == ErrObjectConflict }

// manifest lists the objects of one upload round. It records only what
// follows from the events, never from how they were compressed or when, so
// two writers of the same objects write the same manifest.
type manifest struct {
	Version int              `json:"version"`
	Objects []manifestObject `json:"objects"`
}

type manifestObject struct {
	Key string `json:"key"`
	// Bytes and SHA256 are of the uncompressed JSON lines.
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
	Events int    `json:"events"`
	// First and Last are the dedupe keys of the first and last event.
	First string `json:"first_dedupe_key,omitempty"`
	Last  string `json:"last_dedupe_key,omitempty"`
	// FirstGeneration and LastGeneration are their source generations
	// (left out when 0).
	FirstGeneration uint32 `json:"first_generation,omitempty"`
	LastGeneration  uint32 `json:"last_generation,omitempty"`
	// MinTS and MaxTS bound the events' commit times, in seconds.
	MinTS uint32 `json:"min_ts"`
	MaxTS uint32 `json:"max_ts"`

	first, last rowPlace
	unplaced    bool
}

// upload writes bufs as objects, then the manifest listing them. On
// failure the buffers go back to the queue for a later round: rewriting an
// object already written is harmless.
func (s *S3Sink) upload(ctx context.Context, bufs []*s3Buffer) error {
	ctx, cancel := s.untilClose(ctx)
	defer cancel()
	objs := make([]manifestObject, len(bufs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for i, buf := range bufs {
		g.Go(func() (err error) {
			objs[i], err = s.putBuffer(gctx, buf)
			return err
		})
	}
	err := g.Wait()
	if err == nil {
		err = s.putManifest(ctx, objs)
	}
	s.mu.Lock()
	for _, buf := range bufs {
		delete(s.flying, buf)
		if err == nil {
			s.buffered -= buf.held
			buf.held = 0
			s.recycle(buf)
		}
	}
	if err != nil && !s.closed {
		s.sealed = append(s.sealed, bufs...)
	}
	if err == nil {
		s.eagerFailed = false
		s.kick()
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return err
}

// objectName is an object's name in its partition: its first and last
// event's binlog places, or a content hash when events have none.
// The extension is the compression's (Compression.Extension).
func objectName(buf *s3Buffer, sum []byte, ext string) string {
	if buf.unplaced {
		return "sha256-" + hex.EncodeToString(sum[:16]) + ext
	}
	name := buf.first.appendName(nil)
	name = append(name, '_')
	name = buf.last.appendName(name)
	return string(append(name, ext...))
}

func (s *S3Sink) putBuffer(ctx context.Context, buf *s3Buffer) (manifestObject, error) {
	sum, body := s.compressed(buf)
	key := buf.dir + objectName(buf, sum[:], s.cfg.Compression.Extension())
	err := s.putOnce(ctx, key, body, s.cfg.Compression.ContentType(), func(existing []byte) bool {
		return sameContent(key, existing, body, buf.data)
	})
	if err != nil {
		return manifestObject{}, err
	}
	o := manifestObject{
		Key: key, Bytes: len(buf.data), SHA256: hex.EncodeToString(sum[:]), Events: buf.events,
		MinTS: buf.minTS, MaxTS: buf.maxTS, first: buf.first, last: buf.last, unplaced: buf.unplaced,
	}
	if !buf.unplaced {
		o.First, o.Last = buf.first.dedupeKey(), buf.last.dedupeKey()
		o.FirstGeneration, o.LastGeneration = buf.first.gen, buf.last.gen
	}
	return o, nil
}

// sameContent reports whether an existing object under key holds raw: the
// same bytes, or (written by another build's compressor, or at another
// level) the same content.
func sameContent(key string, existing, body, raw []byte) bool {
	if bytes.Equal(existing, body) {
		return true
	}
	got, err := DecodeObject(key, existing)
	return err == nil && bytes.Equal(got, raw)
}

// putManifest writes <prefix>/_manifests/<first>_<last>_<hash>.json: the
// binlog range the objects span and a hash of their keys, so the same
// objects always give the same name.
func (s *S3Sink) putManifest(ctx context.Context, objs []manifestObject) error {
	slices.SortFunc(objs, func(a, b manifestObject) int { return strings.Compare(a.Key, b.Key) })
	h := sha256.New()
	var first, last rowPlace
	placed := false
	for _, o := range objs {
		h.Write([]byte(o.Key))
		h.Write([]byte{'\n'})
		if o.unplaced {
			continue
		}
		if !placed || o.first.compare(first) < 0 {
			first = o.first
		}
		if !placed || o.last.compare(last) > 0 {
			last = o.last
		}
		placed = true
	}
	sum := h.Sum(nil)
	name := []byte(s.prefix + "_manifests/")
	if placed {
		name = first.appendName(name)
		name = append(name, '_')
		name = last.appendName(name)
		name = append(name, '_')
	}
	name = hex.AppendEncode(name, sum[:8])
	name = append(name, ".json"...)
	body, err := json.Marshal(manifest{Version: 1, Objects: objs})
	if err != nil {
		return fmt.Errorf("s3 sink: encode manifest: %w", err)
	}
	body = append(body, '\n')
	return s.putOnce(ctx, string(name), body, "application/json", func(existing []byte) bool {
		return sameJSON(existing, body)
	})
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// putOnce writes key if it does not exist. If it does, same decides whether
// the existing object is the one we meant to write (a retry of a write that
// succeeded, or another process writing the same range): then the write is
// done; else it is an *ObjectConflictError.
func (s *S3Sink) putOnce(ctx context.Context, key string, body []byte, contentType string, same func(existing []byte) bool) error {
	return s.retry(ctx, "put "+key, func(ctx context.Context) error {
		_, err := s.api.PutObject(ctx, s.putInput(key, body, contentType, true))
		if !isPreconditionFailed(err) {
			return err
		}
		existing, err := s.get(ctx, key, 4*int64(len(body))+1<<20)
		if httpStatus(err) == http.StatusNotFound {
			// Refused as existing, then not found: a concurrent write that
			// did not complete, or a store slow to show it. Try again.
			return fmt.Errorf("%w: %w", errVanished, err)
		}
		if err != nil {
			return fmt.Errorf("read back existing object: %w", err)
		}
		if same(existing) {
			s.log.Info("object already written with the same content", "key", key)
			return nil
		}
		cerr := &ObjectConflictError{Bucket: s.cfg.Bucket, Key: key}
		s.log.Error("OBJECT CONFLICT: the store holds different events under a name derived from this binlog range; refusing to go on",
			"key", key, "size", len(body), "existing_size", len(existing), "err", cerr)
		return cerr
	})
}

// get reads an object, up to limit bytes.
func (s *S3Sink) get(ctx context.Context, key string, limit int64) ([]byte, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = out.Body.Close() }()
	return io.ReadAll(io.LimitReader(out.Body, limit))
}

// putInput is a PutObject of body under key; ifAbsent makes it
// conditional (If-None-Match: *). Build one per attempt: it holds a reader.
func (s *S3Sink) putInput(key string, body []byte, contentType string, ifAbsent bool) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType),
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	return in
}

// retry runs op until it succeeds, fails for good, or ctx ends, waiting
// between attempts with capped exponential backoff. Each attempt gets
// RequestTimeout, the SDK's own retries included.
func (s *S3Sink) retry(ctx context.Context, what string, op func(context.Context) error) error {
	wait := s.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				s.log.Info("S3 answered again", "op", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("s3 sink: %s: %w (last error: %v)", what, context.Cause(ctx), err)
		}
		if !transient(err) {
			return &PermanentError{Sink: "s3 sink", Err: fmt.Errorf("%s: %w", what, err), Fix: s.permanentFix(err)}
		}
		// Jitter spreads the retries of concurrent uploads.
		d := wait/2 + rand.N(wait/2+1)
		s.log.Warn("S3 unavailable: retrying", "op", what, "attempt", attempt, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("s3 sink: %s: %w (last error: %v)", what, context.Cause(ctx), err)
		}
		wait = min(2*wait, s.cfg.RetryBackoffMax)
	}
}

// permanentFix says what to change for an error transient rejects.
func (s *S3Sink) permanentFix(err error) string {
	if fix := configFix(err); fix != "" {
		return fix
	}
	if _, ok := errors.AsType[*ObjectConflictError](err); ok {
		return "give each source and event format its own prefix, or move the conflicting objects out of the way"
	}
	code := ""
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		code = ae.ErrorCode()
	}
	switch status := httpStatus(err); {
	case code == "NoSuchBucket":
		return fmt.Sprintf("create bucket %q, or fix the sink's bucket (and region or endpoint)", s.cfg.Bucket)
	case code == "AccessDenied" || status == http.StatusForbidden || status == http.StatusUnauthorized:
		return fmt.Sprintf("give sluice's credentials s3:GetObject and s3:PutObject on bucket %q", s.cfg.Bucket)
	case status == http.StatusMovedPermanently:
		return fmt.Sprintf("bucket %q is in another region: set the sink's region", s.cfg.Bucket)
	}
	return "the store refuses the request for good: check the sink's bucket, prefix, endpoint and credentials"
}

// errVanished: a conditional write was refused because the key exists,
// but reading it back found nothing.
var errVanished = errors.New("object refused as existing is not there")

// transient reports whether an S3 error may go away by itself: no answer
// at all, throttling, timeouts, server errors.
func transient(err error) bool {
	if _, ok := errors.AsType[*ObjectConflictError](err); ok {
		return false
	}
	if errors.Is(err, errVanished) {
		return true
	}
	switch code := httpStatus(err); {
	case code == 0 && configFix(err) != "":
		return false
	case code == 0: // no HTTP answer: connection refused, reset, timeout
		return true
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		switch ae.ErrorCode() {
		case "RequestTimeout", "RequestTimeTooSkewed", "SlowDown", "Throttling", "ThrottlingException",
			"ExpiredToken", "ConditionalRequestConflict":
			return true
		}
	}
	return false
}

// configFix says what to change when err is one no store will answer
// differently: the request could not be built or sent for a reason of the
// sink's configuration or environment. It is "" for other errors.
//
// The SDK types only some of these: an S3 client reports a missing region
// as an endpoint rule error and a credential failure as "get identity:
// get credentials: ...", so those are matched by text (the tests hold the
// SDK to it). A credential provider's own HTTP failure (STS answering 503)
// carries a status, which transient weighs first.
func configFix(err error) string {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "" // e.g. a credential provider that timed out: may answer next time
	}
	msg := err.Error()
	if _, ok := errors.AsType[smithy.InvalidParamsError](err); ok {
		return "the SDK refused the request's parameters: check the sink's bucket and prefix"
	}
	if _, ok := errors.AsType[*aws.MissingRegionError](err); ok || strings.Contains(msg, "failed to resolve service endpoint") {
		return "no S3 endpoint for this configuration: set the sink's region (or AWS_REGION) and check its endpoint"
	}
	if de, ok := errors.AsType[*net.DNSError](err); ok && de.IsNotFound {
		return fmt.Sprintf("the S3 endpoint's host %q does not resolve: fix the sink's endpoint or region", de.Name)
	}
	for _, s := range []string{"get identity: ", "failed to retrieve credentials", "failed to refresh cached credentials"} {
		if strings.Contains(msg, s) {
			return "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or give the instance or task a role"
		}
	}
	return ""
}

func isPreconditionFailed(err error) bool {
	if err == nil {
		return false
	}
	if httpStatus(err) == http.StatusPreconditionFailed {
		return true
	}
	ae, ok := errors.AsType[smithy.APIError](err)
	return ok && ae.ErrorCode() == "PreconditionFailed"
}

// httpStatus is the HTTP status of the answer err carries, or 0 when the
// request got none (the SDK reports those as status 0 too).
func httpStatus(err error) int {
	re, ok := errors.AsType[*awshttp.ResponseError](err)
	if !ok || re.ResponseError == nil || re.Response == nil || re.Response.Response == nil {
		return 0
	}
	return re.HTTPStatusCode()
}

// Check verifies that the bucket is reachable and writable, and (with
// CheckConditionalWrites) that the store honours If-None-Match, which the
// sink relies on to make retries and leader changes safe. It writes
// <prefix>/_sluice/conditional-write-probe.
func (s *S3Sink) Check(ctx context.Context) error {
	_, err := s.api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	switch status := httpStatus(err); {
	case err == nil:
	case status == http.StatusNotFound:
		return fmt.Errorf("s3 sink: bucket %q does not exist: create it, or fix the sink's bucket (and region or endpoint): %w", s.cfg.Bucket, err)
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return fmt.Errorf("s3 sink: access to bucket %q denied: give sluice's credentials s3:ListBucket, s3:GetObject and s3:PutObject on it: %w", s.cfg.Bucket, err)
	case status == http.StatusMovedPermanently:
		return fmt.Errorf("s3 sink: bucket %q is in another region: set the sink's region: %w", s.cfg.Bucket, err)
	case status == 0 && configFix(err) != "":
		return fmt.Errorf("s3 sink: bucket %q: %s: %w", s.cfg.Bucket, configFix(err), err)
	default:
		return fmt.Errorf("s3 sink: cannot reach bucket %q: check the endpoint, region, credentials and network: %w", s.cfg.Bucket, err)
	}
	if !s.cfg.CheckConditionalWrites {
		return nil
	}
	key := s.prefix + "_sluice/conditional-write-probe"
	body := []byte("sluice checks that this store refuses to overwrite with If-None-Match: *\n")
	for i := range 2 {
		_, err := s.api.PutObject(ctx, s.putInput(key, body, "text/plain", true))
		switch {
		case isPreconditionFailed(err):
			return nil
		case err != nil && httpStatus(err) == http.StatusNotImplemented:
			return fmt.Errorf("s3 sink: the store does not support conditional writes (If-None-Match), which make retries and leader changes safe: upgrade it, or set check_conditional_writes: false to run without that guarantee: %w", err)
		case err != nil:
			return fmt.Errorf("s3 sink: write probe s3://%s/%s: check s3:PutObject permission: %w", s.cfg.Bucket, key, err)
		case i == 1:
			return fmt.Errorf("s3 sink: the store at bucket %q ignores If-None-Match (a second conditional write of %s succeeded): retries and leader changes could overwrite objects unnoticed; upgrade the store, or set check_conditional_writes: false to accept that", s.cfg.Bucket, key)
		}
	}
	return nil
}
