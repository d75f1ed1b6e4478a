package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/sluicecdc/sluice/filter"
)

// filterConfig is the filter block (see docs/filter.md).
type filterConfig struct {
	Include []string `koanf:"include"`
	Exclude []string `koanf:"exclude"`
	Columns struct {
		Exclude []string `koanf:"exclude"`
		Hash    []string `koanf:"hash"`
	} `koanf:"columns"`
	// HashKeyFile holds the HMAC key of hashed columns; HashKey
	// (SLUICE_FILTER__HASH_KEY) gives it directly.
	HashKeyFile string `koanf:"hash_key_file"`
	HashKey     string `koanf:"hash_key"`

	key []byte
}

// load reads the hash key.
func (c *filterConfig) load() error {
	switch {
	case c.HashKeyFile != "" && c.HashKey != "":
		return fmt.Errorf("filter: both hash_key_file and hash_key (SLUICE_FILTER__HASH_KEY) are set: keep one")
	case c.HashKeyFile != "":
		b, err := os.ReadFile(c.HashKeyFile)
		if err != nil {
			return fmt.Errorf("filter.hash_key_file: %w", err)
		}
		c.key = bytes.TrimRight(b, "\r\n")
		if len(c.key) == 0 {
			return fmt.Errorf("filter.hash_key_file %s is empty: put the key in it", c.HashKeyFile)
		}
	default:
		c.key = []byte(c.HashKey)
	}
	return nil
}

func (c *filterConfig) filter() filter.Config {
	return filter.Config{Include: c.Include, Exclude: c.Exclude, ExcludeColumns: c.Columns.Exclude, HashColumns: c.Columns.Hash, HashKey: c.key}
}
