package emit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"golang.org/x/sync/errgroup"
)

// Watermarks tell readers which partitions are complete. The pipeline
// reports through Watermark how far in commit time it has handed events to
// the sink. Commit times do not grow strictly along the binlog (an event
// carries the time its transaction's COMMIT began, and a long statement
// commits after shorter ones that began later), so the sink publishes that
// time less WatermarkLateness, held back by the earliest commit time of any
// event it still holds. Events that come in older than a published
// watermark are counted as late. Sync publishes, best effort (a failure is
// logged and retried at the next Sync):
//
//   - <prefix>/_watermark.json: every event committed before complete_before
//     is in an object listed in a manifest. Rewritten at most once per
//     WatermarkInterval while it advances.
//   - <prefix>/<database>/<table>/_watermark.json, for every table the sink
//     has seen since it started: every partition of the table that ends at
//     or before complete_before is complete. Rewritten when the watermark
//     crosses into a new partition period (an hour with the default layout).
//
// Markers never move backwards: each write first reads the stored marker,
// skips when it is already at or past the new time, and is conditional on
// what it read (If-Match its ETag, or If-None-Match: * when absent), so a
// process that lost leadership and still writes cannot undo the leader's.
type watermarkState struct {
	// heard is the latest time given to Watermark, publishedTS the global
	// watermark last published (to spot late events); both under S3Sink.mu.
	heard       time.Time
	publishedTS uint32

	// mu serialises publishing and guards the rest.
	mu          sync.Mutex
	published   time.Time // the global watermark last written
	publishedAt time.Time // when
	boundary    time.Time // the per-table markers last written
}

type watermarkDoc struct {
	CompleteBefore     string `json:"complete_before"`
	CompleteBeforeUnix int64  `json:"complete_before_unix"`
	Layout             string `json:"layout"`
}

func (s *S3Sink) watermarkBody(t time.Time) []byte {
	t = t.UTC()
	body, _ := json.Marshal(watermarkDoc{CompleteBefore: t.Format(time.RFC3339), CompleteBeforeUnix: t.Unix(), Layout: s.cfg.Layout})
	return append(body, '\n')
}

// completeBefore is the time before which every event is taken to be
// uploaded: what Watermark heard less the lateness allowance, held back by
// the oldest event still buffered.
func (s *S3Sink) completeBefore() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wm.heard.IsZero() {
		return time.Time{}
	}
	w := s.wm.heard.Add(-s.cfg.WatermarkLateness)
	s.eachBuffer(func(buf *s3Buffer) {
		if t := time.Unix(int64(buf.minTS), 0); t.Before(w) {
			w = t
		}
	})
	return w.UTC()
}

// publishWatermarks writes the markers that are due, one attempt each;
// what fails stays due.
func (s *S3Sink) publishWatermarks(ctx context.Context, now time.Time) error {
	if s.cfg.WatermarkInterval <= 0 {
		return nil
	}
	ctx, cancel := s.untilClose(ctx)
	defer cancel()
	s.wm.mu.Lock()
	defer s.wm.mu.Unlock()
	w := s.completeBefore()
	if w.IsZero() || !w.After(s.wm.published) {
		return nil
	}
	intervalDue := now.Sub(s.wm.publishedAt) >= s.cfg.WatermarkInterval
	boundary := s.layout.floor(w)
	tablesDue := boundary.After(s.wm.boundary) && (s.layout.grain != grainNone || intervalDue)
	if !tablesDue && !intervalDue {
		return nil
	}
	if tablesDue {
		s.mu.Lock()
		tables := make([]tableName, 0, len(s.tables))
		for t := range s.tables {
			tables = append(tables, t)
		}
		s.mu.Unlock()
		body := s.watermarkBody(boundary)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.cfg.Concurrency)
		for _, t := range tables {
			key := appendKeySegment([]byte(s.prefix), t.database)
			key = append(key, '/')
			key = appendKeySegment(key, t.table)
			key = append(key, "/_watermark.json"...)
			g.Go(func() error { return s.putWatermark(gctx, string(key), boundary, body) })
		}
		if err := g.Wait(); err != nil {
			return fmt.Errorf("publish table watermarks at %s: %w", boundary.Format(time.RFC3339), err)
		}
		s.wm.boundary = boundary
	}
	if err := s.putWatermark(ctx, s.prefix+"_watermark.json", w, s.watermarkBody(w)); err != nil {
		return fmt.Errorf("publish watermark at %s: %w", w.Format(time.RFC3339), err)
	}
	s.wm.published, s.wm.publishedAt = w, now
	s.mu.Lock()
	s.wm.publishedTS = uint32(w.Unix())
	s.mu.Unlock()
	s.log.Debug("watermark published", "complete_before", w, "tables_before", s.wm.boundary)
	return nil
}

// putWatermark writes a marker saying t unless the stored one says t or
// later, conditional on the stored marker being the one it read. A write
// that loses the race to another writer reads again. One attempt (the
// SDK's retries included) within RequestTimeout: what fails, the next Sync
// publishes again.
func (s *S3Sink) putWatermark(ctx context.Context, key string, t time.Time, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	for range 3 {
		in := s.putInput(key, body, "application/json", false)
		out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
		_, missing := errors.AsType[*types.NoSuchKey](err)
		switch {
		case missing || httpStatus(err) == http.StatusNotFound:
			in.IfNoneMatch = aws.String("*")
		case err != nil:
			return fmt.Errorf("read %s: %w", key, err)
		default:
			stored, err := io.ReadAll(io.LimitReader(out.Body, 1<<16))
			_ = out.Body.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", key, err)
			}
			var doc watermarkDoc
			if json.Unmarshal(stored, &doc) == nil && doc.CompleteBeforeUnix >= t.Unix() {
				return nil // there already, or further: never backwards
			}
			in.IfMatch = out.ETag
		}
		_, err = s.api.PutObject(ctx, in)
		if err == nil || !isPreconditionFailed(err) {
			if err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			return nil
		}
	}
	return fmt.Errorf("put %s: other writers changed it three times while this one tried", key)
}
