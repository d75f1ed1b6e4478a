package main

// Live mode: what is measured, exactly.
//
// A writer commits rows into live.ticks at a fixed rate: every -tick
// (10 ms) one autocommit `INSERT ... SELECT FROM seq_1_to_N` of the rows
// due by then (rate × elapsed − written), so a 10,000 rows/s run commits
// 100-row transactions 100 times a second. Each row's created_at is
// DATETIME(6) DEFAULT NOW(6): the server's clock (UTC, the server runs with
// time_zone +00:00) when the INSERT statement began, so it is a little
// before the commit — the statement's own time (well under a millisecond
// for 100 rows) is counted in the latency, never left out.
//
// sluice (the real binary, a child, sinks from -live-sinks) streams from
// the head of the binlog. For every row the bench then reads back:
//
//   - commit→Kinesis: the ApproximateArrivalTimestamp of the Kinesis record
//     that holds the row's event, minus created_at. kinesalite stamps a
//     record when it processes the PutRecords request that carries it
//     (Date.now(), millisecond resolution, truncated), i.e. when Kinesis
//     accepted it. This is the figure the target is about: binlog
//     transfer, decoding, encoding, sluice's batching and the PutRecords
//     round trip up to kinesalite's acceptance. It does not depend on how
//     the consumer polls.
//   - commit→consumer read: when this program's GetRecords call returned
//     the record, minus created_at: the above plus up to one -poll interval
//     of the polling consumer (one goroutine per shard, TRIM_HORIZON, an
//     empty read waits -poll before the next).
//   - commit→file (with the file sink): when this program read the line
//     from the sink's file (polled every 5 ms; written to the page cache,
//     fsynced later at sluice's checkpoint), minus created_at.
//
// All clocks are this machine's. A rate is "sustained" when the writer
// kept it (≥ 99%) and every row was delivered within 2 s of the writer
// stopping (no backlog building up); with -live-search the run is repeated
// at lower rates (×0.7) until one is sustained.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

var liveDDL = []string{
	"DROP DATABASE IF EXISTS live",
	"CREATE DATABASE live",
	`CREATE TABLE live.ticks (
		id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		created_at DATETIME(6) NOT NULL DEFAULT NOW(6),
		payload VARCHAR(64) NOT NULL)`,
}

// latency summarizes per-row latencies.
type latency struct {
	n              int
	p50, p99, maxv time.Duration
}

func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[max(0, int(math.Ceil(p*float64(len(d))))-1)] }
	return latency{n: len(d), p50: at(0.50), p99: at(0.99), maxv: d[len(d)-1]}
}

// liveResult is one live run at one rate.
type liveResult struct {
	rate      int
	achieved  float64 // rows/s the writer committed
	written   int
	duration  time.Duration
	sinks     string
	aggregate bool
	arrival   latency // commit→Kinesis acceptance
	read      latency // commit→consumer read
	file      latency // commit→file line read
	drain     time.Duration
	complete  bool
	sluice    *childResult
	sustained bool
	why       string // why not sustained
}

