package main

import (
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

func TestOutputFormat(t *testing.T) {
	for _, tt := range []struct {
		env     string
		want    pipeline.Format
		wantErr string
	}{
		{"", pipeline.FormatMaxwell, ""},
		{"SLUICE_OUTPUT__FORMAT=maxwell", pipeline.FormatMaxwell, ""},
		{"SLUICE_OUTPUT__FORMAT=debezium", pipeline.FormatDebezium, ""},
		{"SLUICE_OUTPUT__FORMAT=avro", "", `output.format "avro": want maxwell or debezium`},
	} {
		environ := func() []string {
			if tt.env == "" {
				return nil
			}
			return []string{tt.env}
		}
		cfg, err := loadConfig("", environ)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.env, err)
			continue
		}
		if got := cfg.pipelineConfig(nil).Format; got != tt.want {
			t.Errorf("%s: pipeline format %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestOutputDebeziumOptions(t *testing.T) {
	for _, tt := range []struct {
		env     []string
		want    event.DebeziumOptions
		wantErr string
	}{
		{nil, event.DefaultDebeziumOptions(), ""},
		{
			[]string{"SLUICE_OUTPUT__FORMAT=debezium", "SLUICE_OUTPUT__DEBEZIUM__TIME_PRECISION_MODE=connect",
				"SLUICE_OUTPUT__DEBEZIUM__DECIMAL_HANDLING_MODE=string", "SLUICE_OUTPUT__DEBEZIUM__BIGINT_UNSIGNED_HANDLING_MODE=precise",
				"SLUICE_OUTPUT__DEBEZIUM__BINARY_HANDLING_MODE=hex", "SLUICE_OUTPUT__DEBEZIUM__SCHEMAS_ENABLE=true",
				"SLUICE_OUTPUT__DEBEZIUM__PROVIDE_TRANSACTION_METADATA=true"},
			event.DebeziumOptions{TimePrecisionMode: "connect", DecimalHandlingMode: "string", BigintUnsignedHandlingMode: "precise",
				BinaryHandlingMode: "hex", SchemasEnable: true, TransactionMetadata: true},
			"",
		},
		{[]string{"SLUICE_OUTPUT__DEBEZIUM__TIME_PRECISION_MODE=adaptive"}, event.DebeziumOptions{},
			`output.debezium.time_precision_mode "adaptive": want adaptive_time_microseconds, connect`},
		{[]string{"SLUICE_OUTPUT__DEBEZIUM__DECIMAL_HANDLING_MODE=float"}, event.DebeziumOptions{},
			`output.debezium.decimal_handling_mode "float": want precise, double, string`},
		{[]string{"SLUICE_OUTPUT__DEBEZIUM__BIGINT_UNSIGNED_HANDLING_MODE=string"}, event.DebeziumOptions{},
			`output.debezium.bigint_unsigned_handling_mode "string": want long, precise`},
		{[]string{"SLUICE_OUTPUT__DEBEZIUM__BINARY_HANDLING_MODE=base32"}, event.DebeziumOptions{},
			`output.debezium.binary_handling_mode "base32": want bytes, base64, base64-url-safe, hex`},
	} {
		cfg, err := loadConfig("", func() []string { return tt.env })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.env, err)
			continue
		}
		if got := cfg.pipelineConfig(nil).Debezium; got != tt.want {
			t.Errorf("%v: options %+v, want %+v", tt.env, got, tt.want)
		}
	}
}
