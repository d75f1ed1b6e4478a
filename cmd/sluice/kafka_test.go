package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// kafkaRig is a source, an in-process Kafka (kfake, reached by the binary
// over loopback) and a config with the Kafka sink and checkpoint store.
type kafkaRig struct {
	t     *testing.T
	src   *mysqltest.Server
	kafka *kfake.Cluster
	dir   string
	cfg   string
}

func newKafkaRig(t *testing.T) *kafkaRig {
	t.Helper()
	k, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	r := &kafkaRig{t: t, src: mysqltest.StartT(t, mysqltest.Options{}), kafka: k, dir: t.TempDir()}
	r.src.RequireOwned(t)
	r.src.Exec(t, "CREATE DATABASE IF NOT EXISTS shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, n INT NOT NULL)")
	r.cfg = filepath.Join(r.dir, "sluice.yaml")
	cfg := fmt.Sprintf(`pipeline: kafkatest
start: earliest
source: {host: %s, port: %d, user: root, heartbeat: 250ms, read_timeout: 3s}
checkpoint: {store: kafka, dir: %s, interval: 100ms}
sinks:
  - {type: kafka, brokers: [%s], topic: "{database}.{table}", compression: lz4}
`, r.src.Host, r.src.Port, filepath.Join(r.dir, "state"), strings.Join(k.ListenAddrs(), ", "))
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// kafkaChange is one record of shop.orders as a read_committed consumer
// sees it.
type kafkaChange struct {
	dedupe string
	id, n  int
	typ    string
	part   int32
	key    string
}

func (r *kafkaRig) committed() []kafkaChange {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafka.ListenAddrs()...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics("shop.orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	var out []kafkaChange
	for idle := 0; idle < 4; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(rec *kgo.Record) {
			n++
			var ev struct {
				Type string
				Data struct{ ID, N int }
			}
			if err := json.Unmarshal(rec.Value, &ev); err != nil {
				r.t.Fatalf("record %s: %v", rec.Value, err)
			}
			if ev.Type != "insert" && ev.Type != "update" && ev.Type != "delete" {
				return // the CREATE TABLE's schema change event
			}
			c := kafkaChange{id: ev.Data.ID, n: ev.Data.N, typ: ev.Type, part: rec.Partition, key: string(rec.Key)}
			for _, h := range rec.Headers {
				if h.Key == "sluice.dedupe_key" {
					c.dedupe = string(h.Value)
				}
			}
			out = append(out, c)
		})
		if n == 0 {
			idle++
		}
	}
	return out
}

