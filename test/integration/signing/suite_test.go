package signing_test

import (
	"context"
	"crypto/x509"
	"flag"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/controllers/signers"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

const (
	signerNamespace = "nodetrust-system"
	managerUser     = "nodetrust-manager"
)

var (
	env *testenv.Env
	// mainSigns counts the signatures of the manager every test shares.
	mainSigns atomic.Int64
	// mainPKCS11Open counts the pkcs11 signers the shared manager has open.
	mainPKCS11Open atomic.Int64
	mainStarted    bool
	stopAll        []func()
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	flag.Parse()
	if !testing.Short() {
		// Before anything in this process loads the PKCS#11 module.
		setUpSoftHSM()
	}
	code := testenv.Run(m, func(e *testenv.Env) { env = e }, func() {
		for _, stop := range stopAll {
			stop()
		}
	})
	tearDownSoftHSM()
	os.Exit(code)
}

// countingBackend wraps a backend factory so that tests can count the
// signatures its signers make.
type countingBackend struct {
	inner signers.BackendFactory
	signs *atomic.Int64
}

func (b countingBackend) Build(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) (signer.Signer, error) {
	s, err := b.inner.Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	return countingSigner{Signer: s, signs: b.signs}, nil
}

type countingSigner struct {
	signer.Signer
	signs *atomic.Int64
}

func (c countingSigner) Sign(ctx context.Context, tmpl *x509.Certificate) ([]byte, error) {
	c.signs.Add(1)
	return c.Signer.Sign(ctx, tmpl)
}

// trackingBackend wraps a backend factory to count the signers it built
// that are not closed yet.
type trackingBackend struct {
	inner signers.BackendFactory
	open  *atomic.Int64
}

// BuildKey forwards to the wrapped factory, so that a new PIN still rebuilds.
func (b trackingBackend) BuildKey(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) string {
	if k, ok := b.inner.(signers.BuildKeyer); ok {
		return k.BuildKey(ctx, spec)
	}
	return ""
}

func (b trackingBackend) Build(ctx context.Context, spec *v1alpha1.NodeCertificateSignerSpec) (signer.Signer, error) {
	s, err := b.inner.Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	b.open.Add(1)
	return &trackedSigner{Signer: s, open: b.open}, nil
}

// trackedSigner passes Close on, as the registry closes the signers it drops.
type trackedSigner struct {
	signer.Signer
	open   *atomic.Int64
	closed atomic.Bool
}

func (s *trackedSigner) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.open.Add(-1)
	}
	if c, ok := s.Signer.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// managerOptions enables optional backends of a signing manager.
type managerOptions struct {
	// pkcs11Module, when set, enables the pkcs11 backend with this module;
	// pkcs11Open then counts its open signers. Only one manager of the
	// process should have it.
	pkcs11Module string
	pkcs11Open   *atomic.Int64
}

// startSigningManager runs a manager with the signer-status and signing
// controllers only, as a user with just the shipped RBAC and no leader
// election: several of them act at once, like replicas without a Lease.
// It has the Secret backend only. It returns a function that stops it.
func startSigningManager(t *testing.T, signs *atomic.Int64) func() {
	t.Helper()
	return startSigningManagerWith(t, signs, managerOptions{})
}

// startSigningManagerWith is startSigningManager with the backends opts enables.
func startSigningManagerWith(t *testing.T, signs *atomic.Int64, opts managerOptions) func() {
	t.Helper()
	ctx := context.Background()
	if err := env.GrantManagerRBAC(ctx, managerUser, signerNamespace); err != nil {
		t.Fatal(err)
	}
	user, err := env.AddUser(managerUser)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(user.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  controllers.CacheOptions(signerNamespace),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Several managers run in this process; their controllers share names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	backends := map[signers.BackendKind]signers.BackendFactory{
		signers.BackendSecret: countingBackend{
			inner: &signers.SecretBackend{Reader: mgr.GetCache(), Namespace: signerNamespace},
			signs: signs,
		},
	}
	if opts.pkcs11Module != "" {
		backends[signers.BackendPKCS11] = trackingBackend{
			inner: &signers.PKCS11Backend{Module: opts.pkcs11Module, Reader: mgr.GetCache(), Namespace: signerNamespace},
			open:  opts.pkcs11Open,
		}
	}
	if err := controllers.Setup(mgr, controllers.Config{
		Loops:           []controllers.Loop{controllers.LoopSigners, controllers.LoopSigning},
		SignerNamespace: signerNamespace,
		Backends:        backends,
	}); err != nil {
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
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	var once atomic.Bool
	stop := func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			<-done
		}
	}
	stopAll = append(stopAll, stop)
	return stop
}

