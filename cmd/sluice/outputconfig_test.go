package main

import (
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/event"
)

func TestMaxwellOutputConfig(t *testing.T) {
	for _, tt := range []struct {
		env     []string
		want    func(*event.MaxwellOptions)
		wantErr string
	}{
		{env: nil, want: func(*event.MaxwellOptions) {}},
		{env: []string{"SLUICE_OUTPUT__MAXWELL__PRIMARY_KEY=object"}, want: func(o *event.MaxwellOptions) { o.PrimaryKeyObject = true }},
		{env: []string{"SLUICE_OUTPUT__MAXWELL__PRIMARY_KEY=none", "SLUICE_OUTPUT__MAXWELL__PRIMARY_KEY_COLUMNS=false"},
			want: func(o *event.MaxwellOptions) { o.PrimaryKey, o.PrimaryKeyColumns = false, false }},
		{env: []string{"SLUICE_OUTPUT__MAXWELL__NULLS=false", "SLUICE_OUTPUT__MAXWELL__DDL=false", "SLUICE_OUTPUT__MAXWELL__COMMIT_INFO=false",
			"SLUICE_OUTPUT__MAXWELL__XOFFSET=false", "SLUICE_OUTPUT__MAXWELL__THREAD_ID=true", "SLUICE_OUTPUT__MAXWELL__ROW_QUERY=true",
			"SLUICE_OUTPUT__MAXWELL__BINLOG_POSITION=false", "SLUICE_OUTPUT__MAXWELL__GTID=false"},
			want: func(o *event.MaxwellOptions) {
				o.NoNulls, o.NoDDL, o.NoCommitInfo, o.NoXOffset, o.ThreadID, o.RowQuery, o.Position, o.GTID = true, true, true, true, true, true, false, false
			}},
		{env: []string{"SLUICE_OUTPUT__MAXWELL__PRIMARY_KEY=list"}, wantErr: `output.maxwell.primary_key "list"`},
	} {
		cfg, err := loadConfig("", func() []string { return tt.env })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		want := event.DefaultMaxwellOptions() // no keys set: sluice's defaults, exactly
		tt.want(&want)
		if got := cfg.pipelineConfig(nil).Maxwell; got != want {
			t.Errorf("%v: options\n%+v, want\n%+v", tt.env, got, want)
		}
	}
}
