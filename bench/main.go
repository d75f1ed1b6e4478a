// Command bench is sluice's reproducible benchmark (issues 7 and 17).
//
//	go run ./bench [-quick] [-rows N] [-cpuprofile FILE] [-append BENCHMARKS.md]
//	go run ./bench -live [-rate 10000] [-duration 30s] [-live-sinks kinesis,file] [-append BENCHMARKS.md]
//
// It starts a throwaway mariadbd (internal/testing/mysqltest) and, for the lake and
// Kinesis runs, versitygw and kinesalite (internal/testing/awstest), all on
// 127.0.0.1. It never touches a server of the machine.
//
// Throughput mode writes a workload generated from -seed (inserts in
// 1,000-row transactions, then updates, then deletes, over a narrow
// sysbench-like table and a wide one; -rows row changes in all) and reads
// the same binlog range with, one after another:
//
//  1. decode-only: go-mysql's BinlogSyncer in this process, with a
//     synchronous handler that only counts rows — the limit;
//     (and, for reference, sluice over an empty range: start-up and exit);
//  2. sluice (the real binary, a child process) to the file sink;
//  3. sluice to the S3 lake on versitygw;
//  4. sluice to a 4-shard Kinesis stream on kinesalite, one record per
//     event and (-kinesis-aggregate) with KPL aggregation;
//  5. then, over a separate range, one transaction of -txrows rows to the
//     file sink, against its own decode-only baseline.
//
// Every sluice run starts from a file checkpoint written at the range's
// start and ends with --exit-when-caught-up at the server's head, which is
// the range's end because nothing is written while the runs read. The
// events every sink received are counted afterwards.
//
// Live mode commits rows at a fixed rate while sluice streams them, and
// measures commit→emit latency per row (see live.go for exactly what).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	rows        int
	quick       bool
	seed        uint64
	txRows      int
	runs        string
	aggregate   bool
	count       int
	shards      int
	cpuProfile  string
	profileRuns string
	appendTo    string
	sluiceBin   string
	sluiceDesc  string
	dir         string
	keep        bool
	verbose     bool

	s3Compression string
	s3MaxBuffered int

	live        bool
	rate        int
	duration    time.Duration
	liveSinks   string
	liveAgg     bool
	liveSearch  bool
	poll        time.Duration
	tick        time.Duration
	liveMinRate int
}