// startMain starts the shared manager and the kubelet-serving signer
// "serving-ca" once per test binary, and returns that signer's CA. The shared
// manager is the only one with the pkcs11 backend, when SoftHSM2 is set up.
func startMain(t *testing.T) *signertest.CA {
	t.Helper()
	testenv.Require(t, env)
	if !mainStarted {
		ensureNamespace(t, signerNamespace)
		if err := env.AllowCSRCreation(context.Background()); err != nil {
			t.Fatal(err)
		}
		stopMain = startSigningManagerWith(t, &mainSigns, mainOptions())
		mainStarted = true
		servingCA = signertest.NewCA(t, signertest.ECDSAP384, "nodetrust integration serving CA")
		createSecretSigner(t, "serving-ca", certificatesv1.KubeletServingSignerName, servingCA)
		waitSignerCondition(t, "serving-ca", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
	}
	return servingCA
}

var servingCA *signertest.CA

// stopMain stops the shared manager.
var stopMain = func() {}

// mainOptions are the shared manager's options.
func mainOptions() managerOptions {
	return managerOptions{pkcs11Module: softHSM.module, pkcs11Open: &mainPKCS11Open}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
}

func tlsSecret(name string, ca *signertest.CA) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM},
	}
}

// createSecretSigner stores ca in a Secret and creates a signer over it.
func createSecretSigner(t *testing.T, name, signerName string, ca *signertest.CA) {
	t.Helper()
	ctx := context.Background()
	if ca != nil {
		if err := env.Client.Create(ctx, tlsSecret(name, ca)); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Create(ctx, &v1alpha1.NodeCertificateSigner{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.NodeCertificateSignerSpec{SignerName: signerName, Secret: &v1alpha1.SecretSignerSource{Name: name}},
	}); err != nil {
		t.Fatal(err)
	}
}

// waitSignerCondition waits for the signer's Ready condition to have status
// and reason for its current generation, and returns the signer.
func waitSignerCondition(t *testing.T, name string, status metav1.ConditionStatus, reason string) *v1alpha1.NodeCertificateSigner {
	t.Helper()
	ncs := &v1alpha1.NodeCertificateSigner{}
	testenv.WaitFor(t, testenv.DefaultTimeout, "signer "+name+" Ready="+string(status)+" "+reason, func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, ncs); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		c := meta.FindStatusCondition(ncs.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == ncs.Generation, nil
	})
	return ncs
}

// waitIssued waits for the CSR's certificate and returns its certificates.
func waitIssued(t *testing.T, name string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+name+" to be issued", func(ctx context.Context) (bool, error) {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			return false, err
		}
		for _, c := range csr.Status.Conditions {
			if c.Type == certificatesv1.CertificateFailed {
				t.Fatalf("CSR %s failed: %s: %s", name, c.Reason, c.Message)
			}
		}
		if len(csr.Status.Certificate) == 0 {
			return false, nil
		}
		var err error
		if certs, err = signer.ParseCertificatesPEM(csr.Status.Certificate); err != nil {
			t.Fatalf("status.certificate does not parse: %v", err)
		}
		return true, nil
	})
	return certs
}

// bundle returns the pool of the signer's published CA bundle.
func bundle(t *testing.T, name string) (*x509.CertPool, int) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: signerNamespace, Name: name + "-ca-bundle"}, cm); err != nil {
		t.Fatalf("reading the CA bundle: %v", err)
	}
	certs, err := signer.ParseCertificatesPEM([]byte(cm.Data[wire.CABundleKey]))
	if err != nil {
		t.Fatalf("the CA bundle does not parse: %v", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, len(certs)
}

func verifyServing(t *testing.T, leaf *x509.Certificate, roots *x509.CertPool) {
	t.Helper()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the certificate does not verify against the CA bundle: %v", err)
	}
}
