package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// result is one measured run.
type result struct {
	name    string
	rng     *binlogRange
	rows    int   // row changes decoded (decode-only) or events the sink holds afterwards
	bytes   int64 // JSON bytes of those events (0 for decode-only: see report)
	wall    time.Duration
	cpu     time.Duration
	busy    time.Duration // the whole machine's CPU time meanwhile
	peakRSS int64
	caps    int64   // sluice's memory caps (0: decode-only, or not logged)
	maxRSS  int64   // with -count > 1: the highest peak RSS of the runs taken
	base    *result // decode-only over the same range
	problem string  // what went wrong; the run still counts as taken
	// With -count > 1: how many runs were taken (this is the median by
	// wall time) and the lowest and highest rows/s among them.
	taken            int
	minRate, maxRate float64
}

// report is everything one invocation measured.
type report struct {
	opts     *options
	machine  machineInfo
	ranges   []*binlogRange
	results  []*result
	profiles []profileTop
	live     []*liveResult
}

// profileTop is `go tool pprof -top` of a profiled run.
type profileTop struct {
	kind string
	top  string
}

// sluiceRun runs a sluice child with the sinks and, with from, from a
// checkpoint at the range's start to the server's head.
func (e *env) sluiceRun(ctx context.Context, name string, r *binlogRange, aws *awstest.Env, profile string, sinks func(dir string) []string) (*result, string, error) {
	dir, err := os.MkdirTemp(e.dir, strings.ReplaceAll(name, " ", "-")+"-")
	if err != nil {
		return nil, "", err
	}
	cfg, err := e.writeConfig(ctx, dir, &r.from, sinks(dir)...)
	if err != nil {
		return nil, dir, err
	}
	p, err := e.startSluice(cfg, aws, true, profile)
	if err != nil {
		return nil, dir, err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cr, err := p.wait(wctx)
	res := &result{name: name, rng: r}
	if cr != nil {
		res.wall, res.cpu, res.busy, res.peakRSS, res.caps = cr.wall, cr.cpu, cr.busy, cr.peakRSS, cr.caps
		if e.opts.verbose {
			fmt.Fprintf(os.Stderr, "--- sluice log (%s):\n%s\n", name, tail(cr.log, 20))
		}
		if err == nil && cr.peakRSS == 0 {
			res.problem = "sluice logged no peak_rss_bytes"
		}
	}
	return res, dir, err
}

// check notes a count that differs from the range's.
func (res *result) check(events int, size int64, what string) {
	res.rows, res.bytes = events, size
	if events != res.rng.rows && res.problem == "" {
		res.problem = fmt.Sprintf("%s holds %d events, want %d", what, events, res.rng.rows)
	}
}

func runThroughput(ctx context.Context, e *env) (*report, error) {
	o := e.opts
	rep := &report{opts: o, machine: e.machine}
	if err := e.exec(ctx, schemaDDL...); err != nil {
		return nil, err
	}
	w := workload{rows: o.rows, seed: o.seed}
	stmts, rows := w.statements()
	logf("writing workload A: %d row changes in %d transactions (seed %d)", rows, len(stmts), o.seed)
	a, err := e.writeRange(ctx, "A", stmts, rows)
	if err != nil {
		return nil, err
	}
	rep.ranges = append(rep.ranges, a)
	logf("  written in %.1fs: binlog %s to %s", a.written.Seconds(), a.from, a.to)

	// measure takes a run -count times and keeps the median by wall time.
	measure := func(name string, rng *binlogRange, base *result, run func(i int) (*result, error)) *result {
		var taken []*result
		for i := range o.count {
			res, err := run(i)
			if res == nil {
				res = &result{rng: rng}
			}
			res.name, res.base = name, base
			if err != nil {
				res.problem = firstLine(err.Error())
				logf("  %s: %v", name, err)
			} else if res.problem == "" {
				logf("  %s: %d rows in %.2fs = %.0f rows/s, CPU %.2fs, peak RSS %.1f MiB", name, res.rows, res.wall.Seconds(),
					float64(res.rows)/res.wall.Seconds(), res.cpu.Seconds(), float64(res.peakRSS)/(1<<20))
			} else {
				logf("  %s: %s", name, res.problem)
			}
			taken = append(taken, res)
			if ctx.Err() != nil {
				break
			}
		}
		res := median(taken)
		rep.results = append(rep.results, res)
		return res
	}

	// profile takes one more run of a kind with sluice's CPU profile on,
	// when -cpuprofile is set and -profile-runs names the kind.
	profile := func(kind string, run func(profile string) error) {
		if o.cpuProfile == "" || !contains(o.profileRunList(), kind) {
			return
		}
		path, err := filepath.Abs(o.profilePath(kind))
		logf("    profiling one more %s run into %s", kind, path)
		if err == nil {
			err = run(path)
		}
		var top string
		if err == nil {
			top, err = pprofTop(ctx, e.sluice, path)
		}
		if err != nil {
			logf("    profile: %v", err)
			return
		}
		fmt.Fprintln(os.Stderr, top)
		rep.profiles = append(rep.profiles, profileTop{kind: kind, top: top})
	}

	var baseA *result
	if o.wants("decode") {
		logf("(1) decode-only over A")
		baseA = measure("(1) decode-only", a, nil, func(int) (*result, error) { return e.decodeOnly(ctx, a) })
	}
	if o.wants("startup") {
		logf("(0) sluice → file sink over an empty range: start-up and exit")
		head, err := binlog.Head(ctx, &e.src)
		if err != nil {
			return rep, err
		}
		empty := &binlogRange{name: "empty", from: head, to: head}
		measure("(0) file sink, empty range", empty, nil, func(int) (*result, error) { return e.fileRun(ctx, "empty", empty, "") })
	}
	if o.wants("file") {
		logf("(2) sluice → file sink over A")
		measure("(2) file sink", a, baseA, func(int) (*result, error) { return e.fileRun(ctx, "file", a, "") })
		profile("file", func(prof string) error { _, err := e.fileRun(ctx, "profile", a, prof); return err })
	}

	var services []awstest.Service
	if o.wants("s3") {
		services = append(services, awstest.S3)
	}
	if o.wants("kinesis") || o.wants("kinesis-agg") {
		services = append(services, awstest.Kinesis)
	}
	if len(services) > 0 {
		logf("starting emulators %v", services)
		aenv, err := awstest.New(services...)
		if err != nil {
			return rep, err
		}
		defer func() { _ = aenv.Close() }()
		if o.wants("s3") {
			logf("(3) sluice → S3 lake (versitygw) over A")
			if _, err := aenv.S3Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
				return rep, fmt.Errorf("create bucket: %w", err)
			}
			measure("(3) S3 lake", a, baseA, func(i int) (*result, error) { return e.lakeRun(ctx, aenv, a, fmt.Sprintf("run-%d", i)) })
			profile("s3", func(prof string) error { _, err := e.lakeRunProfiled(ctx, aenv, a, "profile", prof); return err })
		}
		for _, run := range []string{"kinesis", "kinesis-agg"} {
			if !o.wants(run) {
				continue
			}
			agg := run == "kinesis-agg"
			name := "(4) Kinesis"
			if agg {
				name = "(4) Kinesis, aggregate: true"
			}
			logf("(4) sluice → Kinesis (kinesalite, %d shards, aggregate: %t) over A", o.shards, agg)
			measure(name, a, baseA, func(i int) (*result, error) {
				return e.kinesisRun(ctx, aenv, a, fmt.Sprintf("%s-%d", run, i), agg, "")
			})
			profile(run, func(prof string) error {
				_, err := e.kinesisRun(ctx, aenv, a, run+"-profile", agg, prof)
				return err
			})
		}
	}

	if o.wants("bigtx") {
		logf("writing range B: one transaction of %d rows", o.txRows)
		b, err := e.writeRange(ctx, "B", []string{bigTxSQL(o.txRows, o.seed)}, o.txRows)
		if err != nil {
			return rep, err
		}
		rep.ranges = append(rep.ranges, b)
		logf("  written in %.1fs: binlog %s to %s", b.written.Seconds(), b.from, b.to)
		var baseB *result
		if o.wants("decode") {
			logf("(1b) decode-only over B")
			baseB = measure("(1b) decode-only, one transaction", b, nil, func(int) (*result, error) { return e.decodeOnly(ctx, b) })
		}
		logf("(5) sluice → file sink over B")
		measure("(5) file sink, one transaction", b, baseB, func(int) (*result, error) { return e.fileRun(ctx, "bigtx", b, "") })
		profile("bigtx", func(prof string) error { _, err := e.fileRun(ctx, "profile", b, prof); return err })
	}
	return rep, nil
}

