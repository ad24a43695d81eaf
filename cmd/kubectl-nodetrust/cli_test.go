package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/audit"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "Whole days are accepted.", in: "30d", want: 30 * day},
		{name: "Go durations are accepted.", in: "12h", want: 12 * time.Hour},
		{name: "Go durations with several units are accepted.", in: "1h30m", want: 90 * time.Minute},
		{name: "Days may be followed by a Go duration.", in: "1d12h", want: 36 * time.Hour},
		{name: "Zero days are zero.", in: "0d", want: 0},
		{name: "Surrounding space is ignored.", in: " 7d ", want: 7 * day},
		{name: "An empty value is refused.", in: "", wantErr: true},
		{name: "Fractional days are refused.", in: "1.5d", wantErr: true},
		{name: "Negative days are refused.", in: "-1d", wantErr: true},
		{name: "Negative durations are refused.", in: "-5m", wantErr: true},
		{name: "A negative part after days is refused.", in: "1d-2h", wantErr: true},
		{name: "Words are refused.", in: "30days", wantErr: true},
		{name: "A number without unit is refused.", in: "30", wantErr: true},
		{name: "A missing day count is refused.", in: "d", wantErr: true},
		{name: "Absurd day counts are refused.", in: "99999999d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseDuration(%q) = %v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseFailOn(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []audit.Code
		wantErr string
	}{
		{name: "None selects no code.", in: "none", want: nil},
		{name: "An empty value selects no code.", in: "", want: nil},
		{name: "All selects every code.", in: "all", want: audit.Codes()},
		{name: "One code selects it.", in: "expiring", want: []audit.Code{audit.CodeExpiring}},
		{name: "Comma-separated codes select each, spaces aside.", in: "expired, no-serving,burst",
			want: []audit.Code{audit.CodeExpired, audit.CodeNoServing, audit.CodeBurst}},
		{name: "An unknown code is refused with the known ones.", in: "expiring,nope", wantErr: `unknown code "nope" (known: expired, expiring,`},
		{name: "Codes are case-sensitive.", in: "Expiring", wantErr: `unknown code "Expiring"`},
		{name: "An empty element is refused.", in: "expiring,,burst", wantErr: "empty code"},
		{name: "All cannot be combined with codes.", in: "all,burst", wantErr: `"all" cannot be combined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFailOn(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFailOn(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var codes []audit.Code
			for _, c := range audit.Codes() {
				if got[c] {
					codes = append(codes, c)
				}
			}
			var want []audit.Code
			for _, c := range audit.Codes() {
				if slices.Contains(tt.want, c) {
					want = append(want, c)
				}
			}
			if !slices.Equal(codes, want) || len(got) != len(want) {
				t.Errorf("parseFailOn(%q) = %v, want %v", tt.in, got, want)
			}
		})
	}
}

// TestCommandLine runs the entry point with command lines that never reach a cluster.
func TestCommandLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	unreachable := unreachableKubeconfig(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "No arguments print the usage and fail.", args: nil, wantCode: exitUsage,
			wantStderr: []string{"Usage:", "audit", "review"}},
		{name: "--help prints the usage.", args: []string{"--help"}, wantCode: exitOK,
			wantStdout: []string{"Commands:", "audit", "review", "Exit codes:", "3  audit found an anomaly"}},
		{name: "-h prints the usage.", args: []string{"-h"}, wantCode: exitOK, wantStdout: []string{"Commands:"}},
		{name: "help audit prints the audit flags.", args: []string{"help", "audit"}, wantCode: exitOK,
			wantStdout: []string{"--fail-on", "--expiring-within"}},
		{name: "help of an unknown command fails.", args: []string{"help", "nope"}, wantCode: exitUsage,
			wantStderr: []string{`unknown command "nope"`}},
		{name: "An unknown command fails with a clear message.", args: []string{"certs"}, wantCode: exitUsage,
			wantStderr: []string{`error: unknown command "certs"`, "kubectl nodetrust --help"}},
		{name: "Flags before the command fail with a clear message.", args: []string{"--kubeconfig", "x", "audit"}, wantCode: exitUsage,
			wantStderr: []string{"a command must come before flags"}},
		{name: "audit --help prints every flag and every code.", args: []string{"audit", "--help"}, wantCode: exitOK,
			wantStdout: append([]string{"--kubeconfig", "--context", "-o, --output", "--request-timeout", "--expiring-within",
				"--burst-window", "--burst-threshold", "--fail-on", "--node", "(default 30d)", "(default 1h)", "(default 5)"}, codeNames()...)},
		{name: "review --help prints its flags.", args: []string{"review", "-h"}, wantCode: exitOK,
			wantStdout: []string{"--kubeconfig", "--context", "-o, --output", "nodetrust.io/review=required"}},
		{name: "An unknown flag fails with a clear message.", args: []string{"audit", "--bogus"}, wantCode: exitUsage,
			wantStderr: []string{"unknown flag: --bogus", "kubectl nodetrust audit --help"}},
		{name: "A stray argument fails.", args: []string{"audit", "node-1"}, wantCode: exitUsage,
			wantStderr: []string{`unexpected argument "node-1"`}},
		{name: "An unknown output format fails.", args: []string{"audit", "-o", "xml"}, wantCode: exitUsage,
			wantStderr: []string{`invalid value "xml" for --output`}},
		{name: "An unknown output format of review fails.", args: []string{"review", "-owide"}, wantCode: exitUsage,
			wantStderr: []string{`invalid value "wide" for --output`}},
		{name: "A bad duration fails.", args: []string{"audit", "--expiring-within=soon"}, wantCode: exitUsage,
			wantStderr: []string{"--expiring-within", `invalid duration "soon"`}},
		{name: "A zero expiring window fails.", args: []string{"audit", "--expiring-within=0d"}, wantCode: exitUsage,
			wantStderr: []string{"--expiring-within must be more than 0"}},
		{name: "A zero burst window fails.", args: []string{"audit", "--burst-window=0s"}, wantCode: exitUsage,
			wantStderr: []string{"--burst-window must be more than 0"}},
		{name: "A zero burst threshold fails.", args: []string{"audit", "--burst-threshold=0"}, wantCode: exitUsage,
			wantStderr: []string{"--burst-threshold must be at least 1"}},
		{name: "A burst threshold that is no number fails.", args: []string{"audit", "--burst-threshold=many"}, wantCode: exitUsage,
			wantStderr: []string{"--burst-threshold"}},
		{name: "An unknown --fail-on code fails before reading the cluster.", args: []string{"audit", "--kubeconfig", missing, "--fail-on=expring"},
			wantCode: exitUsage, wantStderr: []string{`unknown code "expring"`}},
		{name: "A missing kubeconfig is an error.", args: []string{"audit", "--kubeconfig", missing}, wantCode: exitError,
			wantStderr: []string{"error: loading the kubeconfig"}},
		{name: "An unknown context is an error.", args: []string{"review", "--kubeconfig", unreachable, "--context", "nope"}, wantCode: exitError,
			wantStderr: []string{"error: loading the kubeconfig", `"nope"`}},
		{name: "An unreachable API server is an error for audit.", args: []string{"audit", "--kubeconfig", unreachable, "--request-timeout=5s"},
			wantCode: exitError, wantStderr: []string{"error: listing NodeCertificates", "127.0.0.1:1"}},
		{name: "An unreachable API server is an error for review.", args: []string{"review", "--kubeconfig", unreachable},
			wantCode: exitError, wantStderr: []string{"error: listing CertificateSigningRequests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(t, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
				}
			}
			if tt.wantCode != exitOK && r.stdout != "" {
				t.Errorf("a failure wrote to stdout:\n%s", r.stdout)
			}
		})
	}
}

func codeNames() []string {
	var out []string
	for _, c := range audit.Codes() {
		out = append(out, string(c))
	}
	return out
}

// unreachableKubeconfig points at a port nothing listens on.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKUBECONFIG checks that the KUBECONFIG variable is honoured.
func TestKUBECONFIG(t *testing.T) {
	t.Setenv("KUBECONFIG", unreachableKubeconfig(t))
	r := runPlugin(t, "review")
	if r.code != exitError || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("review with KUBECONFIG set = %d, %q; want a connection error to 127.0.0.1:1", r.code, r.stderr)
	}
}

var tableNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func tableRecord(name, node string, kind v1alpha1.CertificateKind, from, to time.Duration, by v1alpha1.Actor) v1alpha1.NodeCertificate {
	r := v1alpha1.NodeCertificate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeCertificateSpec{
			NodeName: node, Kind: kind, SerialNumber: name,
			NotBefore: metav1.NewTime(tableNow.Add(from)), NotAfter: metav1.NewTime(tableNow.Add(to)),
			Approval: v1alpha1.Approval{By: by},
		},
	}
	if by == v1alpha1.ActorNodetrust {
		r.Spec.Approval.Policy = "workers"
	}
	if kind == v1alpha1.CertificateServing {
		r.Spec.DNSNames, r.Spec.IPAddresses = []string{node}, []string{"10.0.0.1"}
	}
	return r
}

func tableNode(name string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}}}
}

// tableReport has a healthy node, one with an expiring client certificate
// approved externally and no serving certificate, and a gone node.
func tableReport() audit.Report {
	records := []v1alpha1.NodeCertificate{
		tableRecord("aa01", "alpha", v1alpha1.CertificateClient, -day, 300*day, v1alpha1.ActorNodetrust),
		tableRecord("aa02", "alpha", v1alpha1.CertificateServing, -day, 300*day, v1alpha1.ActorNodetrust),
		tableRecord("bb01", "beta", v1alpha1.CertificateClient, -300*day, 12*day+time.Hour, v1alpha1.ActorExternal),
		tableRecord("cc01", "gone", v1alpha1.CertificateClient, -400*day, -3*day, v1alpha1.ActorNodetrust),
	}
	return audit.Analyze(records, []corev1.Node{tableNode("alpha"), tableNode("beta")}, tableNow, audit.Options{})
}

// columns splits a table line on runs of two or more spaces.
func columns(line string) []string {
	var out []string
	for f := range strings.SplitSeq(strings.TrimSpace(line), "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func TestAuditTable(t *testing.T) {
	var buf bytes.Buffer
	if err := printAuditTable(&buf, tableReport(), ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	want := [][]string{
		{"NODE", "KIND", "SERIAL", "EXPIRES", "APPROVED BY", "ANOMALIES"},
		{"alpha", "Client", "aa01", "2026-12-26 (in 300d)", "policy workers", "-"},
		{"alpha", "Serving", "aa02", "2026-12-26 (in 300d)", "policy workers", "-"},
		{"beta", "Client", "bb01", "2026-03-13 (in 12d)", "external", "expiring,not-approved-by-nodetrust"},
		{"beta", "Serving", "<none>", "-", "-", "no-serving"},
		{"gone", "Client", "cc01", "2026-02-26 (expired 3d ago)", "policy workers", "-"},
	}
	for i, w := range want {
		if i >= len(lines) {
			t.Fatalf("table has %d lines, want at least %d:\n%s", len(lines), len(want), buf.String())
		}
		if got := columns(lines[i]); !slices.Equal(got, w) {
			t.Errorf("line %d = %q, want %q", i, got, w)
		}
	}
	header := lines[0]
	for _, col := range []string{"KIND", "SERIAL", "EXPIRES", "APPROVED BY", "ANOMALIES"} {
		for _, l := range lines[1:len(want)] {
			if i := strings.Index(header, col); len(l) <= i || l[i-1] != ' ' || l[i] == ' ' {
				t.Errorf("column %s is not aligned in %q", col, l)
			}
		}
	}
	rest := strings.Join(lines[len(want):], "\n")
	for _, w := range []string{"\n3 anomalies:\n", "  beta   expiring   ", "  beta   not-approved-by-nodetrust   ",
		"  beta   no-serving   ", "client certificate bb01 expires in 12d"} {
		if !strings.Contains(rest, w) {
			t.Errorf("anomaly list does not contain %q:\n%s", w, rest)
		}
	}
}

func TestAuditTableEmpty(t *testing.T) {
	tests := []struct {
		name   string
		report audit.Report
		node   string
		want   string
	}{
		{name: "An empty cluster says so.", report: audit.Analyze(nil, nil, tableNow, audit.Options{}),
			want: "No Nodes and no NodeCertificate records.\n"},
		{name: "An unknown --node says so.", report: audit.Analyze(nil, nil, tableNow, audit.Options{}), node: "x",
			want: "No Node and no NodeCertificate records named \"x\".\n"},
		{name: "A clean report says there is no anomaly.",
			report: audit.Analyze([]v1alpha1.NodeCertificate{
				tableRecord("aa01", "alpha", v1alpha1.CertificateClient, -day, 300*day, v1alpha1.ActorNodetrust),
				tableRecord("aa02", "alpha", v1alpha1.CertificateServing, -day, 300*day, v1alpha1.ActorNodetrust),
			}, []corev1.Node{tableNode("alpha")}, tableNow, audit.Options{}),
			want: "\nNo anomalies.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printAuditTable(&buf, tt.report, tt.node); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(buf.String(), tt.want) {
				t.Errorf("table =\n%s\nwant it to end with %q", buf.String(), tt.want)
			}
		})
	}
}

func TestReportFormats(t *testing.T) {
	report := tableReport()
	tests := []struct {
		name   string
		format string
		decode func([]byte, any) error
	}{
		{name: "JSON output decodes back to the report.", format: outputJSON, decode: json.Unmarshal},
		{name: "YAML output decodes back to the report.", format: outputYAML, decode: func(b []byte, v any) error { return yaml.Unmarshal(b, v) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printReport(&buf, tt.format, report, ""); err != nil {
				t.Fatal(err)
			}
			var got audit.Report
			if err := tt.decode(buf.Bytes(), &got); err != nil {
				t.Fatalf("decoding %s: %v\n%s", tt.format, err, buf.String())
			}
			if len(got.Nodes) != 3 || len(got.Anomalies) != 3 || got.Anomalies[0].Code != audit.CodeExpiring ||
				got.Nodes[1].Client == nil || got.Nodes[1].Client.SerialNumber != "bb01" || !got.GeneratedAt.Equal(tableNow) {
				t.Errorf("decoded report = %+v", got)
			}
			for _, key := range []string{"generatedAt", "nodes", "anomalies", "certificateKind", "serialNumber", "notAfter"} {
				if !strings.Contains(buf.String(), key) {
					t.Errorf("%s output has no %q key", tt.format, key)
				}
			}
		})
	}
}

// reviewCSR is a CSR as the API server stores it: the requester's groups
// are those its authenticator gives a node or a bootstrap-token user.
func reviewCSR(name, user, signerName string, age time.Duration, request []byte, conds ...certificatesv1.CertificateSigningRequestCondition) certificatesv1.CertificateSigningRequest {
	var groups []string
	switch {
	case strings.HasPrefix(user, csrstate.NodeUserPrefix):
		groups = []string{csrstate.NodesGroup}
	case strings.HasPrefix(user, csrstate.BootstrapUserPrefix):
		groups = []string{csrstate.BootstrappersGroup}
	}
	return certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(tableNow.Add(-age)),
			Labels: map[string]string{wire.LabelReview: wire.ReviewRequired}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Username: user, Groups: groups, SignerName: signerName, Request: request},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: append([]certificatesv1.CertificateSigningRequestCondition{{
			Type: wire.ConditionReviewRequired, Status: corev1.ConditionTrue, Reason: "PolicyRequiresReview",
			Message: wire.ReviewMessage("policy pool-b asks a person to review\nserving requests of pool-b nodes; the node reports 10.0.0.2 and pool-b-1", "pool-b"),
		}}, conds...)},
	}
}

func TestReviewTable(t *testing.T) {
	approved := certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}
	csrs := []certificatesv1.CertificateSigningRequest{
		reviewCSR("csr-new", "system:node:pool-b-1", certificatesv1.KubeletServingSignerName, 3*time.Minute, nil),
		reviewCSR("csr-boot", "system:bootstrap:abcdef", certificatesv1.KubeAPIServerClientKubeletSignerName, 2*time.Hour,
			pkcs10test.RequestPEM(t, "system:node:pool-b-2")),
		reviewCSR("csr-odd", "alice", "example.com/other", time.Hour, []byte("garbage")),
		reviewCSR("csr-done", "system:node:pool-b-3", certificatesv1.KubeletServingSignerName, time.Hour, nil, approved),
	}
	// csr-odd carries the label only, as a requester can set it: no review.
	csrs[2].Status.Conditions = nil
	list := pendingReviews(csrs)
	var buf bytes.Buffer
	if err := printReviewTable(&buf, list, tableNow); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	msg := "policy pool-b asks a person to review serving requests of p…"
	want := [][]string{
		{"NAME", "NODE/REQUESTER", "KIND", "AGE", "REASON", "POLICY", "MESSAGE"},
		{"csr-boot", "pool-b-2 (system:bootstrap:abcdef)", "Client", "120m", "PolicyRequiresReview", "pool-b", msg},
		{"csr-new", "pool-b-1", "Serving", "3m", "PolicyRequiresReview", "pool-b", msg},
	}
	if len(lines) != len(want) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if got := columns(lines[i]); !slices.Equal(got, w) {
			t.Errorf("line %d = %q, want %q", i, got, w)
		}
	}
	if n := len([]rune(msg)); n != messageWidth {
		t.Errorf("the truncated message has %d runes, want %d", n, messageWidth)
	}
	if got := list.Items[1].Message; !strings.Contains(got, "\nserving requests") || !strings.HasSuffix(got, "pool-b-1") {
		t.Errorf("the listed message is not complete: %q", got)
	}

	buf.Reset()
	if err := printReviewTable(&buf, pendingReviews(nil), tableNow); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "No CSRs are waiting for review.\n" {
		t.Errorf("empty review table = %q", buf.String())
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		width    int
		want     string
	}{
		{name: "A short message is kept.", in: "short", width: 10, want: "short"},
		{name: "A message of exactly the width is kept.", in: "0123456789", width: 10, want: "0123456789"},
		{name: "A long message is cut with an ellipsis.", in: "0123456789A", width: 10, want: "012345678…"},
		{name: "White space is folded.", in: "a\n\tb   c", width: 10, want: "a b c"},
		{name: "Runes are counted, not bytes.", in: "ééééééééééé", width: 5, want: "éééé…"},
		{name: "No space is left before the ellipsis.", in: "abc defgh", width: 5, want: "abc…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.in, tt.width); got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}
