package emit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluicecdc/sluice/schema"
)

// S3Object is one object that is read and replaced whole: the schema
// registry kept in the lake (<prefix>/_schemas/), so that every node of a
// cluster reads the table versions the last leader wrote.
type S3Object struct {
	client      s3API
	bucket, key string
	timeout     time.Duration
}

// DefaultObjectTimeout bounds each read or write of an S3Object, the SDK's
// retries included, unless WithTimeout says otherwise.
const DefaultObjectTimeout = 30 * time.Second

// NewS3Object returns the object at bucket/key.
func NewS3Object(client s3API, bucket, key string) *S3Object {
	return &S3Object{client: client, bucket: bucket, key: key, timeout: DefaultObjectTimeout}
}

// WithTimeout sets how long each read or write may take (d > 0) and
// returns o: a store that never answers fails the call instead of
// holding the pipeline.
func (o *S3Object) WithTimeout(d time.Duration) *S3Object {
	if d > 0 {
		o.timeout = d
	}
	return o
}

// deadline bounds one call, and names the timeout when it was the cause.
func (o *S3Object) deadline(ctx context.Context, what string, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeoutCause(ctx, o.timeout, errNoAnswer)
	defer cancel()
	err := f(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errNoAnswer) {
		return fmt.Errorf("%s %s: %w within %v: %w", what, o, errNoAnswer, o.timeout, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, o, err)
	}
	return nil
}

var errNoAnswer = errors.New("no answer")

// Read returns the object's bytes, or nil when it does not exist.
func (o *S3Object) Read(ctx context.Context) ([]byte, error) {
	var b []byte
	err := o.deadline(ctx, "read", func(ctx context.Context) error {
		out, err := o.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil
		}
		if err != nil {
			return err
		}
		defer func() { _ = out.Body.Close() }()
		b, err = io.ReadAll(out.Body)
		return err
	})
	return b, err
}

// Write replaces the object (a single PUT is atomic in S3).
func (o *S3Object) Write(ctx context.Context, b []byte) error {
	return o.deadline(ctx, "write", func(ctx context.Context) error {
		_, err := o.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: bytes.NewReader(b),
			ContentType: aws.String("application/json"),
		})
		return err
	})
}

var _ schema.ConditionalStore = (*S3Object)(nil)

// ReadVersion implements schema.ConditionalStore: the object and its ETag.
func (o *S3Object) ReadVersion(ctx context.Context) ([]byte, string, error) {
	var b []byte
	var etag string
	err := o.deadline(ctx, "read", func(ctx context.Context) error {
		out, err := o.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil
		}
		if err != nil {
			return err
		}
		defer func() { _ = out.Body.Close() }()
		etag = aws.ToString(out.ETag)
		b, err = io.ReadAll(out.Body)
		return err
	})
	return b, etag, err
}

// WriteIf implements schema.ConditionalStore with a conditional PUT:
// If-Match on the ETag read, or If-None-Match: * when there was no
// object. A 412 (or a 409 from a concurrent conditional write) is
// schema.ErrChanged.
func (o *S3Object) WriteIf(ctx context.Context, b []byte, etag string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: bytes.NewReader(b),
		ContentType: aws.String("application/json"),
	}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	var written string
	err := o.deadline(ctx, "write", func(ctx context.Context) error {
		out, err := o.client.PutObject(ctx, in)
		if isPreconditionFailed(err) || httpStatus(err) == http.StatusConflict {
			return fmt.Errorf("%s: %w (%w)", o, schema.ErrChanged, err)
		}
		if err != nil {
			return err
		}
		written = aws.ToString(out.ETag)
		return nil
	})
	return written, err
}

func (o *S3Object) String() string { return fmt.Sprintf("s3://%s/%s", o.bucket, o.key) }