func runLive(ctx context.Context, e *env) (*report, error) {
	o := e.opts
	rep := &report{opts: o, machine: e.machine}
	if err := e.exec(ctx, liveDDL...); err != nil {
		return nil, err
	}
	var aenv *awstest.Env
	if contains(o.liveSinkList(), "kinesis") {
		logf("starting kinesalite")
		var err error
		if aenv, err = awstest.New(awstest.Kinesis); err != nil {
			return nil, err
		}
		defer func() { _ = aenv.Close() }()
	}
	rate := o.rate
	for i := 0; ; i++ {
		logf("live: %d rows/s for %v, sinks %s", rate, o.duration, o.liveSinks)
		res, err := e.liveRun(ctx, aenv, rate, i)
		if err != nil {
			return rep, err
		}
		rep.live = append(rep.live, res)
		logf("  written %.0f rows/s; commit→Kinesis p50 %v p99 %v max %v; commit→read p99 %v; file p99 %v; drain %v; sustained %t %s",
			res.achieved, ms(res.arrival.p50), ms(res.arrival.p99), ms(res.arrival.maxv), ms(res.read.p99), ms(res.file.p99), ms(res.drain), res.sustained, res.why)
		if res.sustained || !o.liveSearch {
			break
		}
		next := int(float64(rate)*0.7) / 100 * 100
		if next < o.liveMinRate || next <= 0 {
			break
		}
		rate = next
	}
	return rep, nil
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// liveRun is one live run at one rate.
func (e *env) liveRun(ctx context.Context, aenv *awstest.Env, rate, i int) (*liveResult, error) {
	o := e.opts
	res := &liveResult{rate: rate, sinks: o.liveSinks, aggregate: o.liveAgg}
	dir, err := os.MkdirTemp(e.dir, fmt.Sprintf("live-%d-", rate))
	if err != nil {
		return nil, err
	}
	defer e.cleanup(dir)
	var sinks []string
	stream := fmt.Sprintf("live-%d", i)
	var kc *kinesis.Client
	if aenv != nil {
		kc = aenv.KinesisClient()
		if err := createStream(ctx, kc, stream, o.shards); err != nil {
			return nil, err
		}
		defer func() {
			_, _ = kc.DeleteStream(context.WithoutCancel(ctx), &kinesis.DeleteStreamInput{StreamName: aws.String(stream)})
		}()
		sinks = append(sinks, kinesisSinkYAML(stream, o.liveAgg))
	}
	filePath := filepath.Join(dir, "events.jsonl")
	if contains(o.liveSinkList(), "file") {
		sinks = append(sinks, fileSinkYAML(filePath))
	}
	cfg, err := e.writeConfig(ctx, dir, nil, sinks...)
	if err != nil {
		return nil, err
	}
	p, err := e.startSluice(cfg, aenv, false, "")
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, 60*time.Second); err != nil {
		_, _ = p.stop()
		return nil, err
	}

	// Consumers.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var kin, fil samples
	var consumeErr error
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		consumeErr = errors.Join(consumeErr, err)
		errMu.Unlock()
	}
	if kc != nil {
		limit := 2000
		if o.liveAgg {
			limit = 100
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := readStream(cctx, kc, stream, limit, o.poll, false, func(r kinesisRecord) {
				if created, ok := tickCreated(r.data); ok {
					kin.add(r.arrival.Sub(created), r.readAt.Sub(created))
				}
			})
			if err != nil {
				fail(err)
			}
		}()
	}
	if contains(o.liveSinkList(), "file") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tailFile(cctx, filePath, func(line []byte, readAt time.Time) {
				if created, ok := tickCreated(line); ok {
					fil.add(readAt.Sub(created), 0)
				}
			}); err != nil {
				fail(err)
			}
		}()
	}

	written, elapsed, werr := e.writeLive(ctx, rate, o.duration, o.tick)
	stopped := time.Now()
	res.written, res.duration = written, elapsed
	res.achieved = float64(written) / elapsed.Seconds()
	// Wait for every row (or 30 s).
	deadline := stopped.Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if (kc == nil || kin.count() >= written) && (!contains(o.liveSinkList(), "file") || fil.count() >= written) {
			res.complete = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.drain = time.Since(stopped)
	cr, serr := p.stop()
	res.sluice = cr
	cancel()
	wg.Wait()
	if werr != nil {
		return res, fmt.Errorf("live writer: %w", werr)
	}
	if serr != nil && ctx.Err() == nil {
		return res, serr
	}
	if consumeErr != nil {
		return res, consumeErr
	}
	res.arrival, res.read = summarize(kin.a), summarize(kin.b)
	res.file = summarize(fil.a)
	var why []string
	if res.achieved < 0.99*float64(rate) {
		why = append(why, fmt.Sprintf("the writer managed %.0f rows/s", res.achieved))
	}
	if !res.complete {
		why = append(why, fmt.Sprintf("only %d (Kinesis) / %d (file) of %d rows delivered 30 s after the writer stopped", kin.count(), fil.count(), written))
	} else if res.drain > 2*time.Second {
		why = append(why, fmt.Sprintf("a backlog: the last rows arrived %v after the writer stopped", ms(res.drain)))
	}
	res.sustained = len(why) == 0
	res.why = strings.Join(why, "; ")
	return res, nil
}

// samples collects two latencies per row from several goroutines.
type samples struct {
	mu   sync.Mutex
	a, b []time.Duration
}

func (s *samples) add(a, b time.Duration) {
	s.mu.Lock()
	s.a = append(s.a, a)
	s.b = append(s.b, b)
	s.mu.Unlock()
}

func (s *samples) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.a)
}

// tickEvent is what the latency needs of an event.
type tickEvent struct {
	Table string `json:"table"`
	Type  string `json:"type"`
	Data  struct {
		CreatedAt string `json:"created_at"`
	} `json:"data"`
}

// tickCreated returns the created_at of a live.ticks insert event.
func tickCreated(data []byte) (time.Time, bool) {
	if !bytes.Contains(data, []byte(`"table":"ticks"`)) {
		return time.Time{}, false
	}
	var ev tickEvent
	if err := json.Unmarshal(data, &ev); err != nil || ev.Type != "insert" {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02 15:04:05.999999", ev.Data.CreatedAt)
	return t, err == nil
}

// writeLive commits rows at rate for duration, one transaction per tick.
func (e *env) writeLive(ctx context.Context, rate int, duration, tick time.Duration) (int, time.Duration, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = conn.Close() }()
	t := time.NewTicker(tick)
	defer t.Stop()
	written := 0
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= duration {
			return written, el, nil
		}
		if n := min(int(float64(rate)*el.Seconds())-written, 50_000); n > 0 {
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO live.ticks (payload) SELECT CONCAT('tick-', seq) FROM live.seq_1_to_%d", n)); err != nil {
				return written, time.Since(start), err
			}
			written += n
		}
		select {
		case <-ctx.Done():
			return written, time.Since(start), ctx.Err()
		case <-t.C:
		}
	}
}

// tailFile hands each complete line appended to path to fn, until ctx ends.
func tailFile(ctx context.Context, path string, fn func(line []byte, readAt time.Time)) error {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if f == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	defer func() { _ = f.Close() }()
	r := bufio.NewReaderSize(f, 1<<20)
	var partial []byte
	for {
		line, err := r.ReadSlice('\n')
		if err == nil {
			if len(partial) > 0 {
				line = append(partial, line...)
				partial = partial[:0]
			}
			fn(line, time.Now())
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			partial = append(partial, line...)
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		partial = append(partial, line...)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}
