package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/nodetrust/nodetrust/internal/testenv"
)

// TestAlertsUseExportedMetricsAndHaveRunbooks checks the shipped
// PrometheusRule against the code and the docs: every metric an alert
// queries is one nodetrust exports, and every alert has a severity and a
// runbook section in docs/operations.md.
func TestAlertsUseExportedMetricsAndHaveRunbooks(t *testing.T) {
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert       string            `json:"alert"`
					Expr        string            `json:"expr"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	exported := exportedMetricNames()
	metricRef := regexp.MustCompile(`nodetrust_[a-z_]+`)
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts++
			t.Run(r.Alert, func(t *testing.T) {
				for _, m := range metricRef.FindAllString(r.Expr, -1) {
					base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
					if !exported[base] {
						t.Errorf("the expression queries %s, which nodetrust does not export", m)
					}
				}
				if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
					t.Errorf("severity %q", s)
				}
				anchor := "#" + strings.ToLower(r.Alert)
				if !strings.HasSuffix(r.Annotations["runbook_url"], "docs/operations.md"+anchor) {
					t.Errorf("runbook_url %q does not point at docs/operations.md%s", r.Annotations["runbook_url"], anchor)
				}
				if !strings.Contains(string(docs), "\n### "+r.Alert+"\n") {
					t.Errorf("docs/operations.md has no runbook section for %s", r.Alert)
				}
			})
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts found")
	}
}

// exportedMetricNames lists the names of nodetrust's metrics.
func exportedMetricNames() map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range []prometheus.Collector{decisions, decisionLatency, issuanceLatency, signerErrors, recordsCreated, &stateCollector{}} {
		c.Describe(ch)
	}
	close(ch)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}
