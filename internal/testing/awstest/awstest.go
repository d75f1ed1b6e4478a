// Package awstest gives tests local AWS emulators, each a child process on
// a free 127.0.0.1 port with a data directory of its own:
//
//   - S3: versitygw (VersitygwVersion) over a POSIX directory, with static
//     root credentials;
//   - Kinesis: kinesalite, and DynamoDB: dynalite, from
//     scripts/aws-emulators/package.json, run by node with
//     scripts/aws-emulators/loopback.js preloaded so that they listen on
//     127.0.0.1 only.
//
// What is missing is installed on first use, once per machine under a file
// lock (go test runs several test binaries at once): npm ci in
// scripts/aws-emulators, and go install of versitygw into
// <user cache dir>/sluice/tools/versitygw-<version>/, the place
// scripts/aws-emulators/start.sh uses too ($SLUICE_VERSITYGW overrides).
// After that an emulator is ready in about a tenth (versitygw) to a third
// (node ones) of a second; SLUICE_AWSTEST_VERBOSE=1 prints timings.
//
// Start only what a test uses:
//
//	env := awstest.StartDynamo(t)
//	db := env.DynamoDBClient()
//
// or share emulators across a package:
//
//	var env *awstest.Env
//
//	func TestMain(m *testing.M) {
//		awstest.Main(m, func(e *awstest.Env) { env = e }, awstest.S3, awstest.Kinesis)
//	}
//
// Each Emulator can be stopped, killed, paused and restarted on the same
// port with the same data, for ride-through tests. Emulators die with the
// test binary (parent-death signal); data directories left by killed test
// binaries are removed by the next start on the machine. Linux only.
package awstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/testing/testproc"
)

// Credentials and region of every Env. kinesalite and dynalite accept any
// credentials; versitygw checks them.
const (
	AccessKeyID     = "sluicetest"
	SecretAccessKey = "sluicetestsecret"
	Region          = "us-east-1"
)

// Service names an emulated AWS service.
type Service string

// The emulated services.
const (
	S3       Service = "s3"
	Kinesis  Service = "kinesis"
	DynamoDB Service = "dynamodb"
)

// AllServices lists every service, in start order.
var AllServices = []Service{S3, Kinesis, DynamoDB}

var verbose = os.Getenv("SLUICE_AWSTEST_VERBOSE") != ""

func logf(format string, args ...any) {
	if verbose {
		fmt.Fprintf(os.Stderr, "awstest: "+format+"\n", args...)
	}
}

// Env is a set of running emulators; the ones not started are nil.
type Env struct {
	S3       *Emulator
	Kinesis  *Emulator
	DynamoDB *Emulator

	AccessKeyID     string
	SecretAccessKey string
	Region          string
}

// New starts the given services (all when none are given) and waits until
// each answers. Close stops them and removes their data.
func New(services ...Service) (*Env, error) {
	if len(services) == 0 {
		services = AllServices
	}
	cleanupOrphans()
	env := &Env{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Region: Region}
	ems := make([]*Emulator, len(services))
	errs := make([]error, len(services))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ems[i], errs[i] = env.start(svc)
		}()
	}
	wg.Wait()
	for i, svc := range services {
		if ems[i] == nil {
			continue
		}
		switch svc {
		case S3:
			env.S3 = ems[i]
		case Kinesis:
			env.Kinesis = ems[i]
		case DynamoDB:
			env.DynamoDB = ems[i]
		}
	}
	if err := errors.Join(errs...); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// Start starts the given services (all when none are given) for one test
// and closes them when it ends; it calls t.Fatal when one cannot start.
func Start(t testing.TB, services ...Service) *Env {
	t.Helper()
	env, err := New(services...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("awstest: close: %v", err)
		}
	})
	return env
}

// StartS3 starts versitygw only; see Start.
func StartS3(t testing.TB) *Env { t.Helper(); return Start(t, S3) }

// StartKinesis starts kinesalite only; see Start.
func StartKinesis(t testing.TB) *Env { t.Helper(); return Start(t, Kinesis) }

// StartDynamo starts dynalite only; see Start.
func StartDynamo(t testing.TB) *Env { t.Helper(); return Start(t, DynamoDB) }

