package main

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/audit"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// auditJSON runs `audit -o json` with extra flags against the test cluster.
func auditJSON(t *testing.T, kubeconfig string, extra ...string) audit.Report {
	t.Helper()
	r := runPlugin(t, append([]string{"audit", "--kubeconfig", kubeconfig, "-o", "json"}, extra...)...)
	if r.code != exitOK {
		t.Fatalf("audit exited %d:\n%s", r.code, r.stderr)
	}
	var report audit.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, r.stdout)
	}
	return report
}

// codesFor returns the codes of node's anomalies, in report order.
func codesFor(report audit.Report, node string) []audit.Code {
	codes := []audit.Code{}
	for _, a := range report.Anomalies {
		if a.Node == node {
			codes = append(codes, a.Code)
		}
	}
	return codes
}

// TestAuditFindsEachAnomaly sets up, for each anomaly code, a node that
// shows it, and checks that the plugin reports it from the real API server.
func TestAuditFindsEachAnomaly(t *testing.T) {
	testenv.Require(t, env)
	kc := kubeconfig(t)
	client := func(node string, requested, lifetime time.Duration) cert {
		return cert{node: node, kind: v1alpha1.CertificateClient, requested: requested, lifetime: lifetime}
	}
	serving := func(node string, requested, lifetime time.Duration) cert {
		return cert{node: node, kind: v1alpha1.CertificateServing, requested: requested, lifetime: lifetime}
	}
	tests := []struct {
		name  string
		node  string
		setup func(t *testing.T, node string, now time.Time)
		want  []audit.Code
		// kind is the certificate kind of the anomalies, when there are any.
		kind v1alpha1.CertificateKind
	}{
		{
			name: "A node with fresh certificates approved by nodetrust shows no anomaly.",
			node: "it-clean",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node)
				createRecords(t, now, client(node, -day, 365*day), serving(node, -day, 365*day))
			},
			want: []audit.Code{},
		},
		{
			name: "A client certificate expiring within 30 days is reported as expiring.",
			node: "it-expiring",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node)
				createRecords(t, now, client(node, -355*day, 365*day), serving(node, -day, 365*day))
			},
			want: []audit.Code{audit.CodeExpiring}, kind: v1alpha1.CertificateClient,
		},
		{
			name: "A client certificate that expired without a replacement is reported as expired.",
			node: "it-expired",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node)
				createRecords(t, now, client(node, -2*day, day), serving(node, -day, 365*day))
			},
			want: []audit.Code{audit.CodeExpired}, kind: v1alpha1.CertificateClient,
		},
		{
			name: "A Node without a serving certificate is reported as no-serving.",
			node: "it-no-serving",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node)
				createRecords(t, now, client(node, -day, 365*day))
			},
			want: []audit.Code{audit.CodeNoServing}, kind: v1alpha1.CertificateServing,
		},
		{
			name: "A serving certificate naming an address the Node does not report is a SAN mismatch, on IPv6 too.",
			node: "it-san-mismatch",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node, "Hostname="+node, "InternalIP=fd00::10")
				s := serving(node, -day, 365*day)
				s.dnsNames, s.ips = []string{strings.ToUpper(node) + "."}, []string{"fd00:0:0::10", "fd00::99"}
				createRecords(t, now, client(node, -day, 365*day), s)
			},
			want: []audit.Code{audit.CodeSANMismatch}, kind: v1alpha1.CertificateServing,
		},
		{
			name: "A valid certificate for a Node that does not exist is reported as unknown-node.",
			node: "it-unknown-node",
			setup: func(t *testing.T, node string, now time.Time) {
				createRecords(t, now, client(node, -day, 365*day))
			},
			want: []audit.Code{audit.CodeUnknownNode}, kind: v1alpha1.CertificateClient,
		},
		{
			name: "A serving certificate approved with kubectl is reported as not approved by nodetrust.",
			node: "it-external",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node)
				s := serving(node, -day, 365*day)
				s.external = true
				createRecords(t, now, client(node, -day, 365*day), s)
			},
			want: []audit.Code{audit.CodeNotApprovedByNodetrust}, kind: v1alpha1.CertificateServing,
		},
		{
			name: "Six client certificates requested within an hour are reported as a burst.",
			node: "it-burst",
			setup: func(t *testing.T, node string, now time.Time) {
				createNode(t, node)
				certs := []cert{serving(node, -day, 365*day)}
				for i := range 6 {
					certs = append(certs, client(node, -time.Hour+time.Duration(i)*5*time.Minute, 365*day))
				}
				createRecords(t, now, certs...)
			},
			want: []audit.Code{audit.CodeBurst}, kind: v1alpha1.CertificateClient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup(t, tt.node, time.Now())
			report := auditJSON(t, kc)
			if got := codesFor(report, tt.node); !slices.Equal(got, tt.want) {
				t.Fatalf("anomalies of %s = %q, want %q\n%+v", tt.node, got, tt.want, report.Anomalies)
			}
			for _, a := range report.Anomalies {
				if a.Node == tt.node && a.CertificateKind != tt.kind {
					t.Errorf("anomaly %s is about a %s certificate, want %s", a.Code, a.CertificateKind, tt.kind)
				}
			}
			i := slices.IndexFunc(report.Nodes, func(n audit.NodeReport) bool { return n.Name == tt.node })
			if i < 0 {
				t.Fatalf("node %s is not in the report", tt.node)
			}
			if n := report.Nodes[i]; n.Client == nil || !strings.HasPrefix(n.Client.Record, "client-") {
				t.Errorf("node %s has no current client certificate: %+v", tt.node, n)
			}
			// The same node alone gives the same anomalies.
			alone := auditJSON(t, kc, "--node", tt.node)
			if got := codesFor(alone, tt.node); !slices.Equal(got, tt.want) || len(alone.Nodes) != 1 {
				t.Errorf("--node %s: anomalies %q, %d nodes; want %q and 1 node", tt.node, got, len(alone.Nodes), tt.want)
			}
		})
	}
}

