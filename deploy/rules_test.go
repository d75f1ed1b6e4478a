// Package deploy holds files for operators (Prometheus rules, Grafana
// dashboard, compose); its tests check them with the real tools.
package deploy

import (
	"os/exec"
	"strings"
	"testing"
)

// promtool returns the path of Debian's promtool (package prometheus;
// .ci/run installs it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (.ci/run installs it)")
	}
	return p
}

// TestRulesCheck: promtool accepts the rules file.
func TestRulesCheck(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", "prometheus/sluice-rules.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

// TestRulesUnit: every alert has a promtool unit test, and they pass.
func TestRulesUnit(t *testing.T) {
	cmd := exec.Command(promtool(t), "test", "rules", "sluice-rules.test.yml")
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	rules := loadRules(t, "prometheus/sluice-rules.yml")
	tests := readFile(t, "prometheus/sluice-rules.test.yml")
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !strings.Contains(tests, "alertname: "+r.Alert+"\n") {
				t.Errorf("alert %s has no promtool unit test in sluice-rules.test.yml", r.Alert)
			}
		}
	}
	if alerts < 8 {
		t.Fatalf("found %d alerts in sluice-rules.yml", alerts)
	}
}
