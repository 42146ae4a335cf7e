package testprom

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// rulesFile is the part of a Prometheus rules file these tests read.
type rulesFile struct {
	Groups []struct {
		Rules []struct {
			Alert  string `json:"alert"`
			Record string `json:"record"`
		} `json:"rules"`
	} `json:"groups"`
}

// rulesTests is the part of a promtool rules test file these tests read.
type rulesTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestExampleRules: examples/prometheus/rules.yml passes `promtool check
// rules`, and `promtool test rules` passes its unit tests, in which every
// alert of the file is expected both to fire and to stay silent.
func TestExampleRules(t *testing.T) {
	promtool := testbin.RequireTool(t, "promtool")
	dir := filepath.Join(testbin.RepoRoot(), "examples", "prometheus")
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}

	var rules rulesFile
	var tests rulesTests
	for file, v := range map[string]any{"rules.yml": &rules, "rules_test.yml": &tests} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
			}
		}
	}
	if len(alerts) < 11 {
		t.Errorf("%d alerts in rules.yml: %v, want at least the 11 documented", len(alerts), alerts)
	}
	for _, a := range alerts {
		if !fires[a] || !silent[a] {
			t.Errorf("alert %s: a test where it fires %v, where it stays silent %v; want both", a, fires[a], silent[a])
		}
	}
	for a := range fires {
		if !slices.Contains(alerts, a) {
			t.Errorf("rules_test.yml tests %s, which rules.yml does not have", a)
		}
	}
}
