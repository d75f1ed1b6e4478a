package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// kinesisRecord is one record read back, with its partition key.
type kinesisRecord struct {
	shard, key string
	data       []byte
}

func (r *deliveryRig) createStream(name string, shards int32) {
	r.t.Helper()
	ctx := context.Background()
	kc := r.aws.KinesisClient()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("stream %s not active: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamRecords reads every record of a stream, in shard order.
func (r *deliveryRig) streamRecords(name string) []kinesisRecord {
	r.t.Helper()
	ctx := context.Background()
	kc := r.aws.KinesisClient()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []kinesisRecord
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			r.t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				r.t.Fatal(err)
			}
			for _, rec := range res.Records {
				out = append(out, kinesisRecord{shard: aws.ToString(sh.ShardId), key: aws.ToString(rec.PartitionKey), data: rec.Data})
			}
			if len(res.Records) == 0 || aws.ToInt64(res.MillisBehindLatest) == 0 && len(res.Records) < 10000 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// TestKinesisRouting streams transactions that touch two tables for random
// customers to two Kinesis streams, one partitioned by the customer_id
// column, one by transaction, with strict ordering. Every row is on the key
// its routing names; each key's records are in binlog order; every row of
// a transaction shares one key and no two transactions share one.
func TestKinesisRouting(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.Kinesis, awstest.DynamoDB)
	r.createStream("by-customer", 2)
	r.createStream("by-tx", 2)
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b) + "  - {type: kinesis, stream: by-customer, partition_key: columns, columns: [customer_id]}\n" +
		"  - {type: kinesis, stream: by-tx, partition_key: transaction}\n"
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.src.Exec(t, "CREATE DATABASE routed", "USE routed",
		"CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, v INT NOT NULL)",
		"CREATE TABLE payments (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, amount INT NOT NULL)")
	db := r.src.DB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	txs := 60
	if testing.Short() {
		txs = 30
	}
	rows := 0
	for i := range txs {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for j := range 1 + rng.IntN(4) {
			cust := rng.IntN(5)
			id := i*10 + j
			stmts := []string{
				fmt.Sprintf("INSERT INTO routed.orders VALUES (%d, %d, 0)", id, cust),
				fmt.Sprintf("INSERT INTO routed.payments (customer_id, amount) VALUES (%d, %d)", cust, id),
				fmt.Sprintf("UPDATE routed.orders SET v = v + 1 WHERE id = %d", id),
			}
			for _, s := range stmts {
				if _, err := tx.Exec(s); err != nil {
					t.Fatal(err)
				}
			}
			rows += 3
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	r.catchUp()

	type row struct {
		Database, Table, Type string
		Xid                   uint64
		DedupeKey             string `json:"dedupe_key"`
		Data                  map[string]any
	}
	read := func(stream string) map[string][]row {
		byKey := map[string][]row{}
		shardOf := map[string]string{}
		for _, rec := range r.streamRecords(stream) {
			var ev row
			if err := json.Unmarshal(rec.data, &ev); err != nil {
				t.Fatalf("%s: not an event: %v\n%s", stream, err, rec.data)
			}
			if ev.Database != "routed" || ev.Data == nil {
				continue
			}
			if s, ok := shardOf[rec.key]; ok && s != rec.shard {
				t.Errorf("%s: key %s in shards %s and %s", stream, rec.key, s, rec.shard)
			}
			shardOf[rec.key] = rec.shard
			byKey[rec.key] = append(byKey[rec.key], ev)
		}
		n := 0
		for key, evs := range byKey {
			n += len(evs)
			for i := 1; i < len(evs); i++ {
				a, b := evs[i-1].DedupeKey, evs[i].DedupeKey
				if compareDedupe(t, a[strings.IndexByte(a, ':')+1:], b[strings.IndexByte(b, ':')+1:]) >= 0 {
					t.Errorf("%s: key %s: %s after %s", stream, key, b, a)
				}
			}
		}
		if n != rows {
			t.Errorf("%s: %d row events, want %d", stream, n, rows)
		}
		return byKey
	}
	for key, evs := range read("by-customer") {
		for _, ev := range evs {
			if want := fmt.Sprintf("[%v]", ev.Data["customer_id"]); key != want {
				t.Errorf("by-customer: %s %s row on key %s, want %s", ev.Table, ev.DedupeKey, key, want)
			}
		}
	}
	xids := map[uint64]string{}
	byTx := read("by-tx")
	for key, evs := range byTx {
		if !strings.HasPrefix(key, "tx:") {
			t.Errorf("by-tx: key %q", key)
		}
		for _, ev := range evs {
			if k, ok := xids[ev.Xid]; ok && k != key {
				t.Errorf("by-tx: transaction %d on keys %s and %s", ev.Xid, k, key)
			}
			xids[ev.Xid] = key
		}
	}
	if len(byTx) != txs || len(xids) != txs {
		t.Errorf("by-tx: %d keys for %d transactions (%d xids)", len(byTx), txs, len(xids))
	}
}

// TestKinesisStreamTemplate routes events to a stream per table
// ("cdc-{database}-{table}", database-level changes to "cdc-{database}"):
// each stream holds its table's events only, every row is there, and each
// row's events are in binlog order (strict ordering).
func TestKinesisStreamTemplate(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.Kinesis, awstest.DynamoDB)
	for _, s := range []string{"cdc-tmpl-a", "cdc-tmpl-b", "cdc-tmpl"} {
		r.createStream(s, 2)
	}
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "start: earliest", "start: latest", 1) +
		"  - {type: kinesis, stream: \"cdc-{database}-{table}\", database_stream: \"cdc-{database}\"}\n" +
		"filter: {include: [\"tmpl.*\"]}\n"
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.catchUp() // starts at the head: only what follows streams
	r.src.Exec(t, "CREATE DATABASE tmpl", "USE tmpl",
		"CREATE TABLE a (id INT PRIMARY KEY, v INT)", "CREATE TABLE b (id INT PRIMARY KEY, v INT)")
	db := r.src.DB(t)
	const n = 40
	for i := range n {
		for _, stmt := range []string{
			fmt.Sprintf("INSERT INTO tmpl.a VALUES (%d, 0)", i%10+100*(i/10)),
			fmt.Sprintf("INSERT INTO tmpl.b VALUES (%d, 0)", i),
			fmt.Sprintf("UPDATE tmpl.b SET v = v + 1 WHERE id = %d", i/2),
		} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.catchUp()
	for stream, want := range map[string]struct {
		table string
		rows  int
	}{"cdc-tmpl-a": {"a", n}, "cdc-tmpl-b": {"b", 2 * n}, "cdc-tmpl": {"", 0}} {
		recs := r.streamRecords(stream)
		last := map[string]string{}
		rows, ddl := 0, 0
		for _, rec := range recs {
			var ev struct {
				Database, Table, Type string
				DedupeKey             string `json:"dedupe_key"`
				Data                  map[string]any
			}
			if err := json.Unmarshal(rec.data, &ev); err != nil {
				t.Fatalf("%s: %v", stream, err)
			}
			if ev.Database != "tmpl" || ev.Table != want.table {
				t.Errorf("%s holds an event of %s.%s: %s", stream, ev.Database, ev.Table, rec.data)
			}
			if ev.Data == nil {
				ddl++
				continue
			}
			rows++
			pos := ev.DedupeKey[strings.IndexByte(ev.DedupeKey, ':')+1:]
			if prev, ok := last[rec.key]; ok && compareDedupe(t, pos, prev) <= 0 {
				t.Errorf("%s: key %s: %s after %s", stream, rec.key, pos, prev)
			}
			last[rec.key] = pos
		}
		if rows != want.rows || ddl != 1 {
			t.Errorf("%s: %d rows and %d schema changes, want %d and 1", stream, rows, ddl, want.rows)
		}
	}
}

// lakeEventsUnder reads every object the manifests under prefix list.
func (r *deliveryRig) lakeEventsUnder(prefix string) []string {
	r.t.Helper()
	ctx := context.Background()
	c := r.aws.S3Client()
	var lines []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String(prefix + "/_manifests/")})
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
				if !strings.HasPrefix(obj.Key, prefix+"/") {
					r.t.Errorf("manifest %s lists %s, outside its prefix", *o.Key, obj.Key)
				}
				b, err := emit.DecodeObject(obj.Key, r.get(obj.Key))
				if err != nil {
					r.t.Fatalf("object %s: %v", obj.Key, err)
				}
				lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
			}
		}
	}
	return lines
}

