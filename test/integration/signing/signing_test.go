package signing_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

var servingUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}

func servingCSR(name, node string) testenv.CSR {
	return testenv.CSR{Name: name, SignerName: certificatesv1.KubeletServingSignerName, CommonName: csrstate.NodeUserPrefix + node,
		Orgs: []string{csrstate.NodesGroup}, DNSNames: []string{node}, Usages: servingUsages}
}

// createServingCSR creates node's Node, when missing, and a serving CSR for
// its name: the signer signs only SANs the Node owns.
func createServingCSR(t *testing.T, name, node string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if err := env.Client.Create(context.Background(), n); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	env.CreateCSR(t, servingCSR(name, node), csrstate.NodeUserPrefix+node, csrstate.NodesGroup)
}

// waitFailed waits for the CSR's Failed condition and returns it.
func waitFailed(t *testing.T, name string) certificatesv1.CertificateSigningRequestCondition {
	t.Helper()
	var failed certificatesv1.CertificateSigningRequestCondition
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+name+" to fail", func(ctx context.Context) (bool, error) {
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			return false, err
		}
		if len(csr.Status.Certificate) > 0 {
			t.Fatalf("CSR %s was issued, want Failed", name)
		}
		for _, c := range csr.Status.Conditions {
			if c.Type == certificatesv1.CertificateFailed {
				failed = c
				return true, nil
			}
		}
		return false, nil
	})
	return failed
}

func TestHumanApprovedCSRIsSigned(t *testing.T) {
	ca := startMain(t)
	createServingCSR(t, "human-approved", "worker-h")
	env.ApproveCSR(t, "human-approved")
	certs := waitIssued(t, "human-approved")
	if err := certs[0].CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal("the certificate is not signed by the serving CA")
	}
	roots, _ := bundle(t, "serving-ca")
	verifyServing(t, certs[0], roots)
	if certs[0].Subject.CommonName != "system:node:worker-h" || certs[0].DNSNames[0] != "worker-h" {
		t.Fatalf("subject %s, SANs %v", certs[0].Subject, certs[0].DNSNames)
	}
}

func TestApprovedCSRThatBreaksTheSignerRulesFails(t *testing.T) {
	startMain(t)
	tests := map[string]struct {
		spec      testenv.CSR
		requester string
		groups    []string
		message   string
	}{
		"a serving request that also asks for client auth": {
			spec: func() testenv.CSR {
				s := servingCSR("bad-usages", "worker-u")
				s.Usages = append(s.Usages, certificatesv1.UsageClientAuth)
				return s
			}(),
			requester: "system:node:worker-u", groups: []string{csrstate.NodesGroup}, message: "usages",
		},
		"a serving request whose common name is another node's": {
			spec:      func() testenv.CSR { s := servingCSR("other-cn", "worker-x"); return s }(),
			requester: "system:node:worker-y", groups: []string{csrstate.NodesGroup}, message: "does not match the requester",
		},
		"a serving request from a user who is not a node": {
			spec:      servingCSR("not-a-node", "worker-n"),
			requester: "alice", message: "neither a node nor a bootstrap token user",
		},
		"a serving request claiming the API server's name": {
			spec: func() testenv.CSR {
				s := servingCSR("apiserver-name", "worker-k")
				s.DNSNames = []string{"kubernetes.default.svc"}
				return s
			}(),
			requester: "system:node:worker-k", groups: []string{csrstate.NodesGroup}, message: "Kubernetes API server",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env.CreateCSR(t, tc.spec, tc.requester, tc.groups...)
			env.ApproveCSR(t, tc.spec.Name)
			failed := waitFailed(t, tc.spec.Name)
			if failed.Reason != wire.ReasonSignerValidationFailure || !strings.Contains(failed.Message, tc.message) {
				t.Fatalf("Failed %s: %q, want %s mentioning %q", failed.Reason, failed.Message, wire.ReasonSignerValidationFailure, tc.message)
			}
			expectEvent(t, tc.spec.Name, wire.EventSigningFailed)
		})
	}
}

// TestRacingSignersIssueEachCSROnce runs a second signing manager beside the
// shared one, both acting on every CSR, and checks that each CSR gets one
// certificate that never changes; then a restarted manager signs nothing.
func TestRacingSignersIssueEachCSROnce(t *testing.T) {
	ca := startMain(t)
	var secondSigns atomic.Int64
	stopSecond := startSigningManager(t, &secondSigns)
	defer stopSecond()

	const n = 30
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("race-%02d", i)
	}
	seen := watchCertificates(t, names)
	before := mainSigns.Load()
	for _, name := range names {
		createServingCSR(t, name, "worker-"+name)
	}
	for _, name := range names {
		env.ApproveCSR(t, name)
	}
	for _, name := range names {
		if err := waitIssued(t, name)[0].CheckSignatureFrom(ca.Cert); err != nil {
			t.Fatalf("CSR %s: %v", name, err)
		}
	}
	time.Sleep(2 * time.Second) // let any late writer try
	for _, name := range names {
		if got := seen.distinct(name); got != 1 {
			t.Errorf("CSR %s carried %d different certificates, want 1", name, got)
		}
	}
	signatures := mainSigns.Load() - before + secondSigns.Load()
	t.Logf("%d CSRs, %d signatures by two racing managers (%d by the second); %d lost the race and were discarded",
		n, signatures, secondSigns.Load(), signatures-n)
	if signatures < n {
		t.Fatalf("%d signatures for %d certificates", signatures, n)
	}

	stopSecond()
	var restartedSigns atomic.Int64
	stopRestarted := startSigningManager(t, &restartedSigns)
	defer stopRestarted()
	time.Sleep(2 * time.Second)
	if got := restartedSigns.Load(); got != 0 {
		t.Fatalf("a restarted manager signed %d certificates for CSRs already issued", got)
	}
}

