package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluicecdc/sluice/event"
)

// debeziumConfig is output.debezium: the Debezium MySQL connector's value
// options, under their names with '_' for '.' (docs/debezium.md).
type debeziumConfig struct {
	TimePrecisionMode          string `koanf:"time_precision_mode"`
	DecimalHandlingMode        string `koanf:"decimal_handling_mode"`
	BigintUnsignedHandlingMode string `koanf:"bigint_unsigned_handling_mode"`
	BinaryHandlingMode         string `koanf:"binary_handling_mode"`
	SchemasEnable              bool   `koanf:"schemas_enable"`
	ProvideTransactionMetadata bool   `koanf:"provide_transaction_metadata"`
	// Key: a stream sink that carries keys (Kafka) keys each record by
	// Debezium's key document; it is the default of that sink's key:
	// (docs/kafka.md).
	Key bool `koanf:"key"`
	// Tombstones is tombstones.on.delete: the Kafka sink follows each
	// delete with a null-value record of the same key.
	Tombstones bool `koanf:"tombstones"`
}

func defaultDebeziumConfig() debeziumConfig {
	o := event.DefaultDebeziumOptions()
	return debeziumConfig{
		TimePrecisionMode:          o.TimePrecisionMode,
		DecimalHandlingMode:        o.DecimalHandlingMode,
		BigintUnsignedHandlingMode: o.BigintUnsignedHandlingMode,
		BinaryHandlingMode:         o.BinaryHandlingMode,
		Key:                        true,
		Tombstones:                 true, // Debezium's default
	}
}

func (d *debeziumConfig) validate() error {
	for _, f := range []struct {
		key, v  string
		allowed []string
	}{
		{"time_precision_mode", d.TimePrecisionMode, []string{event.TimeAdaptiveMicroseconds, event.TimeConnect}},
		{"decimal_handling_mode", d.DecimalHandlingMode, []string{event.DecimalPrecise, event.DecimalDouble, event.DecimalString}},
		{"bigint_unsigned_handling_mode", d.BigintUnsignedHandlingMode, []string{event.BigintLong, event.BigintPrecise}},
		{"binary_handling_mode", d.BinaryHandlingMode, []string{event.BinaryBytes, event.BinaryBase64, event.BinaryBase64URLSafe, event.BinaryHex}},
	} {
		if !slices.Contains(f.allowed, f.v) {
			return fmt.Errorf("output.debezium.%s %q: want %s", f.key, f.v, strings.Join(f.allowed, ", "))
		}
	}
	return nil
}

func (d *debeziumConfig) options() event.DebeziumOptions {
	return event.DebeziumOptions{
		TimePrecisionMode:          d.TimePrecisionMode,
		DecimalHandlingMode:        d.DecimalHandlingMode,
		BigintUnsignedHandlingMode: d.BigintUnsignedHandlingMode,
		BinaryHandlingMode:         d.BinaryHandlingMode,
		SchemasEnable:              d.SchemasEnable,
		TransactionMetadata:        d.ProvideTransactionMetadata,
	}
}
