package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/sluicecdc/sluice/pipeline"
)

// memoryBase is what sluice holds besides its configured caps: the
// runtime, the binlog reader's buffers, schemas, clients.
const memoryBase = 32 << 20

// memoryCaps is the sum of the memory caps the configuration sets: each
// sink's max_buffered_bytes, the open transaction held before it spills,
// and the batches on their way to the sinks.
func (c *fileConfig) memoryCaps(pc pipeline.Config) int64 {
	caps := int64(pc.TxMemoryBytes) + 4*int64(pc.BatchBytes)
	for _, spec := range c.sinks {
		switch sc := spec.(type) {
		case *s3SinkConfig:
			caps += int64(sc.emitConfig().MaxBufferedBytes)
		case *kinesisSinkConfig:
			caps += int64(sc.emitConfig().MaxBufferedBytes)
		case *kafkaSinkConfig:
			caps += int64(sc.maxBufferedBytes())
		}
	}
	return caps
}

// memoryLimit is the soft limit of the Go runtime for caps bytes of
// configured caps: an eighth again as much for the collector's headroom,
// plus the base. Under it the collector runs more often rather than let
// the heap double past the caps. A process's RSS is about this limit plus
// what the runtime does not manage (the binary's mapped code and data:
// ~30 MiB of sluice's RSS at start), and the target is 1.5 × caps +
// 48 MiB: with a quarter as headroom the S3 bench run (72 MiB of caps)
// peaked at 150–156 MiB of its 156, with an eighth at 137–139 MiB, for
// half again as many collections (59 against 39 over 300,000 rows; the
// caps are mostly byte buffers, which the collector does not scan).
// Small caps get less than the base: the limit stays unmanagedRoom under
// the target (the file sink's 8 MiB of caps peaked at 60–63 MiB with a
// 41 MiB limit, at 55 MiB with 34 MiB).
func memoryLimit(caps int64) int64 {
	return min(caps+caps/8+memoryBase, caps*3/2+48<<20-unmanagedRoom)
}

// unmanagedRoom is what memoryLimit leaves under the RSS target for
// memory the limit does not govern.
const unmanagedRoom = 24 << 20

// setMemoryLimit sets the runtime's memory limit from the caps, unless
// GOMEMLIMIT is set (the runtime has then applied it). It logs the caps
// either way (caps_bytes): the bench checks peak RSS against them.
func setMemoryLimit(caps int64, getenv func(string) string, log *slog.Logger) {
	if getenv("GOMEMLIMIT") != "" {
		log.Info("memory caps; limit from GOMEMLIMIT", "caps_bytes", caps, "limit", getenv("GOMEMLIMIT"))
		return
	}
	limit := memoryLimit(caps)
	debug.SetMemoryLimit(limit)
	log.Info("memory caps; limit derived from them (set GOMEMLIMIT to override)", "caps_bytes", caps, "limit_bytes", limit)
}