// TestAuditFailOn checks the exit codes --fail-on gives, and the table.
func TestAuditFailOn(t *testing.T) {
	testenv.Require(t, env)
	kc := kubeconfig(t)
	now := time.Now()
	createNode(t, "fo-expiring")
	createRecords(t, now,
		cert{node: "fo-expiring", kind: v1alpha1.CertificateClient, requested: -360 * day, lifetime: 365 * day},
		cert{node: "fo-expiring", kind: v1alpha1.CertificateServing, requested: -day, lifetime: 365 * day})
	createNode(t, "fo-clean")
	createRecords(t, now,
		cert{node: "fo-clean", kind: v1alpha1.CertificateClient, requested: -day, lifetime: 365 * day},
		cert{node: "fo-clean", kind: v1alpha1.CertificateServing, requested: -day, lifetime: 365 * day})

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "Without --fail-on anomalies do not change the exit code.", args: []string{"--node", "fo-expiring"}, wantCode: exitOK},
		{name: "--fail-on=none ignores every anomaly.", args: []string{"--fail-on=none"}, wantCode: exitOK},
		{name: "--fail-on=all exits 3 when any anomaly is found.", args: []string{"--node", "fo-expiring", "--fail-on=all"},
			wantCode: exitAnomalies, wantStderr: "1 anomaly matched --fail-on=all"},
		{name: "--fail-on with the code found exits 3.", args: []string{"--node", "fo-expiring", "--fail-on", "burst,expiring"},
			wantCode: exitAnomalies, wantStderr: "1 anomaly matched --fail-on=burst,expiring"},
		{name: "--fail-on with other codes exits 0.", args: []string{"--node", "fo-expiring", "--fail-on", "burst,san-mismatch"}, wantCode: exitOK},
		{name: "--fail-on=all exits 0 for a clean node.", args: []string{"--node", "fo-clean", "--fail-on=all"}, wantCode: exitOK},
		{name: "A shorter --expiring-within no longer finds the certificate.", args: []string{"--node", "fo-expiring", "--expiring-within=2d", "--fail-on=expiring"},
			wantCode: exitOK},
		{name: "JSON output exits 3 too.", args: []string{"--node", "fo-expiring", "-o", "json", "--fail-on=expiring"}, wantCode: exitAnomalies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(t, append([]string{"audit", "--kubeconfig", kc}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
			if r.stdout == "" {
				t.Error("nothing printed")
			}
		})
	}

	t.Run("The table shows one row per kind and the anomalies.", func(t *testing.T) {
		r := runPlugin(t, "audit", "--kubeconfig", kc, "--node", "fo-expiring")
		lines := strings.Split(r.stdout, "\n")
		if len(lines) < 3 || !slices.Equal(columns(lines[0]), []string{"NODE", "KIND", "SERIAL", "EXPIRES", "APPROVED BY", "ANOMALIES"}) {
			t.Fatalf("table:\n%s", r.stdout)
		}
		client, serving := columns(lines[1]), columns(lines[2])
		if len(client) != 6 || client[0] != "fo-expiring" || client[1] != "Client" || !strings.Contains(client[3], "(in 4d") ||
			client[4] != "policy workers" || client[5] != "expiring" {
			t.Errorf("client row = %q", client)
		}
		if len(serving) != 6 || serving[1] != "Serving" || serving[5] != "-" {
			t.Errorf("serving row = %q", serving)
		}
		if !strings.Contains(r.stdout, "1 anomaly:\n  fo-expiring   expiring   client certificate ") {
			t.Errorf("anomaly list missing:\n%s", r.stdout)
		}
	})
}

