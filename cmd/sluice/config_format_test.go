package main

import (
	"strings"
	"testing"

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