// median returns the run of median wall time among those without a
// problem (the first problem run if all had one), noting the spread of
// rows/s over the runs.
func median(taken []*result) *result {
	var ok []*result
	for _, r := range taken {
		if r.problem == "" && r.wall > 0 {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return taken[0]
	}
	slices.SortFunc(ok, func(x, y *result) int { return cmp.Compare(x.wall, y.wall) })
	m := ok[len(ok)/2]
	m.taken = len(ok)
	for _, r := range ok {
		m.maxRSS = max(m.maxRSS, r.peakRSS)
	}
	m.minRate = float64(ok[len(ok)-1].rows) / ok[len(ok)-1].wall.Seconds()
	m.maxRate = float64(ok[0].rows) / ok[0].wall.Seconds()
	return m
}

// fileRun runs sluice into the file sink, then counts the file's events.
func (e *env) fileRun(ctx context.Context, name string, r *binlogRange, profile string) (*result, error) {
	res, dir, err := e.sluiceRun(ctx, name, r, nil, profile, func(dir string) []string {
		return []string{fileSinkYAML(filepath.Join(dir, "events.jsonl"))}
	})
	defer e.cleanup(dir)
	if err != nil {
		return res, err
	}
	n, size, err := countFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		return res, err
	}
	res.check(n, size, "events.jsonl")
	return res, nil
}

