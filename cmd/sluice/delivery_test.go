package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// deliveryRig is a source, emulated AWS and a config for the binary.
type deliveryRig struct {
	t   *testing.T
	src *mysqltest.Server
	aws *awstest.Env
	dir string
	cfg string
	env []string
	db  *sql.DB // srcHead's pool, opened once: one per call ran the server out of connections
}

func newDeliveryRig(t *testing.T, services ...awstest.Service) *deliveryRig {
	t.Helper()
	r := &deliveryRig{t: t, src: mysqltest.StartT(t, mysqltest.Options{}), aws: awstest.Start(t, services...), dir: t.TempDir()}
	r.src.RequireOwned(t)
	if _, err := r.aws.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	r.env = r.aws.Environ()
	r.cfg = filepath.Join(r.dir, "sluice.yaml")
	cfg := fmt.Sprintf(`pipeline: delivery
start: earliest
source: {host: %s, port: %d, user: root, heartbeat: 250ms, read_timeout: 3s}
checkpoint: {store: dynamodb, table: sluice_checkpoints, create_table: true, dir: %s, interval: 200ms}
sinks:
  - {type: s3, bucket: lake, prefix: raw, roll_age: 300ms, roll_bytes: 65536}
`, r.src.Host, r.src.Port, filepath.Join(r.dir, "state"))
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// daemon is a sluice process running in the background.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

func (d *daemon) exitCode() int { <-d.done; return d.cmd.ProcessState.ExitCode() }

// otherNode writes a config for a second node: same pipeline, lake and
// checkpoint table, its own (empty) local directory.
func (r *deliveryRig) otherNode() string {
	r.t.Helper()
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := strings.Replace(string(b), filepath.Join(r.dir, "state"), filepath.Join(r.dir, "node2-state"), 1)
	path := filepath.Join(r.dir, "node2.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// start runs the binary in the background.
func (r *deliveryRig) start(args ...string) *daemon {
	r.t.Helper()
	return r.startWith(r.cfg, args...)
}

func (r *deliveryRig) startWith(cfg string, args ...string) *daemon {
	r.t.Helper()
	cmd := exec.Command(binary, append([]string{"run", "--config", cfg}, args...)...)
	cmd.Env = append(os.Environ(), r.env...)
	log, err := os.OpenFile(filepath.Join(r.dir, "sluice.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = log.Close(); close(d.done) }()
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); <-d.done })
	return d
}

func (r *deliveryRig) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "sluice.log"))
	return string(b)
}

// catchUp runs the binary until it has delivered everything committed.
func (r *deliveryRig) catchUp() {
	r.t.Helper()
	if res := sluice(r.t, r.env, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		r.t.Fatalf("catch-up run: exit %d\n%s", res.code, res.stderr)
	}
}

// lakeEvents reads every object the lake's manifests list: events by
// dedupe key, every copy of each.
func (r *deliveryRig) lakeEvents() map[string][][]byte {
	r.t.Helper()
	ctx := context.Background()
	c := r.aws.S3Client()
	events := map[string][][]byte{}
	listed := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("raw/_manifests/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, o := range page.Contents {
			var m struct{ Objects []struct{ Key string } }
			if err := json.Unmarshal(r.get(*o.Key), &m); err != nil {
				r.t.Fatalf("manifest %s: %v", *o.Key, err)
			}
			for _, obj := range m.Objects {
				listed[obj.Key] = true
			}
		}
	}
	for key := range listed {
		lines, err := emit.DecodeObject(key, r.get(key))
		if err != nil {
			r.t.Fatalf("object %s: %v", key, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(lines))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			var ev struct {
				DedupeKey string `json:"dedupe_key"`
			}
			if err := json.Unmarshal(line, &ev); err != nil || ev.DedupeKey == "" {
				r.t.Fatalf("object %s holds a line without a dedupe key (%v): %s", key, err, line)
			}
			events[ev.DedupeKey] = append(events[ev.DedupeKey], line)
		}
	}
	return events
}