// certificateLog records every distinct certificate each watched CSR carried.
type certificateLog struct {
	mu   sync.Mutex
	seen map[string]map[string]bool
}

func (l *certificateLog) distinct(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen[name])
}

func watchCertificates(t *testing.T, names []string) *certificateLog {
	t.Helper()
	log := &certificateLog{seen: map[string]map[string]bool{}}
	for _, n := range names {
		log.seen[n] = map[string]bool{}
	}
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(context.Background(), &certificatesv1.CertificateSigningRequestList{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
			if !ok || ev.Type == watch.Deleted || len(csr.Status.Certificate) == 0 {
				continue
			}
			log.mu.Lock()
			if set, ok := log.seen[csr.Name]; ok {
				set[string(csr.Status.Certificate)] = true
			}
			log.mu.Unlock()
		}
	}()
	return log
}

func TestSecretCARotationIsPickedUpLive(t *testing.T) {
	startMain(t)
	ctx := context.Background()
	oldCA := signertest.NewCA(t, signertest.ECDSAP256, "rotation CA 1")
	newCA := signertest.NewCA(t, signertest.ECDSAP256, "rotation CA 2")
	// A signer of its own, for the client signer name, so that the shared
	// serving signer is left alone.
	createSecretSigner(t, "rotating-ca", certificatesv1.KubeAPIServerClientKubeletSignerName, oldCA)
	ncs := waitSignerCondition(t, "rotating-ca", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
	if ncs.Status.CA.SHA256Fingerprint != signer.Fingerprint(oldCA.Cert) {
		t.Fatalf("status.ca fingerprint %s, want the first CA's", ncs.Status.CA.SHA256Fingerprint)
	}
	env.CreateCSR(t, clientCSR("rotation-before", "worker-r"), "system:node:worker-r", csrstate.NodesGroup)
	env.ApproveCSR(t, "rotation-before")
	before := waitIssued(t, "rotation-before")[0]
	if err := before.CheckSignatureFrom(oldCA.Cert); err != nil {
		t.Fatal(err)
	}

	// Rotate: the new CA signs, the old one stays trusted through ca.crt.
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: signerNamespace, Name: "rotating-ca"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{corev1.TLSCertKey: newCA.CertPEM, corev1.TLSPrivateKeyKey: newCA.KeyPEM, "ca.crt": oldCA.CertPEM}
	if err := env.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "status.ca to show the new CA", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "rotating-ca"}, ncs); err != nil {
			return false, err
		}
		return ncs.Status.CA != nil && ncs.Status.CA.SHA256Fingerprint == signer.Fingerprint(newCA.Cert), nil
	})
	roots, count := bundle(t, "rotating-ca")
	if count != 2 {
		t.Fatalf("the bundle holds %d CAs during the rotation, want the new and the old", count)
	}
	env.CreateCSR(t, clientCSR("rotation-after", "worker-r"), "system:node:worker-r", csrstate.NodesGroup)
	env.ApproveCSR(t, "rotation-after")
	after := waitIssued(t, "rotation-after")[0]
	if err := after.CheckSignatureFrom(newCA.Cert); err != nil {
		t.Fatalf("the certificate issued after the rotation is not the new CA's: %v", err)
	}
	for _, c := range []*x509.Certificate{before, after} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("certificate %s does not verify against the rotation bundle: %v", c.SerialNumber.Text(16), err)
		}
	}
	if err := env.Client.Delete(ctx, ncs); err != nil {
		t.Fatal(err)
	}
}

func clientCSR(name, node string) testenv.CSR {
	return testenv.CSR{Name: name, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, CommonName: csrstate.NodeUserPrefix + node,
		Orgs: []string{csrstate.NodesGroup}, Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}}
}

