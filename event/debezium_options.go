package event

import "fmt"

// DebeziumOptions choose how the Debezium format renders values and what it
// wraps them in, with the meanings of the Debezium MySQL connector's
// options of the same names (see docs/debezium.md).
type DebeziumOptions struct {
	// TimePrecisionMode is time.precision.mode: TimeAdaptiveMicroseconds
	// (the default) or TimeConnect.
	TimePrecisionMode string
	// DecimalHandlingMode is decimal.handling.mode: DecimalPrecise (the
	// default), DecimalDouble or DecimalString.
	DecimalHandlingMode string
	// BigintUnsignedHandlingMode is bigint.unsigned.handling.mode:
	// BigintLong (the default) or BigintPrecise.
	BigintUnsignedHandlingMode string
	// BinaryHandlingMode is binary.handling.mode: BinaryBytes (the
	// default), BinaryBase64, BinaryBase64URLSafe or BinaryHex.
	BinaryHandlingMode string
	// SchemasEnable wraps each event as Kafka Connect's JsonConverter
	// does with schemas.enable=true: {"schema":{...},"payload":{...}}.
	SchemasEnable bool
	// TransactionMetadata is provide.transaction.metadata: each change
	// event read from the binlog carries a transaction block, and each
	// transaction with change events is framed by BEGIN and END events
	// (TxEvents).
	TransactionMetadata bool
}

// Values of the Debezium options.
const (
	TimeAdaptiveMicroseconds = "adaptive_time_microseconds"
	TimeConnect              = "connect"

	DecimalPrecise = "precise"
	DecimalDouble  = "double"
	DecimalString  = "string"

	BigintLong    = "long"
	BigintPrecise = "precise"

	BinaryBytes         = "bytes"
	BinaryBase64        = "base64"
	BinaryBase64URLSafe = "base64-url-safe"
	BinaryHex           = "hex"
)

// DefaultDebeziumOptions returns the Debezium connector's defaults.
func DefaultDebeziumOptions() DebeziumOptions {
	return DebeziumOptions{
		TimePrecisionMode:          TimeAdaptiveMicroseconds,
		DecimalHandlingMode:        DecimalPrecise,
		BigintUnsignedHandlingMode: BigintLong,
		BinaryHandlingMode:         BinaryBytes,
	}
}

// Validate checks every mode names a value Debezium knows.
func (o DebeziumOptions) Validate() error {
	check := func(key, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("debezium %s %q: want one of %v", key, v, allowed)
	}
	if err := check("time.precision.mode", o.TimePrecisionMode, TimeAdaptiveMicroseconds, TimeConnect); err != nil {
		return err
	}
	if err := check("decimal.handling.mode", o.DecimalHandlingMode, DecimalPrecise, DecimalDouble, DecimalString); err != nil {
		return err
	}
	if err := check("bigint.unsigned.handling.mode", o.BigintUnsignedHandlingMode, BigintLong, BigintPrecise); err != nil {
		return err
	}
	return check("binary.handling.mode", o.BinaryHandlingMode, BinaryBytes, BinaryBase64, BinaryBase64URLSafe, BinaryHex)
}
