package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
)

// captureEnv names the file TestCaptureAuditExample writes its transcript to.
const captureEnv = "NODETRUST_CAPTURE_AUDIT"

// TestCaptureAuditExample produces the example output of docs/audit.md: it
// sets up a small cluster (a healthy control-plane node and worker, a worker
// whose client certificate was not renewed, one without a serving
// certificate, one whose address changed, one whose serving certificate was
// approved by hand, and a deleted node whose certificates remain) and two
// CSRs waiting for review, runs the plugin binary against it as a user with
// the documented RBAC (and once as a user without any), and writes the
// transcript to the file named by NODETRUST_CAPTURE_AUDIT:
//
//	NODETRUST_CAPTURE_AUDIT=/tmp/audit.txt go test -run TestCaptureAuditExample ./cmd/kubectl-nodetrust/
//
// It deletes every Node, NodeCertificate and CSR of the test API server first.
func TestCaptureAuditExample(t *testing.T) {
	path := os.Getenv(captureEnv)
	if path == "" {
		t.Skip(captureEnv + " is not set")
	}
	testenv.Require(t, env)
	wipe(t)
	now := time.Now()

	type node struct {
		name  string
		addrs []string
	}
	nodes := []node{
		{"cp-1", []string{"InternalIP=10.0.0.10", "Hostname=cp-1"}},
		{"worker-1", []string{"InternalIP=10.0.1.11", "Hostname=worker-1"}},
		{"worker-2", []string{"InternalIP=10.0.1.12", "Hostname=worker-2"}},
		{"worker-3", []string{"InternalIP=10.0.1.13", "Hostname=worker-3"}},
		// worker-4 came back with a new address after maintenance.
		{"worker-4", []string{"InternalIP=10.0.1.24", "Hostname=worker-4"}},
		{"worker-5", []string{"InternalIP=10.0.1.15", "Hostname=worker-5"}},
	}
	for _, n := range nodes {
		createNode(t, n.name, n.addrs...)
	}
	client := func(node string, requested, lifetime time.Duration) cert {
		return cert{node: node, kind: v1alpha1.CertificateClient, requested: requested, lifetime: lifetime}
	}
	serving := func(node, ip string, requested, lifetime time.Duration) cert {
		return cert{node: node, kind: v1alpha1.CertificateServing, requested: requested, lifetime: lifetime,
			dnsNames: []string{node}, ips: []string{ip}}
	}
	const year = 365 * day
	controlPlane := func(c cert) cert { c.policy = "control-plane"; return c }
	externalServing := serving("worker-5", "10.0.1.15", -40*day, year)
	externalServing.external = true
	createRecords(t, now,
		// Rotated once: the first client certificate is still valid, the second is current.
		controlPlane(client("cp-1", -300*day, year)), controlPlane(client("cp-1", -20*day, year)),
		controlPlane(serving("cp-1", "10.0.0.10", -20*day, year)),
		client("worker-1", -95*day, year), serving("worker-1", "10.0.1.11", -95*day, year),
		// The kubelet should have renewed this one weeks ago.
		client("worker-2", -year+12*day+3*time.Hour, year), serving("worker-2", "10.0.1.12", -60*day, year),
		// serverTLSBootstrap is off on worker-3, or its request waits for review.
		client("worker-3", -30*day, year),
		client("worker-4", -80*day, year), serving("worker-4", "10.0.1.14", -80*day, year),
		client("worker-5", -40*day, year), externalServing,
		// worker-6 was deleted last week; its certificates are still valid.
		client("worker-6", -150*day, year), serving("worker-6", "10.0.1.16", -150*day, year),
	)

	allowCSRCreation(t)
	serverUsages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	env.CreateCSR(t, testenv.CSR{Name: "csr-8x2kq", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:worker-3", Orgs: []string{"system:nodes"}, DNSNames: []string{"worker-3"},
		IPAddresses: []net.IP{net.ParseIP("10.0.1.13")}, Usages: serverUsages}, "system:node:worker-3", "system:nodes")
	markForReview(t, "csr-8x2kq", "PolicyRequiresReview", "workers",
		`policy "workers" sends serving requests to review (serving.action: Review)`)
	env.CreateCSR(t, testenv.CSR{Name: "csr-q9w4z", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:worker-4", Orgs: []string{"system:nodes"}, DNSNames: []string{"worker-4", "worker-4.example.internal"},
		IPAddresses: []net.IP{net.ParseIP("10.0.1.24")}, Usages: serverUsages}, "system:node:worker-4", "system:nodes")
	markForReview(t, "csr-q9w4z", "SANNotOwnedByNode", "workers",
		`DNS name "worker-4.example.internal" is not among the addresses Node worker-4 reports (Hostname worker-4, InternalIP 10.0.1.24)`)

	bin := buildPlugin(t)
	kc := kubeconfig(t)
	bob, err := env.AddUser("bob")
	if err != nil {
		t.Fatal(err)
	}
	bobKC, err := testenv.Kubeconfig(t.TempDir(), bob.Config)
	if err != nil {
		t.Fatal(err)
	}
	var transcript strings.Builder
	for _, step := range []struct {
		kubeconfig string
		args       []string
	}{
		{kc, []string{"audit"}},
		{kc, []string{"audit", "--node", "worker-2", "--fail-on", "expired,expiring,no-serving"}},
		{kc, []string{"audit", "--node", "worker-2", "-o", "yaml"}},
		{kc, []string{"review"}},
		{kc, []string{"review", "-o", "yaml"}},
		// bob has no RBAC at all.
		{bobKC, []string{"audit"}},
	} {
		out, code := runBinary(t, bin, step.kubeconfig, step.args...)
		fmt.Fprintf(&transcript, "$ kubectl nodetrust %s\n%s", strings.Join(step.args, " "), out)
		if code != exitOK {
			fmt.Fprintf(&transcript, "$ echo $?\n%d\n", code)
		}
		transcript.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(transcript.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s:\n%s", path, transcript.String())
}

// runBinary runs the plugin binary as kubectl would, with KUBECONFIG set,
// and returns its combined output and exit code.
func runBinary(t *testing.T, bin, kubeconfig string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return string(out), exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return string(out), 0
}

// wipe deletes every Node, NodeCertificate and CSR and waits until they are gone.
func wipe(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.DeleteAllOf(ctx, &corev1.Node{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.DeleteAllOf(ctx, &v1alpha1.NodeCertificate{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.DeleteAllOf(ctx, &certificatesv1.CertificateSigningRequest{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "Nodes, records and CSRs to be deleted", func(ctx context.Context) (bool, error) {
		nodes, records, csrs := &corev1.NodeList{}, &v1alpha1.NodeCertificateList{}, &certificatesv1.CertificateSigningRequestList{}
		for _, l := range []client.ObjectList{nodes, records, csrs} {
			if err := env.Client.List(ctx, l); err != nil {
				return false, err
			}
		}
		return len(nodes.Items)+len(records.Items)+len(csrs.Items) == 0, nil
	})
}
