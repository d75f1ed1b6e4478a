package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/event"
)

// countingHandler counts decoded rows and says when the range's end is
// reached. It is go-mysql's synchronous handler: each event is decoded and
// handed over on the reading goroutine, nothing else is done with it.
type countingHandler struct {
	rows int
	file string
	to   event.Position
	done chan struct{}
}

func (h *countingHandler) HandleEvent(e *replication.BinlogEvent) error {
	switch ev := e.Event.(type) {
	case *replication.RotateEvent:
		h.file = string(ev.NextLogName)
	case *replication.RowsEvent:
		if ev.Type() == replication.EnumRowsEventTypeUpdate {
			h.rows += len(ev.Rows) / 2
		} else {
			h.rows += len(ev.Rows)
		}
	}
	if (event.Position{File: h.file, Offset: uint64(e.Header.LogPos)}).Compare(h.to) >= 0 {
		select {
		case <-h.done:
		default:
			close(h.done)
		}
	}
	return nil
}

// decodeOnly reads r with go-mysql's BinlogSyncer in this process, decoding
// every row with the options sluice's streamer uses and doing nothing else.
// CPU is this process's getrusage delta (the bench does nothing else
// meanwhile); peak RSS is this process's VmHWM after resetting it at the
// start (/proc/self/clear_refs), so it includes the bench's own baseline.
func (e *env) decodeOnly(ctx context.Context, r *binlogRange) (*result, error) {
	h := &countingHandler{to: r.to, done: make(chan struct{})}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4242, Flavor: mysql.MariaDBFlavor, Host: e.src.Host, Port: e.src.Port,
		User: e.src.User, Password: e.src.Password, Charset: "utf8mb4", TimestampStringLocation: time.UTC,
		SynchronousEventHandler: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer syncer.Close()
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	cpu0 := selfCPU()
	busy0 := machineBusy()
	start := time.Now()
	if _, err := syncer.StartSync(mysql.Position{Name: r.from.File, Pos: uint32(r.from.Offset)}); err != nil {
		return nil, fmt.Errorf("decode-only from %s: %w", r.from, err)
	}
	select {
	case <-h.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(10 * time.Minute):
		return nil, fmt.Errorf("decode-only: not at %s after 10 minutes (%d rows)", r.to, h.rows)
	}
	res := &result{
		name:    "decode-only",
		rng:     r,
		rows:    h.rows,
		wall:    time.Since(start),
		cpu:     selfCPU() - cpu0,
		busy:    machineBusy() - busy0,
		peakRSS: procField("/proc/self/status", "VmHWM:") << 10,
	}
	if h.rows != r.rows {
		res.problem = fmt.Sprintf("decoded %d rows, want %d", h.rows, r.rows)
	}
	return res, nil
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return rusageCPU(&ru)
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS sets this process's VmHWM to its current RSS (Linux 4.0+).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
