package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// pipelineName is the pipeline of every sluice run.
const pipelineName = "bench"

// Sink entries of a sluice configuration.
func fileSinkYAML(path string) string {
	return fmt.Sprintf("  - type: file\n    path: %s\n", path)
}

// s3SinkYAML is an S3 sink entry; compression and maxBuffered are left
// to sluice's defaults when empty or 0 (so older binaries take it too).
func s3SinkYAML(bucket, prefix, compression string, maxBuffered int) string {
	s := fmt.Sprintf("  - type: s3\n    bucket: %s\n    prefix: %s\n", bucket, prefix)
	if compression != "" {
		s += fmt.Sprintf("    compression: %s\n", compression)
	}
	if maxBuffered > 0 {
		s += fmt.Sprintf("    max_buffered_bytes: %d\n", maxBuffered)
	}
	return s
}

func kinesisSinkYAML(stream string, aggregate bool) string {
	return fmt.Sprintf("  - type: kinesis\n    stream: %s\n    aggregate: %t\n", stream, aggregate)
}

// writeConfig writes dir/sluice.yaml: the throwaway server, a file
// checkpoint in dir/cp and the given sinks; everything else is sluice's
// default. With from set, a checkpoint at from is stored first, so the run
// starts there; without, the run starts at the server's head.
func (e *env) writeConfig(ctx context.Context, dir string, from *event.Position, sinks ...string) (string, error) {
	cpDir := filepath.Join(dir, "cp")
	if from != nil {
		store, err := checkpoint.NewFileStore(cpDir, pipelineName)
		if err != nil {
			return "", err
		}
		if err := store.Save(ctx, &checkpoint.Checkpoint{Pipeline: pipelineName, Position: *from, UpdatedAt: time.Now().UTC()}); err != nil {
			return "", err
		}
	}
	cfg := fmt.Sprintf(`pipeline: %s
start: latest
source:
  host: %s
  port: %d
  user: %s
  password: %q
checkpoint:
  store: file
  dir: %s
aws:
  region: %s
log:
  level: info
sinks:
%s`, pipelineName, e.srv.Host, e.srv.Port, e.srv.User, e.srv.Password, cpDir, awstest.Region, strings.Join(sinks, ""))
	path := filepath.Join(dir, "sluice.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// childEnv is the environment of a sluice child: this process's, without
// any SLUICE_ or AWS_ variable (they would change the configuration or
// point at real AWS), plus the emulators' endpoints and credentials.
func childEnv(aws *awstest.Env) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") && !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	if aws != nil {
		out = append(out, aws.Environ()...)
	}
	return out
}

// sluiceProc is a running sluice child.
type sluiceProc struct {
	cmd     *exec.Cmd
	start   time.Time
	busy0   time.Duration
	log     *logBuffer
	done    chan struct{} // closed when the child has exited
	waitErr error         // cmd.Wait's, once done is closed
}

// childResult is what a sluice child used.
type childResult struct {
	wall    time.Duration // from exec to exit
	cpu     time.Duration // the child's own user + system time (rusage of the waited-for child)
	busy    time.Duration // every process of the machine, meanwhile
	peakRSS int64         // VmHWM the child logged at exit; 0 if it did not
	caps    int64         // the memory caps the child derived from its configuration (caps_bytes); 0 if it did not log them
	log     string
}

// startSluice starts `sluice [--cpuprofile profile] run --config cfg
// [--exit-when-caught-up]`.
func (e *env) startSluice(cfg string, aws *awstest.Env, exitWhenCaughtUp bool, profile string) (*sluiceProc, error) {
	var args []string
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	args = append(args, "run", "--config", cfg)
	if exitWhenCaughtUp {
		args = append(args, "--exit-when-caught-up")
	}
	p := &sluiceProc{log: newLogBuffer("msg=streaming"), done: make(chan struct{})}
	p.cmd = exec.Command(e.sluice, args...)
	p.cmd.Env = childEnv(aws)
	p.cmd.Stderr = p.log
	p.cmd.Stdout = p.log
	// The child dies with this process.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.busy0 = machineBusy()
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// wait waits for the child to exit on its own, or stops it when ctx ends.
func (p *sluiceProc) wait(ctx context.Context) (*childResult, error) {
	var err error
	select {
	case <-p.done:
		err = p.waitErr
	case <-ctx.Done():
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		err = p.waitErr
		if err == nil {
			err = ctx.Err()
		}
	}
	res := &childResult{wall: time.Since(p.start), busy: machineBusy() - p.busy0, log: p.log.String()}
	if st := p.cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			res.cpu = rusageCPU(ru)
		}
	}
	if m := peakRSSLog.FindStringSubmatch(res.log); m != nil {
		res.peakRSS, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := capsLog.FindStringSubmatch(res.log); m != nil {
		res.caps, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if err != nil {
		return res, fmt.Errorf("sluice: %w\n%s", err, tail(res.log, 30))
	}
	return res, nil
}

// stop stops the child with SIGTERM (a graceful stop: flush, checkpoint)
// and waits for it.
func (p *sluiceProc) stop() (*childResult, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return p.wait(ctx)
}

// peakRSSLog finds the peak RSS sluice logs at exit (its /proc/self/status
// VmHWM). getrusage's ru_maxrss of a child is no use: it inherits the
// parent's high-water mark across vfork+exec.
var peakRSSLog = regexp.MustCompile(`peak_rss_bytes=(\d+)`)

// capsLog finds the sum of the memory caps sluice logs at start: each
// sink's max_buffered_bytes, the transaction held in memory and the
// batches, from the configuration the bench gave it, defaults included.
var capsLog = regexp.MustCompile(`caps_bytes=(\d+)`)

// logBuffer keeps a child's output, up to 4 MiB, and closes ready when a
// marker appears in it.
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker []byte
	ready  chan struct{}
	seen   bool
}

func newLogBuffer(marker string) *logBuffer {
	return &logBuffer{marker: []byte(marker), ready: make(chan struct{})}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() < 4<<20 {
		l.buf.Write(p)
	}
	if !l.seen && bytes.Contains(l.buf.Bytes(), l.marker) {
		l.seen = true
		close(l.ready)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitReady waits until sluice logs that it streams.
func (p *sluiceProc) waitReady(ctx context.Context, timeout time.Duration) error {
	select {
	case <-p.log.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("sluice did not start streaming within %v:\n%s", timeout, tail(p.log.String(), 30))
	case <-p.done:
		return fmt.Errorf("sluice exited before streaming (%v):\n%s", p.waitErr, tail(p.log.String(), 30))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