func (r *deliveryRig) get(key string) []byte {
	r.t.Helper()
	out, err := r.aws.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String(key)})
	if err != nil {
		r.t.Fatalf("get %s: %v", key, err)
	}
	defer func() { _ = out.Body.Close() }()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// txWorkload commits numbered transactions until stopped: two inserts into
// shop.a tagged with the number, and an update of one of twenty rows of
// shop.b to the number.
type txWorkload struct {
	db        *sql.DB
	committed atomic.Int64
	stop      chan struct{}
	wg        sync.WaitGroup
	err       atomic.Value
}

func startTxWorkload(t *testing.T, s *mysqltest.Server) *txWorkload {
	t.Helper()
	return startPacedTxWorkload(t, s, 0)
}

// startPacedTxWorkload is startTxWorkload with a pause after each commit.
func startPacedTxWorkload(t *testing.T, s *mysqltest.Server, pace time.Duration) *txWorkload {
	t.Helper()
	s.Exec(t, "CREATE DATABASE shop", "USE shop", "CREATE TABLE shop.a (id INT AUTO_INCREMENT PRIMARY KEY, tx INT NOT NULL, note VARCHAR(100))",
		"CREATE TABLE shop.b (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO shop.b SELECT seq, 0 FROM seq_0_to_19")
	w := &txWorkload{db: s.DB(t), stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for k := int64(1); ; k++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if err := w.commit(k); err != nil {
				w.err.Store(err)
				return
			}
			w.committed.Store(k)
			if pace > 0 {
				time.Sleep(pace)
			}
		}
	}()
	return w
}

