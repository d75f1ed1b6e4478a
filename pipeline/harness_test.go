package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/pipeline"
)

var srv *mysqltest.Server

func TestMain(m *testing.M) {
	mysqltest.Main(m, mysqltest.Options{}, func(s *mysqltest.Server) { srv = s })
}

func sourceConfig(s *mysqltest.Server) binlog.Config {
	c := binlog.DefaultConfig()
	c.Host, c.Port, c.User, c.Password = s.Host, uint16(s.Port), s.User, s.Password
	c.HeartbeatPeriod = 250 * time.Millisecond
	c.ReadTimeout = 3 * time.Second
	c.RetryTimeout = 30 * time.Second
	return c
}

// harness runs pipelines from a fixed starting point into one file sink.
type harness struct {
	t     testing.TB
	srv   *mysqltest.Server
	dir   string
	store *checkpoint.FileStore
	out   string
	cfg   pipeline.Config
}

// newHarness starts a pipeline's life at the server's current head: only
// what the test does afterwards is streamed.
func newHarness(t testing.TB, s *mysqltest.Server) *harness {
	t.Helper()
	dir := t.TempDir()
	store, err := checkpoint.NewFileStore(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.DefaultConfig()
	cfg.Name = "test"
	cfg.Source = sourceConfig(s)
	cfg.CheckpointInterval = 50 * time.Millisecond
	cfg.SpillDir = dir
	cfg.SchemaPath = filepath.Join(dir, "test.schema.json")
	cfg.Logger = testLogger(t)
	h := &harness{t: t, srv: s, dir: dir, store: store, out: filepath.Join(dir, "events.jsonl"), cfg: cfg}
	head, err := binlog.Head(context.Background(), &cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), &checkpoint.Checkpoint{Pipeline: "test", Position: head}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) pipeline(exitWhenCaughtUp bool) *pipeline.Pipeline {
	h.t.Helper()
	cfg := h.cfg
	cfg.ExitWhenCaughtUp = exitWhenCaughtUp
	p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) {
		f, err := emit.OpenFile(h.out)
		if err != nil {
			return nil, err
		}
		return []emit.Sink{f}, nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// catchUp runs the pipeline until it has delivered everything committed so far.
func (h *harness) catchUp() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.pipeline(true).Run(ctx); err != nil {
		h.t.Fatalf("run: %v", err)
	}
}

func (h *harness) checkpoint() *checkpoint.Checkpoint {
	h.t.Helper()
	cp, err := h.store.Load(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return cp
}

// lines returns the sink file's lines.
func (h *harness) lines() [][]byte {
	h.t.Helper()
	b, err := os.ReadFile(h.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// events decodes the sink file, numbers kept as written.
func (h *harness) events() []map[string]any {
	h.t.Helper()
	var evs []map[string]any
	for i, l := range h.lines() {
		evs = append(evs, decodeEvent(h.t, i, l))
	}
	return evs
}

func decodeEvent(t testing.TB, i int, line []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("event %d is not JSON: %v\n%s", i, err, line)
	}
	return m
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
