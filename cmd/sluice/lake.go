package main

import (
	"fmt"
	"strconv"
	"strings"
)

// compactConfig is the "compact" section: where snapshot tables go.
type compactConfig struct {
	Catalog   catalogConfig `koanf:"catalog"`
	Namespace string        `koanf:"namespace"`
	// Memory bounds a run's memory: "256MiB" (the default), "1GiB", or bytes.
	Memory string `koanf:"memory"`
}

// memory parses compact.memory (0 when unset).
func (c compactConfig) memory() (int64, error) {
	if c.Memory == "" {
		return 0, nil
	}
	s, unit := c.Memory, int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, unit = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("compact.memory %q: want a size such as 256MiB, 1GiB or a number of bytes", c.Memory)
	}
	return n * unit, nil
}

type catalogConfig struct {
	Type       string            `koanf:"type"` // sql (SQLite) | rest | glue
	Name       string            `koanf:"name"`
	URI        string            `koanf:"uri"`
	Warehouse  string            `koanf:"warehouse"`
	Properties map[string]string `koanf:"properties"`
}
