package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// promServer is Debian's prometheus on loopback with temporary storage.
type promServer struct {
	t    *testing.T
	addr string
	dir  string
}

// startPrometheus scrapes target every 500ms and evaluates rules (a file
// path) every 500ms.
func startPrometheus(t *testing.T, target, rules string) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: apt-get install prometheus (.ci/run installs it)")
	}
	p := &promServer{t: t, addr: testport.Loopback(t, 1)[0], dir: t.TempDir()}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
rule_files: [%q]
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(p.dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(p.dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+p.addr, "--storage.tsdb.retention.time=1h")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = log.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 60s:\n%s", p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *promServer) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "prometheus.log"))
	return string(b)
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
	Value  string            `json:"value"`
}

func (p *promServer) alerts() []promAlert {
	p.t.Helper()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	p.getJSON("/api/v1/alerts", &body)
	return body.Data.Alerts
}

// query returns the number of series an instant query returns.
func (p *promServer) query(q string) int {
	p.t.Helper()
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	p.getJSON("/api/v1/query?query="+url.QueryEscape(q), &body)
	return len(body.Data.Result)
}

func (p *promServer) getJSON(path string, v any) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		p.t.Fatalf("%s: %v", path, err)
	}
}

// testRules copies the production rules with every `for:` shortened to
// forDur, so an alert can fire within a test.
func testRules(t *testing.T, forDur string) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/prometheus/sluice-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s+for:) \S+$`)
	if len(re.FindAll(b, -1)) < 8 {
		t.Fatal("the rules file has fewer `for:` lines than alerts")
	}
	b = re.ReplaceAll(b, []byte("$1 "+forDur))
	path := filepath.Join(t.TempDir(), "sluice-rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrometheusStalledAlert: real Prometheus scrapes a running sluice
// with the production rules (only `for:` shortened). While heartbeat rows
// come back no alert is pending or firing; once the source takes no more
// writes (FLUSH TABLES WITH READ LOCK: the heartbeat row cannot be written),
// SluiceStalled fires in /api/v1/alerts.
func TestPrometheusStalledAlert(t *testing.T) {
	r := newObservedRig(t, "")
	r.start()
	p := startPrometheus(t, r.http, testRules(t, "2s"))

	// Scraped and evaluated, heartbeats flowing: nothing fires.
	deadline := time.Now().Add(60 * time.Second)
	for p.query(`sluice:heartbeat_age_seconds:streaming`) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("prometheus has no heartbeat age after 60s:\n%s", p.log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.src.Exec(t, "INSERT INTO shop.orders VALUES (1, 10), (2, 20)")
	for range 16 { // 4s: longer than the 2s `for:` plus an evaluation
		for _, a := range p.alerts() {
			t.Fatalf("alert %s %s while sluice streams and heartbeats come back; log:\n%s", a.Labels["alertname"], a.State, r.log())
		}
		time.Sleep(250 * time.Millisecond)
	}

	// Stop the source's writes: the heartbeat row is no longer written.
	db := r.src.DB(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	defer func() {
		_, _ = conn.ExecContext(ctx, "UNLOCK TABLES")
		_ = conn.Close()
	}()
	deadline = time.Now().Add(90 * time.Second)
	for {
		var fired *promAlert
		for _, a := range p.alerts() {
			if a.Labels["alertname"] == "SluiceStalled" && a.State == "firing" {
				fired = &a
			}
		}
		if fired != nil {
			if fired.Labels["pipeline"] != "orders" || fired.Labels["job"] != "sluice" || fired.Labels["severity"] != "critical" {
				t.Fatalf("SluiceStalled labels %v", fired.Labels)
			}
			t.Logf("SluiceStalled fired %s after the source stopped taking writes (value %s)", time.Since(locked).Round(100*time.Millisecond), fired.Value)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SluiceStalled not firing 90s after the source stopped taking writes: alerts %+v\nsluice log:\n%s", p.alerts(), r.log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Other alerts stay quiet: the stream itself is alive.
	for _, a := range p.alerts() {
		if name := a.Labels["alertname"]; name != "SluiceStalled" && !strings.HasPrefix(name, "SluiceStalled") {
			t.Errorf("unexpected alert %s %s", name, a.State)
		}
	}
}
