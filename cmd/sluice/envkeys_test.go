package main

import (
	"strings"
	"testing"
)

// TestEnvKeys: SLUICE_ variables that name a key path configure it; others
// (a deploy tool's SLUICE_VERSION) are left alone; one that looks like a
// misspelt key path is an error naming the key meant.
func TestEnvKeys(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string // error text; "" for none
	}{
		{"unrelated", []string{"SLUICE_VERSION=1.4.2", "SLUICE_HOME=/opt/sluice", "SLUICE_TEST_MYSQL_DSN=root@tcp(x)/"}, ""},
		{"known", []string{"SLUICE_SOURCE__PASSWORD=s3cret", "SLUICE_CHECKPOINT__DIR=/var/lib/sluice", "SLUICE_COMPACT__CATALOG__PROPERTIES__X=y"}, ""},
		{"typo", []string{"SLUICE_SOURCE__PASWORD=x"}, "SLUICE_SOURCE__PASWORD is not a configuration key: did you mean SLUICE_SOURCE__PASSWORD (source.password)?"},
		{"typo in a section", []string{"SLUICE_CHEKPOINT__DIR=x"}, "did you mean SLUICE_CHECKPOINT__DIR"},
		// Before, the entry was dropped without a word and the file's
		// value used.
		{"list entry", []string{"SLUICE_SINKS__0__BROKERS=a:9092"}, "SLUICE_SINKS__0__BROKERS sets an entry of the list sinks"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig("", func() []string { return c.env })
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("load: %v, want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if c.name == "known" && (cfg.Source.Password != "s3cret" || cfg.Checkpoint.Dir != "/var/lib/sluice") {
				t.Fatalf("password %q, dir %q: the known keys were not applied", cfg.Source.Password, cfg.Checkpoint.Dir)
			}
		})
	}
}

// TestKeepSinksEveryOfAType: replay --sinks s3 keeps every s3 sink, not the
// first one only.
func TestKeepSinksEveryOfAType(t *testing.T) {
	a, b, f := &s3SinkConfig{Bucket: "a"}, &s3SinkConfig{Bucket: "b"}, &fileSinkConfig{Path: "x"}
	c := &fileConfig{sinks: []any{a, f, b}}
	if err := c.keepSinks("s3"); err != nil {
		t.Fatal(err)
	}
	if len(c.sinks) != 2 || c.sinks[0] != a || c.sinks[1] != b {
		t.Fatalf("kept %v, want both s3 sinks", c.sinks)
	}
	if err := (&fileConfig{sinks: []any{f}}).keepSinks("s3,file"); err == nil || !strings.Contains(err.Error(), `no sink of type "s3"`) {
		t.Fatalf("a listed type with no sink: %v", err)
	}
}