func (w *txWorkload) commit(k int64) error {
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	for _, stmt := range []string{
		fmt.Sprintf("INSERT INTO shop.a (tx, note) VALUES (%d, 'first ✓'), (%d, REPEAT('x', %d))", k, k, k%90),
		fmt.Sprintf("UPDATE shop.b SET v = %d WHERE id = %d", k, k%20),
	} {
		if _, err := tx.Exec(stmt); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (w *txWorkload) finish(t *testing.T) int64 {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	if err, _ := w.err.Load().(error); err != nil {
		t.Fatalf("workload: %v", err)
	}
	return w.committed.Load()
}

// checkAllCommitted asserts that the events hold every committed
// transaction 1..n whole, and that all copies of an event are identical.
func checkAllCommitted(t *testing.T, events map[string][][]byte, n int64) {
	t.Helper()
	inserts := map[int64]int{}
	updates := map[int64]bool{}
	dups := 0
	for key, copies := range events {
		for _, c := range copies[1:] {
			if !bytes.Equal(c, copies[0]) {
				t.Fatalf("two different events under dedupe key %s:\n%s\n%s", key, copies[0], c)
			}
		}
		dups += len(copies) - 1
		var ev struct {
			Database, Table, Type string
			Data                  struct{ Tx, V int64 }
		}
		if err := json.Unmarshal(copies[0], &ev); err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Table == "a" && ev.Type == "insert":
			inserts[ev.Data.Tx]++
		case ev.Table == "b" && ev.Type == "update":
			updates[ev.Data.V] = true
		}
	}
	for k := int64(1); k <= n; k++ {
		if inserts[k] != 2 || !updates[k] {
			t.Fatalf("transaction %d of %d: %d of 2 inserts, update %v in the lake", k, n, inserts[k], updates[k])
		}
	}
	t.Logf("%d transactions, %d distinct events, %d duplicate copies (identical)", n, len(events), dups)
}

// TestKillNineLosesNothing kills the daemon with SIGKILL at random points
// while a workload commits, twenty times (five with -short), then lets it
// catch up: the lake holds every committed transaction, and events written
// more than once are byte-identical copies under one dedupe key.
func TestKillNineLosesNothing(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	w := startTxWorkload(t, r.src)
	trials := 20
	if testing.Short() {
		trials = 5
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range trials {
		d := r.start()
		wait := time.Duration(200+rng.IntN(900)) * time.Millisecond
		time.Sleep(wait)
		if err := d.cmd.Process.Kill(); err != nil {
			t.Fatalf("trial %d: kill: %v (sluice ended by itself)\n%s", i, err, r.log())
		}
		t.Logf("trial %d: killed after %s with %d transactions committed", i, wait, w.committed.Load())
	}
	n := w.finish(t)
	r.catchUp()
	checkAllCommitted(t, r.lakeEvents(), n)
	if res := sluice(t, r.env, "checkpoint", "show", "--config", r.cfg); res.code != 0 || !strings.Contains(res.stdout, "position:") {
		t.Fatalf("checkpoint show: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestOutageRideThrough stops S3, Kinesis and DynamoDB for 30 seconds (5
// with -short) while the daemon streams a workload to the lake and Kinesis:
// it keeps running, retries, and once they are back both hold every
// committed transaction.
func TestOutageRideThrough(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.Kinesis, awstest.DynamoDB)
	r.withKinesis()
	w := startTxWorkload(t, r.src)
	d := r.start()
	exited := d.done
	outage := 30 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
	time.Sleep(time.Second)
	for _, e := range []*awstest.Emulator{r.aws.S3, r.aws.Kinesis, r.aws.DynamoDB} {
		if err := e.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	before := w.committed.Load()
	select {
	case <-exited:
		t.Fatalf("sluice exited during the outage:\n%s", r.log())
	case <-time.After(outage):
	}
	for _, e := range []*awstest.Emulator{r.aws.S3, r.aws.Kinesis, r.aws.DynamoDB} {
		if err := e.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s outage: %d transactions committed meanwhile", outage, w.committed.Load()-before)
	time.Sleep(2 * time.Second)
	n := w.finish(t)
	// The same daemon delivers the rest: stop it gracefully once it is
	// through, then check the lake.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if res := sluice(t, r.env, "checkpoint", "show", "--config", r.cfg); res.code == 0 && strings.Contains(res.stdout, "position:") {
			if pos := positionOf(res.stdout); pos != "" && pos == r.srcHead() {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("sluice exited after the outage:\n%s", r.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint did not reach the source's head after the outage:\n%s", r.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := d.exitCode(); code != 0 {
		t.Fatalf("sluice exited %d after SIGINT:\n%s", code, r.log())
	}
	checkAllCommitted(t, r.lakeEvents(), n)
	byKey := map[string][][]byte{}
	for _, rec := range r.kinesisEvents() {
		var ev struct {
			DedupeKey string `json:"dedupe_key"`
		}
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Fatalf("record is not an event: %v\n%s", err, rec)
		}
		byKey[ev.DedupeKey] = append(byKey[ev.DedupeKey], rec)
	}
	checkAllCommitted(t, byKey, n)
}

// TestStaleEpochIsFenced starts a second daemon — another node, with its
// own empty local directory — on the same pipeline while the first streams:
// the second claims a newer epoch, the first's next checkpoint write is
// refused, and it stops with a clear error; the stored checkpoint never moves
// backwards; what the second re-emits is byte-identical (schema versions
// come from the registry in the lake, not from local state).
func TestStaleEpochIsFenced(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	w := startTxWorkload(t, r.src)
	first := r.start()
	time.Sleep(500 * time.Millisecond)
	// A second version of shop.b before the handover: a node numbering
	// versions from local state would call it version 1.
	r.src.Exec(t, "ALTER TABLE shop.b ADD COLUMN w INT NULL")
	time.Sleep(500 * time.Millisecond)
	second := r.startWith(r.otherNode())
	var positions []string
	select {
	case <-first.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the first daemon kept running after a second one claimed the pipeline:\n%s", r.log())
	}
	if code := first.exitCode(); code == 0 {
		t.Fatalf("the fenced daemon exited 0")
	}
	if !strings.Contains(r.log(), "fenced") {
		t.Fatalf("the fenced daemon's error does not say it was fenced:\n%s", r.log())
	}
	for range 10 {
		res := sluice(t, r.env, "checkpoint", "show", "--config", r.cfg)
		positions = append(positions, positionOf(res.stdout))
		time.Sleep(200 * time.Millisecond)
	}
	for i := 1; i < len(positions); i++ {
		if comparePositions(t, positions[i], positions[i-1]) < 0 {
			t.Fatalf("checkpoint moved backwards: %v", positions)
		}
	}
	n := w.finish(t)
	_ = second.cmd.Process.Signal(os.Interrupt)
	<-second.done
	r.catchUp()
	checkAllCommitted(t, r.lakeEvents(), n)
}

func positionOf(show string) string {
	for _, l := range strings.Split(show, "\n") {
		if rest, ok := strings.CutPrefix(l, "position:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func comparePositions(t *testing.T, a, b string) int {
	t.Helper()
	pa, err := event.ParsePosition(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := event.ParsePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	return pa.Compare(pb)
}

func (r *deliveryRig) srcHead() string {
	var file string
	var pos int64
	var a, b any
	if r.db == nil {
		r.db = r.src.DB(r.t)
	}
	if err := r.db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		r.t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", file, pos)
}

// withKinesis adds a kinesis sink on a new two-shard stream to the rig's
// config.
func (r *deliveryRig) withKinesis() {
	r.t.Helper()
	ctx := context.Background()
	kc := r.aws.KinesisClient()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("changes"), ShardCount: aws.Int32(2)}); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("changes")})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("stream not active: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := string(b) + "  - {type: kinesis, stream: changes, partition_key: primary_key}\n"
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// kinesisEvents reads every record of the stream, in shard order.
func (r *deliveryRig) kinesisEvents() [][]byte {
	r.t.Helper()
	ctx := context.Background()
	kc := r.aws.KinesisClient()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("changes")})
	if err != nil {
		r.t.Fatal(err)
	}
	var out [][]byte
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("changes"), ShardId: sh.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			r.t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				r.t.Fatal(err)
			}
			for _, rec := range res.Records {
				out = append(out, rec.Data)
			}
			if len(res.Records) == 0 || aws.ToInt64(res.MillisBehindLatest) == 0 && len(res.Records) < 10000 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// TestLakeAndKinesis streams a workload to the lake and to Kinesis at once:
// both hold every committed transaction, and Kinesis carries each row's
// events in binlog order.
func TestLakeAndKinesis(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.Kinesis, awstest.DynamoDB)
	r.withKinesis()
	w := startTxWorkload(t, r.src)
	d := r.start()
	time.Sleep(3 * time.Second)
	n := w.finish(t)
	deadline := time.Now().Add(2 * time.Minute)
	for positionOf(sluice(t, r.env, "checkpoint", "show", "--config", r.cfg).stdout) != r.srcHead() {
		if time.Now().After(deadline) {
			t.Fatalf("sluice did not catch up:\n%s", r.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	if code := d.exitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.log())
	}
	checkAllCommitted(t, r.lakeEvents(), n)

	records := r.kinesisEvents()
	byKey := map[string][][]byte{}
	last := map[string]string{} // primary key -> position of its last event
	for _, rec := range records {
		var ev struct {
			Database, Table string
			DedupeKey       string          `json:"dedupe_key"`
			PrimaryKey      json.RawMessage `json:"primary_key"`
		}
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Fatalf("record is not an event: %v\n%s", err, rec)
		}
		byKey[ev.DedupeKey] = append(byKey[ev.DedupeKey], rec)
		if len(ev.PrimaryKey) == 0 {
			continue
		}
		row := ev.Database + "." + ev.Table + string(ev.PrimaryKey)
		pos := ev.DedupeKey[strings.IndexByte(ev.DedupeKey, ':')+1:]
		if prev, ok := last[row]; ok && compareDedupe(t, pos, prev) < 0 {
			t.Fatalf("row %s: event %s arrived after %s", row, pos, prev)
		}
		last[row] = pos
	}
	checkAllCommitted(t, byKey, n)
}

// compareDedupe orders "file:offset:row" strings numerically.
func compareDedupe(t *testing.T, a, b string) int {
	t.Helper()
	split := func(s string) (string, int) {
		i := strings.LastIndexByte(s, ':')
		var row int
		fmt.Sscan(s[i+1:], &row)
		return s[:i], row
	}
	pa, ra := split(a)
	pb, rb := split(b)
	if c := comparePositions(t, pa, pb); c != 0 {
		return c
	}
	return ra - rb
}