func TestSignerStatusReportsWhatIsWrong(t *testing.T) {
	startMain(t)
	ctx := context.Background()
	expired := signertest.NewCA(t, signertest.ECDSAP256, "expired")
	t.Run("a missing Secret leaves the signer not ready", func(t *testing.T) {
		createSecretSigner(t, "no-secret", certificatesv1.KubeAPIServerClientKubeletSignerName, nil)
		ncs := waitSignerCondition(t, "no-secret", metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded)
		deleteSigner(ctx, t, ncs)
	})
	t.Run("a backend the manager was not started with is unavailable", func(t *testing.T) {
		ncs := &v1alpha1.NodeCertificateSigner{ObjectMeta: metav1.ObjectMeta{Name: "files-off"},
			Spec: v1alpha1.NodeCertificateSignerSpec{SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
				Files: &v1alpha1.FilesSignerSource{CertFile: "/etc/ca.crt", KeyFile: "/etc/ca.key"}}}
		if err := env.Client.Create(ctx, ncs); err != nil {
			t.Fatal(err)
		}
		waitSignerCondition(t, "files-off", metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
		deleteSigner(ctx, t, ncs)
	})
	t.Run("garbage in additionalTrustedCAs is an invalid spec", func(t *testing.T) {
		ca := signertest.NewCA(t, signertest.ECDSAP256, "garbage trust")
		createSecretSigner(t, "bad-trust", certificatesv1.KubeAPIServerClientKubeletSignerName, ca)
		ncs := waitSignerCondition(t, "bad-trust", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
		ncs.Spec.AdditionalTrustedCAs = "not a certificate"
		if err := env.Client.Update(ctx, ncs); err != nil {
			t.Fatal(err)
		}
		waitSignerCondition(t, "bad-trust", metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec)
		deleteSigner(ctx, t, ncs)
	})
	t.Run("two signers for one signer name both stand down until one is gone", func(t *testing.T) {
		createSecretSigner(t, "twin-a", certificatesv1.KubeAPIServerClientKubeletSignerName, signertest.NewCA(t, signertest.ECDSAP256, "twin a"))
		waitSignerCondition(t, "twin-a", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
		createSecretSigner(t, "twin-b", certificatesv1.KubeAPIServerClientKubeletSignerName, signertest.NewCA(t, signertest.ECDSAP256, "twin b"))
		waitSignerCondition(t, "twin-b", metav1.ConditionFalse, v1alpha1.ReasonSignerNameConflict)
		a := waitSignerCondition(t, "twin-a", metav1.ConditionFalse, v1alpha1.ReasonSignerNameConflict)
		deleteSigner(ctx, t, a)
		b := waitSignerCondition(t, "twin-b", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
		deleteSigner(ctx, t, b)
	})
	t.Run("a twin that cannot sign does not stop the signer that can", func(t *testing.T) {
		createSecretSigner(t, "solo", certificatesv1.KubeAPIServerClientKubeletSignerName, signertest.NewCA(t, signertest.ECDSAP256, "solo"))
		solo := waitSignerCondition(t, "solo", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
		createSecretSigner(t, "broken-twin", certificatesv1.KubeAPIServerClientKubeletSignerName, nil) // its Secret is missing
		broken := waitSignerCondition(t, "broken-twin", metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded)
		// solo looks again when its twin's status changes; it stays Ready.
		time.Sleep(2 * time.Second)
		waitSignerCondition(t, "solo", metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
		deleteSigner(ctx, t, broken)
		deleteSigner(ctx, t, solo)
	})
	t.Run("an expired CA is not ready", func(t *testing.T) {
		c := *expired
		c.Cert = expiredCopy(t, expired)
		c.CertPEM = signer.EncodeCertificates([]*x509.Certificate{c.Cert})
		createSecretSigner(t, "expired-ca", certificatesv1.KubeAPIServerClientKubeletSignerName, &c)
		ncs := waitSignerCondition(t, "expired-ca", metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded)
		if ncs.Status.CA == nil || !ncs.Status.CA.NotAfter.Time.Before(time.Now()) {
			t.Fatalf("status.ca = %+v, want the expired CA's details", ncs.Status.CA)
		}
		deleteSigner(ctx, t, ncs)
	})
}

func deleteSigner(ctx context.Context, t *testing.T, ncs *v1alpha1.NodeCertificateSigner) {
	t.Helper()
	if err := env.Client.Delete(ctx, ncs); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
}

// expiredCopy re-issues ca's certificate, self-signed with its key, with a
// validity that ended an hour ago.
func expiredCopy(t *testing.T, ca *signertest.CA) *x509.Certificate {
	t.Helper()
	tmpl := *ca.Cert
	tmpl.NotBefore = time.Now().Add(-48 * time.Hour)
	tmpl.NotAfter = time.Now().Add(-time.Hour)
	der, err := x509.CreateCertificate(nil, &tmpl, &tmpl, ca.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func expectEvent(t *testing.T, csrName, reason string) {
	t.Helper()
	testenv.WaitFor(t, testenv.DefaultTimeout, reason+" Event on "+csrName, func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := env.Client.List(ctx, &list); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == csrName && e.Reason == reason {
				return true, nil
			}
		}
		return false, nil
	})
}

// TestARestartedManagerSignsWhatWasApprovedWhileItWasDown restarts the
// shared manager around an approval. Its signer already says Ready, so no
// status change announces it: the new manager must still sign.
func TestARestartedManagerSignsWhatWasApprovedWhileItWasDown(t *testing.T) {
	ca := startMain(t)
	stopMain()
	createServingCSR(t, "while-down", "worker-d")
	env.ApproveCSR(t, "while-down")
	stopMain = startSigningManagerWith(t, &mainSigns, mainOptions())
	if err := waitIssued(t, "while-down")[0].CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
}
