package controllers_test

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/controllers/signers"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// signerNamespace holds the signers' Secrets and CA bundles in these tests.
const signerNamespace = "nodetrust-system"

// recordRetention is how long the test manager keeps records of expired certificates.
const recordRetention = time.Hour

var (
	env *testenv.Env
	// cache is the running manager's cache, for CreateAndWait.
	cache client.Reader
	// stopManager stops the running manager, if any.
	stopManager = func() {}
	// approvalKeys are the running manager's approval keys.
	approvalKeys attest.Keys
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, func(e *testenv.Env) { env = e }, func() { stopManager() }))
}

// startManager runs the approval and policy-status controllers once per test
// binary, as a user holding only the shipped RBAC.
func startManager(t *testing.T) {
	t.Helper()
	testenv.Require(t, env)
	if cache != nil {
		return
	}
	ctx := context.Background()
	const user = "nodetrust-manager"
	if err := env.GrantManagerRBAC(ctx, user, metav1.NamespaceDefault); err != nil {
		t.Fatal(err)
	}
	if err := env.AllowCSRCreation(ctx); err != nil {
		t.Fatal(err)
	}
	manager, err := env.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(manager.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  controllers.CacheOptions(signerNamespace),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	// The keys are loaded as the manager does, with its RBAC: the first
	// start creates the Secret.
	approvalKeys, err = controllers.LoadApprovalKeys(ctx, mgr.GetAPIReader(), mgr.GetClient(), signerNamespace,
		controllers.DefaultApprovalKeySecret, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	err = controllers.Setup(mgr, controllers.Config{
		ApprovalKeys:    approvalKeys,
		SignerNamespace: signerNamespace,
		Backends: map[signers.BackendKind]signers.BackendFactory{
			signers.BackendSecret: &signers.SecretBackend{Reader: mgr.GetCache(), Namespace: signerNamespace},
		},
		RecordRetention: recordRetention,
		RecordYield:     ptr.To(2 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	mgrCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(mgrCtx); err != nil {
			panic(err)
		}
	}()
	stopManager = func() { cancel(); <-done }
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	cache = mgr.GetCache()
	createSamplePolicy(t)
}

// createSamplePolicy applies the shipped default policy.
func createSamplePolicy(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "nodetrust_v1alpha1_nodecertificatepolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &v1alpha1.NodeCertificatePolicy{}
	if err := utilyaml.Unmarshal(data, p); err != nil {
		t.Fatal(err)
	}
	testenv.CreateAndWait(context.Background(), t, env.Client, cache, p)
}

// csrSpec describes a CSR to create as some requester.
type csrSpec struct {
	name       string
	signer     string
	cn         string
	orgs       []string
	dnsNames   []string
	ips        []net.IP
	usages     []certificatesv1.KeyUsage
	expiration *int32
}

func clientCSR(name, cn string) csrSpec {
	return csrSpec{name: name, signer: certificatesv1.KubeAPIServerClientKubeletSignerName, cn: cn, orgs: []string{csrstate.NodesGroup},
		usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}}
}

func servingCSR(name, node string, dnsNames []string, ips ...net.IP) csrSpec {
	return csrSpec{name: name, signer: certificatesv1.KubeletServingSignerName, cn: csrstate.NodeUserPrefix + node,
		orgs: []string{csrstate.NodesGroup}, dnsNames: dnsNames, ips: ips,
		usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}}
}

// createCSR creates the CSR impersonating username in groups, so that the
// API server itself records the requester.
func createCSR(t *testing.T, spec csrSpec, username string, groups ...string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	return env.CreateCSR(t, testenv.CSR{
		Name: spec.name, SignerName: spec.signer, CommonName: spec.cn, Orgs: spec.orgs,
		DNSNames: spec.dnsNames, IPAddresses: spec.ips, Usages: spec.usages, ExpirationSeconds: ptr.Deref(spec.expiration, 0),
	}, username, groups...)
}

// waitForCondition waits until the CSR carries condType and returns it.
func waitForCondition(t *testing.T, name string, condType certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
	t.Helper()
	var found certificatesv1.CertificateSigningRequestCondition
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+name+" to be "+string(condType), func(ctx context.Context) (bool, error) {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			return false, err
		}
		for _, c := range csr.Status.Conditions {
			if c.Type == condType {
				found = c
				return true, nil
			}
			t.Fatalf("CSR %s got %s (%s: %s), want %s", name, c.Type, c.Reason, c.Message, condType)
		}
		return false, nil
	})
	return found
}

// expectUntouched checks that the CSR stays without conditions or labels for a while.
func expectUntouched(t *testing.T, name string, duration time.Duration) {
	t.Helper()
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, csr); err != nil {
			t.Fatal(err)
		}
		if len(csr.Status.Conditions) > 0 || len(csr.Labels) > 0 {
			t.Fatalf("CSR %s was touched: conditions %v, labels %v", name, csr.Status.Conditions, csr.Labels)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createToken creates a bootstrap-token Secret for id.
func createToken(t *testing.T, id string, expiration time.Time, extraGroups string) {
	t.Helper()
	data := map[string][]byte{
		"token-id":                       []byte(id),
		"token-secret":                   []byte("0123456789abcdef"),
		"usage-bootstrap-authentication": []byte("true"),
		"usage-bootstrap-signing":        []byte("true"),
		"expiration":                     []byte(expiration.UTC().Format(time.RFC3339)),
	}
	if extraGroups != "" {
		data["auth-extra-groups"] = []byte(extraGroups)
	}
	testenv.CreateAndWait(context.Background(), t, env.Client, cache, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: policy.BootstrapTokenSecretPrefix + id},
		Type:       policy.BootstrapTokenSecretType,
		Data:       data,
	})
}

// createNode creates a Node with the given addresses in its status.
func createNode(t *testing.T, name string, labels map[string]string, addresses ...corev1.NodeAddress) {
	t.Helper()
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = addresses
	if err := env.Client.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "Node "+name+" in cache", func(ctx context.Context) (bool, error) {
		got := &corev1.Node{}
		if err := cache.Get(ctx, client.ObjectKey{Name: name}, got); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return len(got.Status.Addresses) == len(addresses), nil
	})
}