// allRuns are the throughput runs, in the order they are taken.
var allRuns = []string{"decode", "startup", "file", "s3", "kinesis", "kinesis-agg", "bigtx"}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.rows, "rows", 1_000_000, "row changes in the throughput workload (inserts, updates and deletes, in 1,000-row transactions)")
	fs.BoolVar(&o.quick, "quick", false, "quick mode: -rows 200000 unless -rows is given")
	fs.Uint64Var(&o.seed, "seed", 7, "seed of the workload's random values")
	fs.IntVar(&o.txRows, "txrows", 1_000_000, "rows of the single-transaction run")
	fs.StringVar(&o.runs, "runs", strings.Join(allRuns, ","), "throughput runs to take, of "+strings.Join(allRuns, ","))
	fs.IntVar(&o.count, "count", 1, "take each throughput run this many times and report the median (by wall time) and the spread")
	fs.BoolVar(&o.aggregate, "kinesis-aggregate", true, "also run Kinesis with aggregate: true (the kinesis-agg run)")
	fs.IntVar(&o.shards, "shards", 4, "shards of the Kinesis stream")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "take one more file-sink run with sluice's CPU profile written to this file, and print its top 10 functions")
	fs.StringVar(&o.profileRuns, "profile-runs", "file", "with -cpuprofile: the runs to profile, of file,s3,kinesis,kinesis-agg,bigtx (others than file go to FILE-<run>)")
	fs.StringVar(&o.appendTo, "append", "", "append the results as a dated Markdown section to this file (e.g. BENCHMARKS.md)")
	fs.StringVar(&o.sluiceBin, "sluice", "", "a sluice binary to run (default: go build ./cmd/sluice)")
	fs.StringVar(&o.sluiceDesc, "sluice-desc", "", "with -sluice: what the binary is built from, for the report (e.g. a commit)")
	fs.StringVar(&o.dir, "dir", "", "where sink output and configs go (default: a new directory under $TMPDIR, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the output directory")
	fs.BoolVar(&o.verbose, "v", false, "print progress details and the sluice logs of failed runs")
	fs.StringVar(&o.s3Compression, "s3-compression", "", "the S3 run's compression: zstd, gzip or none (default: sluice's, zstd)")
	fs.IntVar(&o.s3MaxBuffered, "s3-max-buffered", 0, "the S3 run's max_buffered_bytes (default: sluice's)")

	fs.BoolVar(&o.live, "live", false, "live mode: commit rows at -rate while sluice streams them; report commit→emit latency")
	fs.IntVar(&o.rate, "rate", 10_000, "live: rows per second the writer commits")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "live: how long the writer writes")
	fs.StringVar(&o.liveSinks, "live-sinks", "kinesis", "live: sluice's sinks, kinesis and/or file")
	fs.BoolVar(&o.liveAgg, "live-aggregate", false, "live: the Kinesis sink aggregates (KPL)")
	fs.BoolVar(&o.liveSearch, "live-search", true, "live: when -rate is not sustained, try lower rates until one is")
	fs.IntVar(&o.liveMinRate, "live-min-rate", 1_000, "live: the lowest rate -live-search tries")
	fs.DurationVar(&o.poll, "poll", 50*time.Millisecond, "live: how long a consumer waits after an empty read")
	fs.DurationVar(&o.tick, "tick", 10*time.Millisecond, "live: the writer commits one transaction per tick")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	rowsSet := false
	fs.Visit(func(f *flag.Flag) { rowsSet = rowsSet || f.Name == "rows" })
	if o.quick && !rowsSet {
		o.rows = 200_000
	}
	if o.rows < 10_000 {
		return nil, errors.New("-rows: want at least 10000")
	}
	if o.count < 1 {
		return nil, errors.New("-count: want at least 1")
	}
	if o.txRows < 1 {
		return nil, errors.New("-txrows: want at least 1")
	}
	for _, r := range o.runList() {
		if !contains(allRuns, r) {
			return nil, fmt.Errorf("-runs: unknown run %q (want %s)", r, strings.Join(allRuns, ","))
		}
	}
	for _, r := range o.profileRunList() {
		if !contains(allRuns, r) || r == "decode" || r == "startup" {
			return nil, fmt.Errorf("-profile-runs: unknown run %q (want file, s3, kinesis, kinesis-agg or bigtx)", r)
		}
	}
	for _, s := range o.liveSinkList() {
		if s != "kinesis" && s != "file" {
			return nil, fmt.Errorf("-live-sinks: unknown sink %q (want kinesis and/or file)", s)
		}
	}
	if o.appendTo != "" && o.sluiceBin != "" && o.sluiceDesc == "" && binaryRevision(o.sluiceBin) == "" {
		return nil, fmt.Errorf("-append with -sluice %s: the binary records no commit; name the commit it is built from with -sluice-desc", o.sluiceBin)
	}
	if o.live && (o.rate < 1 || o.duration <= 0 || o.tick <= 0) {
		return nil, errors.New("-live: want a positive -rate, -duration and -tick")
	}
	return o, nil
}

func (o *options) runList() []string {
	var out []string
	for r := range strings.SplitSeq(o.runs, ",") {
		if r = strings.TrimSpace(r); r != "" && (r != "kinesis-agg" || o.aggregate) {
			out = append(out, r)
		}
	}
	return out
}

func (o *options) profileRunList() []string {
	var out []string
	for s := range strings.SplitSeq(o.profileRuns, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// profilePath is where the profile of a run kind goes.
func (o *options) profilePath(kind string) string {
	if kind == "file" {
		return o.cpuProfile
	}
	ext := filepath.Ext(o.cpuProfile)
	return strings.TrimSuffix(o.cpuProfile, ext) + "-" + kind + ext
}

func (o *options) liveSinkList() []string {
	var out []string
	for s := range strings.SplitSeq(o.liveSinks, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (o *options) wants(run string) bool { return contains(o.runList(), run) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf prints progress to stderr; the results go to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// run sets up, takes the runs, prints the results and appends them.
func run(ctx context.Context, o *options) (err error) {
	e, err := newEnv(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := e.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	var rep *report
	if o.live {
		rep, err = runLive(ctx, e)
	} else {
		rep, err = runThroughput(ctx, e)
	}
	if rep == nil {
		return err
	}
	fmt.Printf("\nMachine: %s.\n\n%s", e.machine.line(), rep.markdown())
	if o.appendTo != "" && ctx.Err() == nil {
		if aerr := appendSection(o.appendTo, rep, os.Args[1:]); aerr != nil {
			return errors.Join(err, fmt.Errorf("append to %s: %w", o.appendTo, aerr))
		}
		logf("appended the results to %s", o.appendTo)
	}
	if err == nil {
		for _, res := range rep.results {
			if res.problem != "" {
				err = errors.Join(err, fmt.Errorf("%s: %s", res.name, res.problem))
			}
		}
	}
	return err
}