// Main runs a test package against one shared set of emulators: it starts
// the services (all when none are given), hands the Env to set, runs the
// tests, closes the emulators and exits. Call it from TestMain.
func Main(m *testing.M, set func(*Env), services ...Service) {
	env, err := New(services...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	set(env)
	code := m.Run()
	if err := env.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "awstest: close:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Close stops every emulator and removes their data. It is idempotent.
func (e *Env) Close() error {
	var errs []error
	for _, m := range e.emulators() {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

func (e *Env) emulators() []*Emulator {
	var out []*Emulator
	for _, m := range []*Emulator{e.S3, e.Kinesis, e.DynamoDB} {
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// Environ returns the environment that points AWS SDKs and CLIs at the
// started emulators: AWS_ENDPOINT_URL_S3/_KINESIS/_DYNAMODB, the
// credentials, AWS_REGION, and AWS_EC2_METADATA_DISABLED=true. Append it to
// os.Environ() for a child process such as the sluice binary.
func (e *Env) Environ() []string {
	var env []string
	if e.S3 != nil {
		env = append(env, "AWS_ENDPOINT_URL_S3="+e.S3.Endpoint())
	}
	if e.Kinesis != nil {
		env = append(env, "AWS_ENDPOINT_URL_KINESIS="+e.Kinesis.Endpoint())
	}
	if e.DynamoDB != nil {
		env = append(env, "AWS_ENDPOINT_URL_DYNAMODB="+e.DynamoDB.Endpoint())
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+e.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+e.SecretAccessKey,
		"AWS_REGION="+e.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// Config returns an aws.Config with the Env's static credentials and region
// and nothing read from the machine (no environment, no ~/.aws files, no
// instance metadata). The service endpoints are set per client, by
// S3Client, KinesisClient and DynamoDBClient.
func (e *Env) Config() aws.Config {
	return aws.Config{
		Region:      e.Region,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKeyID, e.SecretAccessKey, ""),
	}
}

// S3Client returns a client for versitygw: path-style addressing and
// checksums only where an operation requires them (what S3 compatibles
// expect). optFns apply after those settings.
func (e *Env) S3Client(optFns ...func(*s3.Options)) *s3.Client {
	if e.S3 == nil {
		panic("awstest: S3 was not started")
	}
	return s3.NewFromConfig(e.Config(), append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(e.S3.Endpoint())
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}}, optFns...)...)
}

// KinesisClient returns a client for kinesalite. optFns apply after the
// endpoint is set.
func (e *Env) KinesisClient(optFns ...func(*kinesis.Options)) *kinesis.Client {
	if e.Kinesis == nil {
		panic("awstest: Kinesis was not started")
	}
	return kinesis.NewFromConfig(e.Config(), append([]func(*kinesis.Options){func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(e.Kinesis.Endpoint())
	}}, optFns...)...)
}

// DynamoDBClient returns a client for dynalite. optFns apply after the
// endpoint is set.
func (e *Env) DynamoDBClient(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	if e.DynamoDB == nil {
		panic("awstest: DynamoDB was not started")
	}
	return dynamodb.NewFromConfig(e.Config(), append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(e.DynamoDB.Endpoint())
	}}, optFns...)...)
}

// probe makes one API call without retries: the readiness check.
func (e *Env) probe(ctx context.Context, m *Emulator) error {
	var err error
	switch m.Service {
	case S3:
		c := s3.NewFromConfig(e.Config(), func(o *s3.Options) {
			o.BaseEndpoint = aws.String(m.Endpoint())
			o.UsePathStyle = true
			o.RetryMaxAttempts = 1
		})
		_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
	case Kinesis:
		c := kinesis.NewFromConfig(e.Config(), func(o *kinesis.Options) {
			o.BaseEndpoint = aws.String(m.Endpoint())
			o.RetryMaxAttempts = 1
		})
		_, err = c.ListStreams(ctx, &kinesis.ListStreamsInput{})
	case DynamoDB:
		c := dynamodb.NewFromConfig(e.Config(), func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(m.Endpoint())
			o.RetryMaxAttempts = 1
		})
		_, err = c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	default:
		err = fmt.Errorf("unknown service %q", m.Service)
	}
	return err
}

// start starts one emulator on a free port, trying another port when a
// stranger takes the one picked.
func (e *Env) start(svc Service) (*Emulator, error) {
	bin, argsFor, err := command(svc)
	if err != nil {
		return nil, err
	}
	root, data, err := newRoot(svc)
	if err != nil {
		return nil, err
	}
	m := &Emulator{Service: svc, Host: "127.0.0.1", env: e, bin: bin, root: root, dataDir: data}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := testproc.FreePort()
		if err != nil {
			lastErr = fmt.Errorf("awstest: %w", err)
			break
		}
		m.Port = port
		m.args = argsFor(port, data)
		m.mu.Lock()
		err = m.launchLocked()
		m.mu.Unlock()
		if err == nil {
			return m, nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	os.RemoveAll(root)
	return nil, lastErr
}

// command returns the binary that runs svc, installing it when missing,
// and its arguments for a port and data directory.
func command(svc Service) (bin string, args func(port int, data string) []string, err error) {
	switch svc {
	case S3:
		bin, err := versitygwBinary()
		if err != nil {
			return "", nil, err
		}
		return bin, func(port int, data string) []string {
			return []string{
				"--port", "127.0.0.1:" + strconv.Itoa(port),
				"--access", AccessKeyID, "--secret", SecretAccessKey, "--region", Region,
				"--quiet",
				"posix", data,
			}
		}, nil
	case Kinesis, DynamoDB:
		dir, err := nodeModules()
		if err != nil {
			return "", nil, err
		}
		node, err := exec.LookPath("node")
		if err != nil {
			return "", nil, fmt.Errorf("awstest: %w", err)
		}
		preload := []string{"-r", filepath.Join(dir, "loopback.js")}
		if svc == Kinesis {
			cli := filepath.Join(dir, "node_modules", "kinesalite", "cli.js")
			return node, func(port int, data string) []string {
				return append(preload, cli, "--port", strconv.Itoa(port), "--path", data,
					"--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0")
			}, nil
		}
		cli := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
		return node, func(port int, data string) []string {
			return append(preload, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--path", data,
				"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
		}, nil
	}
	return "", nil, fmt.Errorf("awstest: unknown service %q", svc)
}