// TestAPIErrors checks that API errors exit 1 with the error.
func TestAPIErrors(t *testing.T) {
	testenv.Require(t, env)
	nobody, err := env.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := testenv.Kubeconfig(t.TempDir(), nobody.Config)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "An account that may not list records gets exit 1 and the reason.", args: []string{"audit", "--kubeconfig", kc},
			want: []string{"error: listing NodeCertificates", "forbidden", "list verb on nodecertificates.nodetrust.io"}},
		{name: "An account that may not list CSRs gets exit 1 and the reason.", args: []string{"review", "--kubeconfig", kc},
			want: []string{"error: listing CertificateSigningRequests", "forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(t, tt.args...)
			if r.code != exitError {
				t.Errorf("exit code = %d, want %d", r.code, exitError)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
}

// TestReview lists CSRs labelled for review, decided ones among them.
func TestReview(t *testing.T) {
	testenv.Require(t, env)
	allowCSRCreation(t)
	kc := kubeconfig(t)
	serving := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	clientUsages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	longMessage := "serving request for rv-node-1 names 10.9.9.9, which the Node does not report; " +
		"policy rv-pool sends such requests to a person (onViolation: Review)"

	env.CreateCSR(t, testenv.CSR{Name: "rv-serving", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:rv-node-1", Orgs: []string{"system:nodes"}, DNSNames: []string{"rv-node-1"},
		IPAddresses: []net.IP{net.ParseIP("10.9.9.9")}, Usages: serving}, "system:node:rv-node-1", "system:nodes")
	markForReview(t, "rv-serving", "SANNotOwnedByNode", "rv-pool", longMessage)

	env.CreateCSR(t, testenv.CSR{Name: "rv-bootstrap", SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
		CommonName: "system:node:rv-node-2", Orgs: []string{"system:nodes"}, Usages: clientUsages},
		"system:bootstrap:rvtokn", "system:bootstrappers")
	markForReview(t, "rv-bootstrap", "PolicyRequiresReview", "rv-pool", "policy rv-pool reviews bootstrap requests")

	env.CreateCSR(t, testenv.CSR{Name: "rv-approved", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:rv-node-3", Orgs: []string{"system:nodes"}, DNSNames: []string{"rv-node-3"}, Usages: serving},
		"system:node:rv-node-3", "system:nodes")
	markForReview(t, "rv-approved", "PolicyRequiresReview", "rv-pool", "decided since")
	env.ApproveCSR(t, "rv-approved")

	env.CreateCSR(t, testenv.CSR{Name: "rv-denied", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:rv-node-4", Orgs: []string{"system:nodes"}, DNSNames: []string{"rv-node-4"}, Usages: serving},
		"system:node:rv-node-4", "system:nodes")
	markForReview(t, "rv-denied", "PolicyRequiresReview", "rv-pool", "decided since")
	denyCSR(t, "rv-denied")

	env.CreateCSR(t, testenv.CSR{Name: "rv-unlabelled", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:rv-node-5", Orgs: []string{"system:nodes"}, DNSNames: []string{"rv-node-5"}, Usages: serving},
		"system:node:rv-node-5", "system:nodes")

	t.Run("JSON lists exactly the pending labelled CSRs with their full annotations.", func(t *testing.T) {
		r := runPlugin(t, "review", "--kubeconfig", kc, "-o", "json")
		if r.code != exitOK {
			t.Fatalf("review exited %d: %s", r.code, r.stderr)
		}
		var list reviewList
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("decoding: %v\n%s", err, r.stdout)
		}
		// Items are sorted by creation time, which has a resolution of a
		// second: the two may come in either order.
		slices.SortFunc(list.Items, func(a, b reviewItem) int { return strings.Compare(a.Name, b.Name) })
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if want := []string{"rv-bootstrap", "rv-serving"}; !slices.Equal(names, want) {
			t.Fatalf("listed %q, want %q", names, want)
		}
		b, s := list.Items[0], list.Items[1]
		if s.Node != "rv-node-1" || s.Requester != "system:node:rv-node-1" || s.Kind != "Serving" ||
			s.Reason != "SANNotOwnedByNode" || s.Policy != "rv-pool" || s.Message != longMessage {
			t.Errorf("serving item = %+v", s)
		}
		if b.Node != "rv-node-2" || b.Requester != "system:bootstrap:rvtokn" || b.Kind != "Client" ||
			b.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
			t.Errorf("bootstrap item = %+v", b)
		}
	})
	t.Run("The table truncates the message and names the bootstrap requester.", func(t *testing.T) {
		r := runPlugin(t, "review", "--kubeconfig", kc)
		if r.code != exitOK {
			t.Fatalf("review exited %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("want a header and 2 rows:\n%s", r.stdout)
		}
		if got := columns(lines[0]); !slices.Equal(got, []string{"NAME", "NODE/REQUESTER", "KIND", "AGE", "REASON", "POLICY", "MESSAGE"}) {
			t.Errorf("header = %q", got)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			row := columns(l)
			rows[row[0]] = row
		}
		row := rows["rv-serving"]
		if len(row) != 7 || row[0] != "rv-serving" || row[1] != "rv-node-1" || row[2] != "Serving" || row[4] != "SANNotOwnedByNode" ||
			row[5] != "rv-pool" || !strings.HasSuffix(row[6], "…") || len([]rune(row[6])) != messageWidth {
			t.Errorf("serving row = %q", row)
		}
		if row := rows["rv-bootstrap"]; len(row) != 7 || row[1] != "rv-node-2 (system:bootstrap:rvtokn)" || row[2] != "Client" {
			t.Errorf("bootstrap row = %q", row)
		}
	})
	t.Run("YAML prints the same items.", func(t *testing.T) {
		r := runPlugin(t, "review", "--kubeconfig", kc, "-o", "yaml")
		if r.code != exitOK || !strings.Contains(r.stdout, "items:") || !strings.Contains(r.stdout, "name: rv-bootstrap") ||
			strings.Contains(r.stdout, "rv-approved") {
			t.Errorf("review -o yaml = %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// markForReview queues a CSR for review as the approval controller does:
// its review condition through /status, then the label.
func markForReview(t *testing.T, name, reason, policyName, message string) {
	t.Helper()
	ctx := context.Background()
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
		t.Fatal(err)
	}
	csr = csrstate.WithConditionSet(csr, wire.ConditionReviewRequired, reason, wire.ReviewMessage(message, policyName), time.Now())
	if err := env.Client.Status().Update(ctx, csr); err != nil {
		t.Fatalf("queueing CSR %s for review: %v", name, err)
	}
	patch := client.MergeFrom(csr.DeepCopy())
	metav1.SetMetaDataLabel(&csr.ObjectMeta, wire.LabelReview, wire.ReviewRequired)
	if err := env.Client.Patch(ctx, csr, patch); err != nil {
		t.Fatalf("labelling CSR %s: %v", name, err)
	}
}

// denyCSR denies a CSR as `kubectl certificate deny` does.
func denyCSR(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
		t.Fatal(err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "KubectlDeny",
		Message: "denied by the test", LastUpdateTime: metav1.Now(),
	})
	if err := env.Client.SubResource("approval").Update(ctx, csr); err != nil {
		t.Fatalf("denying CSR %s: %v", name, err)
	}
}

// TestBinary builds the plugin and runs it as kubectl would, to check that
// main passes run's exit code on.
func TestBinary(t *testing.T) {
	testenv.Require(t, env)
	kc := kubeconfig(t)
	bin := buildPlugin(t)
	createRecords(t, time.Now(), cert{node: "bin-gone", kind: v1alpha1.CertificateClient, requested: -day, lifetime: 365 * day})
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "A clean run exits 0.", args: []string{"audit", "--node", "bin-gone"}, want: exitOK},
		{name: "An anomaly selected by --fail-on exits 3.", args: []string{"audit", "--node", "bin-gone", "--fail-on", "unknown-node"}, want: exitAnomalies},
		{name: "A usage error exits 2.", args: []string{"audit", "--bogus"}, want: exitUsage},
		{name: "An unknown command exits 2.", args: []string{"bogus"}, want: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runBinary(t, bin, kc, tt.args...)
			if code != tt.want {
				t.Errorf("%s %q exited %d, want %d:\n%s", bin, tt.args, code, tt.want, out)
			}
		})
	}
}

// buildPlugin builds the plugin binary into a temporary directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubectl-nodetrust")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	return bin
}
