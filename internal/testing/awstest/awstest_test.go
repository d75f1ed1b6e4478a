package awstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/testing/testproc"
)

// testContext bounds a test's API calls. Create it after Start: a cold
// Start installs the emulators first, which can take minutes.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestStartAll(t *testing.T) {
	begin := time.Now()
	env := Start(t)
	t.Logf("all three ready in %v (in parallel)", time.Since(begin).Round(time.Millisecond))
	for _, m := range env.emulators() {
		t.Logf("%-8s %s ready in %v", m.Service, m.Endpoint(), m.StartupTime().Round(time.Millisecond))
		addrs, err := listeningSockets(m.proc.Pid())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("%s listens on %s", m.Service, a)
			}
		}
	}
	ctx := testContext(t)
	s3RoundTrip(ctx, t, env)
	kinesisRoundTrip(ctx, t, env)
	dynamoRoundTrip(ctx, t, env)

	got := strings.Join(env.Environ(), "\n")
	for _, want := range []string{
		"AWS_ENDPOINT_URL_S3=" + env.S3.Endpoint(),
		"AWS_ENDPOINT_URL_KINESIS=" + env.Kinesis.Endpoint(),
		"AWS_ENDPOINT_URL_DYNAMODB=" + env.DynamoDB.Endpoint(),
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_REGION=us-east-1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Environ() lacks %s:\n%s", want, got)
		}
	}
}

func s3RoundTrip(ctx context.Context, t *testing.T, env *Env) {
	t.Helper()
	c := env.S3Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sluice-test")}); err != nil {
		t.Fatalf("s3 create bucket: %v", err)
	}
	body := []byte(`{"hello":"world"}`)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("sluice-test"), Key: aws.String("a/b/c.json"), Body: bytes.NewReader(body),
	}); err != nil {
		t.Fatalf("s3 put: %v", err)
	}
	checkObject(ctx, t, c, "a/b/c.json", body)
}

func checkObject(ctx context.Context, t *testing.T, c *s3.Client, key string, want []byte) {
	t.Helper()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sluice-test"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("s3 get %s: %v", key, err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("s3 get %s = %q, want %q", key, got, want)
	}
}

func kinesisRoundTrip(ctx context.Context, t *testing.T, env *Env) {
	t.Helper()
	c := env.KinesisClient()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("kinesis create stream: %v", err)
	}
	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}, 10*time.Second); err != nil {
		t.Fatalf("kinesis wait for stream: %v", err)
	}
	put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("rec-1")})
	if err != nil {
		t.Fatalf("kinesis put: %v", err)
	}
	checkKinesis(ctx, t, c, *put.ShardId, "rec-1")
}

func checkKinesis(ctx context.Context, t *testing.T, c *kinesis.Client, shard, want string) {
	t.Helper()
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("kinesis iterator: %v", err)
	}
	recs, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("kinesis get records: %v", err)
	}
	if len(recs.Records) != 1 || string(recs.Records[0].Data) != want {
		t.Fatalf("kinesis records = %+v, want one %q", recs.Records, want)
	}
}

func dynamoRoundTrip(ctx context.Context, t *testing.T, env *Env) {
	t.Helper()
	c := env.DynamoDBClient()
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("tbl"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("dynamodb create table: %v", err)
	}
	// Even with --createTableMs 0 the table is CREATING for a moment, and
	// writes to it fail with ResourceNotFoundException, as on AWS.
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 20 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("tbl")}, 10*time.Second); err != nil {
		t.Fatalf("dynamodb wait for table: %v", err)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbl"), Item: map[string]ddbtypes.AttributeValue{
		"k": &ddbtypes.AttributeValueMemberS{Value: "a"},
		"v": &ddbtypes.AttributeValueMemberN{Value: "1"},
	}}); err != nil {
		t.Fatalf("dynamodb put: %v", err)
	}
	checkDynamo(ctx, t, c, "1")
}

func checkDynamo(ctx context.Context, t *testing.T, c *dynamodb.Client, want string) {
	t.Helper()
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("tbl"), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"k": &ddbtypes.AttributeValueMemberS{Value: "a"}}})
	if err != nil {
		t.Fatalf("dynamodb get: %v", err)
	}
	v, ok := out.Item["v"].(*ddbtypes.AttributeValueMemberN)
	if !ok || v.Value != want {
		t.Fatalf("dynamodb item = %v, want v=%s", out.Item, want)
	}
}

