package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/ha"
	"github.com/sluicecdc/sluice/observe"
	"github.com/sluicecdc/sluice/pipeline"
)

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

// dashboardQueries returns the dashboard's panel queries and the metric
// selectors of its variables, with Grafana's variables filled in.
func dashboardQueries(t *testing.T, path string) []query {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fill := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$pipeline", ".*", "$node", ".*")
	var out []query
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("dashboard panel %q target %d has no expr", p.Title, i)
			}
			out = append(out, query{fmt.Sprintf("dashboard panel %q", p.Title), fill.Replace(tg.Expr)})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-z_]+)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("dashboard variable %s: query %q is not label_values(selector, label)", v.Name, s)
			continue
		}
		out = append(out, query{"dashboard variable " + v.Name, m[1]})
	}
	if len(out) < 20 {
		t.Fatalf("found only %d queries in %s", len(out), path)
	}
	return out
}

// ruleQueries returns the rules' expressions and the names they record.
func ruleQueries(t *testing.T, path string) (qs []query, records []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record, Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"rule " + r.Record + r.Alert, r.Expr})
			if r.Record != "" {
				records = append(records, r.Record)
			}
		}
	}
	return qs, records
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promLabels   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z0-9_:.]+`)
	promName     = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
)

// metricNames returns the metric names an expression selects: identifiers
// outside strings, label matchers, ranges and label lists that are not
// functions, aggregations or keywords.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promLabels.ReplaceAllString(s, " ")
	var names []string
	for _, m := range promIdent.FindAllStringIndex(s, -1) {
		word := s[m[0]:m[1]]
		function := strings.HasPrefix(strings.TrimLeft(s[m[1]:], " \t\n"), "(")
		if !promName.MatchString(word) || function || promKeywords[word] {
			continue // a number, a duration, a function or a keyword
		}
		names = append(names, word)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum by (job, instance) (rate(sluice_events_total{pipeline=~"a|b", x="y{z}"}[1m])) > on (job) group_left() 5 * sluice_x:y unless sluice_ha_leading == 0 or vector(1e6)`)
	want := []string{"sluice_events_total", "sluice_x:y", "sluice_ha_leading"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames = %q, want %q", got, want)
	}
}

// describedNames records the names of the metrics registered with it.
type describedNames map[string]bool

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d describedNames) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := descName.FindStringSubmatch(desc.String()); m != nil {
			d[m[1]] = true
		}
	}
	return nil
}

func (d describedNames) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d describedNames) Unregister(prometheus.Collector) bool { return true }

type fixedReplica ha.Status

func (r fixedReplica) Status() ha.Status { return ha.Status(r) }

// exportedNames is every metric name sluice can export: those a running
// daemon serves, plus those that appear only in some setups (a cluster, a
// Kinesis sink, after a sink error or during a snapshot), read from the
// same constructors the daemon uses.
func exportedNames(t *testing.T, scraped string) map[string]bool {
	t.Helper()
	all := describedNames{}
	pipeline.NewMetrics(all)
	ks, err := emit.NewKinesisSink(kinesis.New(kinesis.Options{Region: "us-east-1"}),
		func() emit.KinesisConfig {
			c := emit.DefaultKinesisConfig()
			c.Stream, c.Registerer = "s", all
			return c
		}(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_ = ks.Close()
	// The HA gauges are collected at scrape time, some only on a leader,
	// some only on a follower.
	servers := []ha.Server{{ID: "n1", Suffrage: "Voter"}}
	for _, st := range []ha.Status{
		{ID: "n1", State: "Leader", Leading: true, LeadingSince: time.Now(), Servers: servers},
		{ID: "n2", State: "Follower", LastContact: time.Now(), Servers: servers},
	} {
		reg := prometheus.NewRegistry()
		oc := observe.DefaultConfig()
		oc.Registry, oc.Replica, oc.Stall = reg, fixedReplica(st), &observe.Stall{}
		if _, err := observe.New(oc); err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			all[mf.GetName()] = true
		}
	}
	served := map[string]bool{}
	for _, l := range strings.Split(scraped, "\n") {
		if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			served[name] = true
		}
	}
	if len(served) < 20 {
		t.Fatalf("the daemon's /metrics has only %d metrics", len(served))
	}
	// The constructors stand for the daemon only if everything it serves
	// of sluice's own comes from them.
	for name := range served {
		if strings.HasPrefix(name, "sluice_") && !all[name] {
			t.Errorf("the daemon serves %s, which the constructors do not describe", name)
		}
		all[name] = true
	}
	return all
}

// TestDashboardAndRules: every PromQL expression in the Grafana dashboard
// and the rules parses (promtool check rules on a file of them), and
// selects only metrics sluice exports (a running daemon's /metrics, plus
// the metrics of setups the test daemon is not in) or the rules record.
func TestDashboardAndRules(t *testing.T) {
	qs := dashboardQueries(t, "../../deploy/grafana/sluice.json")
	rq, records := ruleQueries(t, "../../deploy/prometheus/sluice-rules.yml")
	qs = append(qs, rq...)

	var file strings.Builder
	file.WriteString("groups:\n  - name: expressions\n    rules:\n")
	for i, q := range qs {
		fmt.Fprintf(&file, "      - record: check:expr_%d\n        expr: %q\n", i, q.expr)
	}
	path := filepath.Join(t.TempDir(), "exprs.yml")
	if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's and rules' expressions: %v\n%s", err, out)
	}

	r := newObservedRig(t, "")
	r.start()
	r.src.Exec(t, "INSERT INTO shop.orders VALUES (1, 10)")
	exported := exportedNames(t, r.get("/metrics"))
	for _, rec := range records {
		exported[rec] = true
	}
	for _, q := range qs {
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric name found in %s", q.where, q.expr)
		}
		for _, name := range names {
			if !exported[name] {
				t.Errorf("%s selects %s, which sluice does not export: %s", q.where, name, q.expr)
			}
		}
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (.ci/run installs it)")
	}
	return p
}