// TestS3PrefixTemplate writes each database's events under its own prefix
// ("raw/{database}"), each a whole lake with its own manifests.
func TestS3PrefixTemplate(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(strings.Replace(string(b), "prefix: raw,", "prefix: \"raw/{database}\",", 1), "start: earliest", "start: latest", 1)
	if !strings.Contains(cfg, "raw/{database}") {
		t.Fatalf("config not templated:\n%s", cfg)
	}
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.catchUp()
	r.src.Exec(t, "CREATE DATABASE pa", "CREATE TABLE pa.t (id INT PRIMARY KEY)", "CREATE DATABASE pb", "CREATE TABLE pb.t (id INT PRIMARY KEY)",
		"USE pa", "INSERT INTO pa.t SELECT seq FROM seq_1_to_30", "INSERT INTO pb.t SELECT seq FROM seq_1_to_20", "UPDATE pa.t SET id = id + 100 WHERE id <= 5")
	r.catchUp()
	for db, want := range map[string]int{"pa": 35, "pb": 20} {
		rows := 0
		for _, l := range r.lakeEventsUnder("raw/" + db) {
			var ev struct{ Database, Type string }
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("%s: %v: %s", db, err, l)
			}
			if ev.Database != db {
				t.Errorf("raw/%s holds an event of %s: %s", db, ev.Database, l)
			}
			if ev.Type == "insert" || ev.Type == "update" {
				rows++
			}
		}
		if rows != want {
			t.Errorf("raw/%s: %d row events, want %d", db, rows, want)
		}
	}
}
