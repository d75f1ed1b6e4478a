package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/binlog"
)

// decodeOnly reads r with go-mysql's BinlogSyncer in this process, decoding
// every row with the options sluice's streamer uses and doing nothing else.
// CPU is this process's getrusage delta (the bench does nothing else
// meanwhile); peak RSS is this process's VmHWM after resetting it at the
// start (/proc/self/clear_refs), so it includes the bench's own baseline.
func (e *env) decodeOnly(ctx context.Context, r *binlogRange) (*result, error) {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	cpu0 := selfCPU()
	busy0 := machineBusy()
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rows, err := binlog.DecodeOnly(dctx, &e.src, mysql.MariaDBFlavor, r.from, r.to)
	if err != nil {
		return nil, err
	}
	res := &result{
		name:    "decode-only",
		rng:     r,
		rows:    rows,
		wall:    time.Since(start),
		cpu:     selfCPU() - cpu0,
		busy:    machineBusy() - busy0,
		peakRSS: procField("/proc/self/status", "VmHWM:") << 10,
	}
	if rows != r.rows {
		res.problem = fmt.Sprintf("decoded %d rows, want %d", rows, r.rows)
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