// TestOutageKeepsEndpointAndData takes each emulator away (Stop, then
// Kill), checks that calls fail, and brings it back on the same endpoint
// with its data.
func TestOutageKeepsEndpointAndData(t *testing.T) {
	for _, svc := range AllServices {
		t.Run(string(svc), func(t *testing.T) {
			t.Parallel()
			env := Start(t, svc)
			ctx := testContext(t)
			var m *Emulator
			var check func()
			noRetry := func(o *int) { *o = 1 }
			var fail func(context.Context) error
			switch svc {
			case S3:
				m = env.S3
				s3RoundTrip(ctx, t, env)
				c := env.S3Client(func(o *s3.Options) { noRetry(&o.RetryMaxAttempts) })
				check = func() { checkObject(ctx, t, c, "a/b/c.json", []byte(`{"hello":"world"}`)) }
				fail = func(ctx context.Context) error { _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); return err }
			case Kinesis:
				m = env.Kinesis
				kinesisRoundTrip(ctx, t, env)
				c := env.KinesisClient(func(o *kinesis.Options) { noRetry(&o.RetryMaxAttempts) })
				check = func() { checkKinesis(ctx, t, c, "shardId-000000000000", "rec-1") }
				fail = func(ctx context.Context) error { _, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}); return err }
			case DynamoDB:
				m = env.DynamoDB
				dynamoRoundTrip(ctx, t, env)
				c := env.DynamoDBClient(func(o *dynamodb.Options) { noRetry(&o.RetryMaxAttempts) })
				check = func() { checkDynamo(ctx, t, c, "1") }
				fail = func(ctx context.Context) error { _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{}); return err }
			}
			endpoint := m.Endpoint()

			for _, down := range []struct {
				name string
				fn   func() error
			}{{"stop", m.Stop}, {"kill", m.Kill}} {
				if err := down.fn(); err != nil {
					t.Fatalf("%s: %v", down.name, err)
				}
				if m.Running() {
					t.Fatalf("%s: still running", down.name)
				}
				if err := fail(ctx); err == nil {
					t.Fatalf("after %s: call succeeded", down.name)
				}
				if err := m.Restart(); err != nil {
					t.Fatalf("restart after %s: %v", down.name, err)
				}
				t.Logf("restart after %s: ready in %v", down.name, m.StartupTime().Round(time.Millisecond))
				if m.Endpoint() != endpoint {
					t.Fatalf("endpoint moved from %s to %s", endpoint, m.Endpoint())
				}
				check()
			}

			// A paused emulator accepts connections and answers nothing.
			if err := m.Pause(); err != nil {
				t.Fatal(err)
			}
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := fail(pctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call to a paused emulator: got %v, want a deadline error", err)
			}
			if err := m.Resume(); err != nil {
				t.Fatal(err)
			}
			check()

			// Close removes the data directory and may be repeated.
			if err := env.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(m.DataDir()); !os.IsNotExist(err) {
				t.Fatalf("data directory %s after Close: %v", m.DataDir(), err)
			}
			if err := m.Restart(); err == nil {
				t.Fatal("restart after Close succeeded")
			}
		})
	}
}

// TestLoopbackPreload checks that loopback.js moves listens on all
// interfaces or other addresses to 127.0.0.1, and leaves unix sockets alone.
func TestLoopbackPreload(t *testing.T) {
	dir, err := emulatorsDir()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	script := `
const net = require('net'), http = require('http')
const out = []
const done = () => { if (out.length === 5) { console.log(out.join(' ')); process.exit(0) } }
const add = (s) => () => { const a = s.address(); out.push(typeof a === 'string' ? 'unix' : a.address); s.close(); done() }
let s
s = net.createServer(); s.listen(add(s))
const h = http.createServer(); h.listen(0, '0.0.0.0', 5, add(h))
const o = net.createServer(); o.listen({port: 0, host: '::'}, add(o))
const p = net.createServer(); p.listen('0', add(p))
const u = net.createServer(); u.listen(process.argv[1], add(u))
`
	out, err := exec.Command("node", "-r", filepath.Join(dir, "loopback.js"), "-e", script, sock).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	loop, unix := 0, 0
	for _, a := range got {
		switch a {
		case "127.0.0.1":
			loop++
		case "unix":
			unix++
		default:
			t.Errorf("a server listened on %s", a)
		}
	}
	if loop != 4 || unix != 1 {
		t.Fatalf("listens: %v, want four on 127.0.0.1 and one unix socket", got)
	}
}

func TestParseProcAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000:0016", "0.0.0.0:22"},
		{"00000000000000000000000001000000:1F90", "[::1]:8080"},
		{"00000000000000000000000000000000:0050", "[::]:80"},
	} {
		a, ok := parseProcAddr(tc.in)
		if !ok || a.String() != tc.want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", tc.in, a, ok, tc.want)
		}
	}
}

// TestWaitReadyRejectsNonLoopback: a child that listens on all interfaces
// is killed and reported, never taken as ready.
func TestWaitReadyRejectsNonLoopback(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Without loopback.js: the listen really binds 0.0.0.0.
	script := `require('net').createServer().listen(+process.argv[1], '0.0.0.0')`
	m := &Emulator{
		Service: DynamoDB, Host: "127.0.0.1", Port: port,
		env: &Env{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Region: Region},
		bin: node, args: []string{"-e", script, strconv.Itoa(port)}, root: t.TempDir(),
	}
	begin := time.Now()
	m.mu.Lock()
	err = m.launchLocked()
	running := m.proc != nil
	m.mu.Unlock()
	if running {
		m.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "0.0.0.0:"+strconv.Itoa(port)) || !strings.Contains(err.Error(), "not only on loopback") {
		t.Fatalf("launch of a server on 0.0.0.0: %v, want it refused for listening beyond loopback", err)
	}
	if errors.Is(err, errPortInUse) || running {
		t.Fatalf("refused launch: port in use %v, still running %v", errors.Is(err, errPortInUse), running)
	}
	if d := time.Since(begin); d > readyTimeout/2 {
		t.Fatalf("refusal took %v: it waited for the timeout instead", d)
	}
	// The child was killed: the port is free again.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d still taken after the refusal: %v", port, err)
	}
	l.Close()
}

// TestInstallVersitygw runs the installer with a fake go command: it must
// build into a temporary GOBIN and rename the result into place, replacing
// a binary cut short and removing what a killed install left.
func TestInstallVersitygw(t *testing.T) {
	cache := t.TempDir()
	fakeBin := t.TempDir()
	gobinLog := filepath.Join(t.TempDir(), "gobin")
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv(EnvVersitygw, "")
	t.Setenv("PATH", fakeBin)
	t.Setenv("SLUICE_FAKE_GOBIN_LOG", gobinLog)
	fakeGo := `#!/bin/sh
case "$1" in
env) echo /nonexistent ;;
install) echo "$GOBIN" >"$SLUICE_FAKE_GOBIN_LOG"; echo complete >"$GOBIN/versitygw" ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(fakeBin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := versitygwDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, cache) {
		t.Fatalf("versitygwDir() = %s, not under XDG_CACHE_HOME %s", dir, cache)
	}
	// What an older in-place installer left when it was killed, and what a
	// killed install into a temporary directory left.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "versitygw"), []byte("\x7fELF cut sho"), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := dir + ".tmp-123"
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}

	bin, err := findOrInstallVersitygw()
	if err != nil {
		t.Fatal(err)
	}
	if bin != filepath.Join(dir, "versitygw") {
		t.Fatalf("binary at %s, want %s", bin, filepath.Join(dir, "versitygw"))
	}
	if got, err := os.ReadFile(bin); err != nil || string(got) != "complete\n" {
		t.Fatalf("installed binary: %q, %v", got, err)
	}
	gobin, err := os.ReadFile(gobinLog)
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.TrimSpace(string(gobin)); g == dir || filepath.Dir(g) != filepath.Dir(dir) {
		t.Fatalf("go install ran with GOBIN=%s, want a temporary directory beside %s", g, dir)
	}
	left, err := filepath.Glob(dir + ".tmp-*")
	if err != nil || len(left) != 0 {
		t.Fatalf("temporary directories left: %v, %v", left, err)
	}
}
