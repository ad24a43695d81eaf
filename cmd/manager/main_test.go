package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"

	"github.com/nodetrust/nodetrust/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(e *testenv.Env) { env = e }))
}

// TestManagerBinary builds bin/manager, runs it against the real API server
// with only the shipped RBAC, and checks that it takes the Lease and reports
// ready, and that its metrics endpoint refuses anonymous scrapes.
func TestManagerBinary(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	const user, leaseNamespace = "nodetrust-manager", "nodetrust-system"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNamespace}}); err != nil {
		t.Fatal(err)
	}
	if err := env.GrantManagerRBAC(ctx, user, leaseNamespace); err != nil {
		t.Fatal(err)
	}
	manager, err := env.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig, err := testenv.Kubeconfig(dir, manager.Config)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}

	probe, metrics := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig="+kubeconfig, "--leader-elect",
		"--leader-election-namespace="+leaseNamespace, "--health-probe-bind-address="+probe,
		"--metrics-bind-address="+metrics)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	})

	testenv.WaitFor(t, time.Minute, "/readyz to answer 200", func(ctx context.Context) (bool, error) {
		return httpStatus(ctx, "http://"+probe+"/readyz") == http.StatusOK, nil
	})
	testenv.WaitFor(t, time.Minute, "the manager to hold the Lease", func(ctx context.Context) (bool, error) {
		lease := &coordinationv1.Lease{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: leaseNamespace, Name: leaderElectionID}, lease); err != nil {
			return false, err
		}
		return lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "", nil
	})
	if got := httpStatus(ctx, "http://"+probe+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", got)
	}
	// The metrics server may still be generating its serving certificate.
	var got int
	testenv.WaitFor(t, time.Minute, "the metrics endpoint to answer", func(ctx context.Context) (bool, error) {
		got = httpStatus(ctx, "https://"+metrics+"/metrics")
		return got != 0, nil
	})
	if got != http.StatusUnauthorized && got != http.StatusForbidden {
		t.Errorf("anonymous /metrics = %d, want 401 or 403", got)
	}
	checkMetricsAuthorization(t, "https://"+metrics+"/metrics")
}

// checkMetricsAuthorization scrapes url with the token of a ServiceAccount
// bound to the shipped metrics-reader role, which must see nodetrust's
// metrics, and with one of a ServiceAccount without it, which must be
// refused.
func checkMetricsAuthorization(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := utilyaml.Unmarshal(data, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "scraper-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: metav1.NamespaceDefault}},
	}); err != nil {
		t.Fatal(err)
	}
	status, body := scrape(ctx, t, url, serviceAccountToken(t, "scraper"))
	if status != http.StatusOK {
		t.Fatalf("a scraper bound to metrics-reader got %d", status)
	}
	// Counters appear once they count something; the scrape-time gauges always do.
	for _, metric := range []string{`nodetrust_csr_pending{kind="Serving",review="required"} 0`,
		`nodetrust_csr_awaiting_issuance{signer_name="kubernetes.io/kubelet-serving"} 0`, "controller_runtime_reconcile_total"} {
		if !strings.Contains(body, metric) {
			t.Errorf("/metrics does not expose %s", metric)
		}
	}
	if status, _ := scrape(ctx, t, url, serviceAccountToken(t, "stranger")); status != http.StatusForbidden {
		t.Fatalf("a ServiceAccount without metrics-reader got %d, want 403", status)
	}
}

// serviceAccountToken creates the ServiceAccount in default and returns a
// token for it from the TokenRequest API.
func serviceAccountToken(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: name}}
	if err := env.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}
	if err := env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("requesting a token for %s: %v", name, err)
	}
	return tr.Status.Token
}

func scrape(ctx context.Context, t *testing.T, url, token string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test server's self-signed certificate
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestManagerRejectsBadFlags runs the real entry point with a bad flag.
func TestManagerRejectsBadFlags(t *testing.T) {
	err := run(context.Background(), []string{"--metrics-bind-address=nowhere"})
	if err == nil || !strings.Contains(err.Error(), "--metrics-bind-address") {
		t.Fatalf("run = %v, want a flag error", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func httpStatus(ctx context.Context, url string) int {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test server's self-signed certificate
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	return resp.StatusCode
}