// TestKafkaKillNineExactlyOnce: sluice is killed with SIGKILL while
// writes stream through Kafka transactions, and restarted, several
// times; a read_committed consumer then sees every row change exactly
// once, each key's changes in order in one partition.
func TestKafkaKillNineExactlyOnce(t *testing.T) {
	r := newKafkaRig(t)
	db := r.src.DB(t)
	kills := 4
	if testing.Short() {
		kills = 2
	}
	var stop atomic.Bool
	var changes atomic.Int64
	var werr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			// A transaction of three changes: an insert and two updates
			// of rows inserted before.
			if err := kafkaWriteTx(db, i); err != nil {
				werr.Store(err)
				return
			}
			changes.Add(3)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for k := range kills {
		d := (&deliveryRig{t: t, dir: r.dir, cfg: r.cfg}).start()
		time.Sleep(time.Duration(1500+300*k) * time.Millisecond)
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-d.done
	}
	stop.Store(true)
	wg.Wait()
	if err, _ := werr.Load().(error); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("catch-up run: exit %d\n%s", res.code, res.stderr)
	}
	got := r.committed()
	seen := map[string]bool{}
	last := map[int]int{}
	part := map[int]int32{}
	for _, c := range got {
		if c.dedupe == "" {
			t.Fatalf("record without a dedupe key: %+v", c)
		}
		if seen[c.dedupe] {
			t.Fatalf("row change %s seen twice by a read_committed consumer", c.dedupe)
		}
		seen[c.dedupe] = true
		if p, ok := part[c.id]; ok && p != c.part {
			t.Fatalf("id %d in partitions %d and %d: %+v", c.id, p, c.part, c)
		}
		part[c.id] = c.part
		if prev, ok := last[c.id]; ok && c.n <= prev {
			t.Fatalf("id %d: n %d after %d", c.id, c.n, prev)
		}
		last[c.id] = c.n
	}
	if int64(len(got)) != changes.Load() {
		t.Fatalf("read %d row changes, the source made %d", len(got), changes.Load())
	}
	res := sluice(t, nil, "checkpoint", "show", "--config", r.cfg)
	if res.code != 0 || !strings.Contains(res.stdout, "position:") {
		t.Fatalf("checkpoint show: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	t.Logf("%d row changes through %d kills, each seen once", len(got), kills)
}

// TestKafkaXAPreparedDoesNotStall: while an XA transaction is prepared,
// the transactions committed after it still reach a read_committed
// consumer (their Kafka transactions commit with a checkpoint whose
// position stays before the prepare and whose emitted covers them); after
// the XA commits, a restart from that checkpoint delivers the XA's rows at
// its commit and nothing twice.
func TestKafkaXAPreparedDoesNotStall(t *testing.T) {
	r := newKafkaRig(t)
	db := r.src.DB(t)
	ctx := context.Background()
	xa, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer xa.Close()
	for _, q := range []string{"INSERT INTO shop.orders VALUES (1, 10)", "XA START 'k1'", "INSERT INTO shop.orders VALUES (100, 1000)",
		"XA END 'k1'", "XA PREPARE 'k1'"} {
		if _, err := xa.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := 2; i <= 5; i++ {
		if _, err := db.Exec("INSERT INTO shop.orders VALUES (?, ?)", i, i*10); err != nil {
			t.Fatal(err)
		}
	}
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res.stderr)
	}
	ids := func(cs []kafkaChange) (out []int) { // sorted: partitions interleave
		for _, c := range cs {
			out = append(out, c.id)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(r.committed()); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("while k1 is prepared a read_committed consumer sees ids %v, want [1 2 3 4 5]", got)
	}
	res := sluice(t, nil, "checkpoint", "show", "--config", r.cfg)
	if res.code != 0 || !strings.Contains(res.stdout, "emitted:") {
		t.Fatalf("checkpoint show while k1 is prepared: exit %d, want an emitted line\n%s%s", res.code, res.stdout, res.stderr)
	}
	if _, err := xa.ExecContext(ctx, "XA COMMIT 'k1'"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO shop.orders VALUES (6, 60)"); err != nil {
		t.Fatal(err)
	}
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("run after the XA commit: exit %d\n%s", res.code, res.stderr)
	}
	got := r.committed()
	if fmt.Sprint(ids(got)) != "[1 2 3 4 5 6 100]" {
		t.Fatalf("after k1 commits a read_committed consumer sees ids %v, want [1 2 3 4 5 6 100], each once", ids(got))
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.dedupe] {
			t.Fatalf("row change %s seen twice", c.dedupe)
		}
		seen[c.dedupe] = true
	}
	res = sluice(t, nil, "checkpoint", "show", "--config", r.cfg)
	if res.code != 0 || strings.Contains(res.stdout, "emitted:") {
		t.Fatalf("checkpoint show after k1 commits: exit %d, want no emitted line\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// kafkaWriteTx inserts row i and bumps n of two earlier rows, in one
// transaction; n only grows, so each key's changes have rising n.
func kafkaWriteTx(db *sql.DB, i int) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec("INSERT INTO shop.orders VALUES (?, ?)", i, i*10); err != nil {
		return err
	}
	for _, id := range []int{i / 2, i / 3} { // rows up to i exist
		if _, err := tx.Exec("UPDATE shop.orders SET n = n + 1 WHERE id = ?", id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// TestKafkaBadSettingsAtStart: an unreachable broker, or TLS against a
// plaintext one, fails `sluice run` at start with the fix named, exit 1,
// and writes no checkpoint.
func TestKafkaBadSettingsAtStart(t *testing.T) {
	r := newKafkaRig(t)
	b, _ := os.ReadFile(r.cfg)
	for name, sink := range map[string]string{
		"unreachable": "{type: kafka, brokers: [127.0.0.1:1]}",
		"tls":         fmt.Sprintf("{type: kafka, brokers: [%s], tls: {enabled: true}}", r.kafka.ListenAddrs()[0]),
	} {
		t.Run(name, func(t *testing.T) {
			i := strings.Index(string(b), "  - {type: kafka")
			cfg := filepath.Join(r.dir, name+".yaml")
			if err := os.WriteFile(cfg, []byte(string(b[:i])+"  - "+sink+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", cfg)
			if res.code != 1 || !strings.Contains(res.stderr, "check brokers, tls and sasl") {
				t.Fatalf("exit %d, want 1 with the settings to check named:\n%s", res.code, res.stderr)
			}
		})
	}
	if got := r.committed(); len(got) != 0 {
		t.Fatalf("a failed start wrote %d records", len(got))
	}
}

// TestKafkaReadOnlyCheckpointStore: the commands that only load the
// checkpoint (checkpoint show, status, snapshot's wait) open the Kafka
// store with a plain reader: no transactional producer is made for them
// (none waits in the config for a sink to take), and the store refuses to
// claim or write.
func TestKafkaReadOnlyCheckpointStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	yaml := `pipeline: ro
source: {host: 127.0.0.1, port: 3306, user: u, server_id: 9}
checkpoint: {store: kafka, dir: ` + dir + `}
sinks:
  - {type: kafka, brokers: ["127.0.0.1:1"]}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path, func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	store, err := cfg.loadCheckpointStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.kafka != nil {
		t.Fatal("a read-only command made a transactional Kafka producer")
	}
	fs, ok := store.(checkpoint.FencingStore)
	if !ok {
		t.Fatalf("store %T", store)
	}
	if _, err := fs.Acquire(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Acquire on the read-only store: %v", err)
	}
	if err := store.Save(context.Background(), &checkpoint.Checkpoint{Pipeline: "ro"}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Save on the read-only store: %v", err)
	}
	// sluice run's store still writes through the sink it hands over.
	if _, err := cfg.checkpointStore(context.Background()); err != nil || cfg.kafka == nil {
		t.Fatalf("run's store: %v, sink %v", err, cfg.kafka)
	}
	_ = cfg.kafka.Close()
}