// lakeRun runs sluice into the S3 lake, then reads the lake back.
func (e *env) lakeRun(ctx context.Context, aenv *awstest.Env, r *binlogRange, prefix string) (*result, error) {
	return e.lakeRunProfiled(ctx, aenv, r, prefix, "")
}

func (e *env) lakeRunProfiled(ctx context.Context, aenv *awstest.Env, r *binlogRange, prefix, profile string) (*result, error) {
	c := aenv.S3Client()
	res, dir, err := e.sluiceRun(ctx, "lake", r, aenv, profile, func(string) []string {
		return []string{s3SinkYAML("bench", prefix, e.opts.s3Compression, e.opts.s3MaxBuffered)}
	})
	defer e.cleanup(dir)
	if err != nil {
		return res, err
	}
	start := time.Now()
	n, objects, size, err := countLake(ctx, c, "bench", prefix)
	if err != nil {
		return res, err
	}
	res.check(n, size, fmt.Sprintf("the lake (%d objects)", objects))
	logf("    read back %d events in %d objects in %.1fs", n, objects, time.Since(start).Seconds())
	return res, nil
}

// kinesisRun runs sluice into a new stream, then reads the stream back.
func (e *env) kinesisRun(ctx context.Context, aenv *awstest.Env, r *binlogRange, stream string, aggregate bool, profile string) (*result, error) {
	kc := aenv.KinesisClient()
	if err := createStream(ctx, kc, stream, e.opts.shards); err != nil {
		return nil, err
	}
	defer func() {
		_, _ = kc.DeleteStream(context.WithoutCancel(ctx), &kinesis.DeleteStreamInput{StreamName: aws.String(stream)})
	}()
	res, dir, err := e.sluiceRun(ctx, stream, r, aenv, profile, func(string) []string {
		return []string{kinesisSinkYAML(stream, aggregate)}
	})
	defer e.cleanup(dir)
	if err != nil {
		return res, err
	}
	start := time.Now()
	var mu countMu
	limit := 2000
	if aggregate {
		limit = 100
	}
	if err := readStream(ctx, kc, stream, limit, 0, true, func(rec kinesisRecord) { mu.add(len(rec.data) + 1) }); err != nil {
		return res, err
	}
	res.check(mu.n, mu.size, "the stream")
	logf("    read back %d events in %.1fs", mu.n, time.Since(start).Seconds())
	return res, nil
}

// cleanup removes a run's directory (sink output can be hundreds of MB)
// unless -keep.
func (e *env) cleanup(dir string) {
	if dir != "" && !e.opts.keep {
		_ = os.RemoveAll(dir)
	}
}

// pprofTop returns `go tool pprof -top` of a profile, its 10 costliest
// functions by own time.
func pprofTop(ctx context.Context, bin, profile string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=10", bin, profile).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w\n%s", err, out)
	}
	// Keep the totals and the table; drop the file, build id and time.
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "File:") && !strings.HasPrefix(l, "Build ID:") && !strings.HasPrefix(l, "Type:") && !strings.HasPrefix(l, "Time:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n"), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
