package signers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// namespace is the signer namespace of these tests.
const namespace = "nodetrust-system"

// The writes the signers loop makes.
const (
	writeStatus       = "patch NodeCertificateSigner/status"
	writeBundle       = "create ConfigMap"
	writeBundleUpdate = "update ConfigMap"
)

// ready is what a test expects of a signer's Ready condition.
type ready struct {
	status          metav1.ConditionStatus
	reason, message string
}

// secretSigner returns the NodeCertificateSigner name over the Secret of
// the same name, signing signerName.
func secretSigner(name, signerName string) *v1alpha1.NodeCertificateSigner {
	return &v1alpha1.NodeCertificateSigner{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec:       v1alpha1.NodeCertificateSignerSpec{SignerName: signerName, Secret: &v1alpha1.SecretSignerSource{Name: name}},
	}
}

// tlsSecret returns the kubernetes.io/tls Secret name holding ca.
func tlsSecret(name string, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}
}

func TestReconcile(t *testing.T) {
	serving := certificatesv1.KubeletServingSignerName
	ca := fixtures.CA(t, "serving CA")
	secret := tlsSecret("serving-ca", ca.CertPEM, ca.KeyPEM)
	servingCA := secretSigner("serving-ca", serving)
	readyMessage := fmt.Sprintf("signing %s with CA %q", serving, ca.Cert.Subject)
	staleBundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: wire.CABundleName("serving-ca"),
			Labels:          map[string]string{wire.LabelManagedBy: wire.ManagedByValue},
			OwnerReferences: []metav1.OwnerReference{ownerReference(servingCA)}},
		Data: map[string]string{wire.CABundleKey: "an old CA"},
	}
	files := &v1alpha1.NodeCertificateSigner{
		ObjectMeta: metav1.ObjectMeta{Name: "serving-ca", UID: "uid-serving-ca", Generation: 1},
		Spec:       v1alpha1.NodeCertificateSignerSpec{Files: &v1alpha1.FilesSignerSource{CertFile: "/etc/ca.crt", KeyFile: "/etc/ca.key"}},
	}
	badTrust := secretSigner("serving-ca", serving)
	badTrust.Spec.AdditionalTrustedCAs = "not PEM"
	deleting := secretSigner("serving-ca", serving)
	deleting.DeletionTimestamp = &metav1.Time{Time: fixtures.Now}
	deleting.Finalizers = []string{"test/keep"}

	// withReady is a signer whose last look found it so.
	withReady := func(ncs *v1alpha1.NodeCertificateSigner, status metav1.ConditionStatus, reason string) *v1alpha1.NodeCertificateSigner {
		ncs.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, ObservedGeneration: ncs.Generation}}
		return ncs
	}
	signingRival := withReady(secretSigner("rival-ca", serving), metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
	conflictedRival := withReady(secretSigner("rival-ca", serving), metav1.ConditionFalse, v1alpha1.ReasonSignerNameConflict)
	brokenRival := withReady(secretSigner("rival-ca", serving), metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded)
	staleRival := withReady(secretSigner("rival-ca", serving), metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
	staleRival.Generation = 2
	conflictMessage := "NodeCertificateSigners rival-ca also sign kubernetes.io/kubelet-serving; none of them signs until only one is left"

	tests := map[string]struct {
		objects []client.Object
		fail    map[string]error

		want       reconcile.Result
		wantErr    fixtures.ErrorKind
		wantWrites []string
		wantReady  *ready // nil: no status written
		wantCA     bool   // status.ca, status.caBundle and the bundle ConfigMap hold the CA
		wantActive bool   // the registry signs serving with the signer
		wantEvents []string
	}{
		"a signer over a valid Secret is Ready and publishes its CA": {
			objects: []client.Object{servingCA, secret},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionTrue, v1alpha1.ReasonSignerReady, readyMessage}, wantCA: true, wantActive: true,
		},
		"an outdated CA bundle is replaced": {
			objects: []client.Object{servingCA, secret, staleBundle},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundleUpdate, writeStatus},
			wantReady: &ready{metav1.ConditionTrue, v1alpha1.ReasonSignerReady, readyMessage}, wantCA: true, wantActive: true,
		},
		"a missing Secret leaves the signer not ready": {
			objects: []client.Object{servingCA},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeStatus},
			wantReady: &ready{metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded,
				"the CA could not be loaded: reading Secret nodetrust-system/serving-ca: secret not found"},
		},
		"a Secret whose key is not the CA's leaves the signer not ready": {
			objects: []client.Object{servingCA, tlsSecret("serving-ca", ca.CertPEM, fixtures.CA(t, "other").KeyPEM)},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeStatus},
			wantReady: &ready{metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded,
				`the CA could not be loaded: secret nodetrust-system/serving-ca: the private key does not match CA certificate "CN=serving CA,O=nodetrust test"`},
		},
		"a backend the manager was not started with is unavailable": {
			objects: []client.Object{files},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeStatus},
			wantReady: &ready{metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable,
				"backend not enabled in this manager: the files backend needs the manager's --signer-files-dir"},
		},
		"additionalTrustedCAs that do not parse make the spec invalid": {
			objects: []client.Object{badTrust, secret},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeStatus},
			wantReady: &ready{metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, "additionalTrustedCAs: data after the last PEM block is not PEM"},
		},
		"two signers of one signer name both stand down": {
			objects: []client.Object{servingCA, secret, signingRival},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionFalse, v1alpha1.ReasonSignerNameConflict, conflictMessage},
			wantCA:    true, wantEvents: []string{"Warning SignerNameConflict " + conflictMessage},
		},
		"a rival held back only by the conflict still conflicts": {
			objects: []client.Object{servingCA, secret, conflictedRival},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionFalse, v1alpha1.ReasonSignerNameConflict, conflictMessage},
			wantCA:    true, wantEvents: []string{"Warning SignerNameConflict " + conflictMessage},
		},
		"a rival that cannot sign does not stop one that can": {
			objects: []client.Object{servingCA, secret, brokenRival},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionTrue, v1alpha1.ReasonSignerReady, readyMessage}, wantCA: true, wantActive: true,
		},
		"a rival not yet looked at is no rival yet": {
			objects: []client.Object{servingCA, secret, secretSigner("rival-ca", serving)},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionTrue, v1alpha1.ReasonSignerReady, readyMessage}, wantCA: true, wantActive: true,
		},
		"a rival whose new generation was not looked at is no rival yet": {
			objects: []client.Object{servingCA, secret, staleRival},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionTrue, v1alpha1.ReasonSignerReady, readyMessage}, wantCA: true, wantActive: true,
		},
		"a signer of the other signer name is no rival": {
			objects: []client.Object{servingCA, secret, secretSigner("client-ca", certificatesv1.KubeAPIServerClientKubeletSignerName)},
			want:    reconcile.Result{RequeueAfter: recheckInterval}, wantWrites: []string{writeBundle, writeStatus},
			wantReady: &ready{metav1.ConditionTrue, v1alpha1.ReasonSignerReady, readyMessage}, wantCA: true, wantActive: true,
		},
		"a conflict on the status requeues": {
			objects: []client.Object{servingCA, secret}, fail: map[string]error{writeStatus: fixtures.ErrConflict},
			want: reconcile.Result{RequeueAfter: writes.ConflictRetryDelay}, wantWrites: []string{writeBundle, writeStatus},
			wantActive: true,
		},
		"a failed status write returns the error": {
			objects: []client.Object{servingCA, secret}, fail: map[string]error{writeStatus: fixtures.ErrServer},
			wantErr: fixtures.Retried, wantWrites: []string{writeBundle, writeStatus},
			wantActive: true,
		},
		"a failed bundle write returns the error before the status is written": {
			objects: []client.Object{servingCA, secret}, fail: map[string]error{writeBundle: fixtures.ErrServer},
			wantErr: fixtures.Retried, wantWrites: []string{writeBundle},
		},
		"a signer being deleted leaves the registry": {
			objects: []client.Object{deleting, secret},
		},
		"a deleted signer leaves the registry": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := &fixtures.Writes{Fail: tc.fail}
			c := fixtures.NewClient(w, tc.objects...)
			reg := registry.New()
			// A backend left from before, which the reconcile must replace or remove.
			fixtures.ReadySigner(t, reg, "serving-ca", serving, fixtures.KeyPair(t, fixtures.CA(t, "old")), time.Hour)
			r := newReconciler(c, reg)
			rec := events.NewFakeRecorder(10)
			r.Recorder = rec

			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "serving-ca"}})
			fixtures.CheckResult(t, res, err, tc.want, tc.wantErr)
			fixtures.CheckWrites(t, w, tc.wantWrites...)
			fixtures.CheckEvents(t, rec, tc.wantEvents...)
			if active, ok := reg.Active(serving); ok != tc.wantActive || (ok && active.Name != "serving-ca") {
				t.Errorf("active serving signer = %+v, %v; want serving-ca: %v", active, ok, tc.wantActive)
			}
			got := &v1alpha1.NodeCertificateSigner{}
			if err := c.Get(context.Background(), types.NamespacedName{Name: "serving-ca"}, got); client.IgnoreNotFound(err) != nil {
				t.Fatal(err)
			}
			checkReady(t, got, tc.wantReady)
			if tc.wantCA {
				checkCA(t, c, got, ca.Cert)
			}
		})
	}
}

// TestUnchangedSignerIsNotWrittenAgain reconciles a ready signer twice: the
// second time its status and bundle are as they should be and nothing is
// written.
func TestUnchangedSignerIsNotWrittenAgain(t *testing.T) {
	ca := fixtures.CA(t, "serving CA")
	w := &fixtures.Writes{}
	c := fixtures.NewClient(w, secretSigner("serving-ca", certificatesv1.KubeletServingSignerName), tlsSecret("serving-ca", ca.CertPEM, ca.KeyPEM))
	r := newReconciler(c, registry.New())
	for range 2 {
		res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "serving-ca"}})
		fixtures.CheckResult(t, res, err, reconcile.Result{RequeueAfter: recheckInterval}, fixtures.NoError)
	}
	fixtures.CheckWrites(t, w, writeBundle, writeStatus)
}

func newReconciler(c client.Client, reg *registry.Registry) *Reconciler {
	return &Reconciler{Client: c, Clock: fixtures.Clock(), Registry: reg, Namespace: namespace,
		Backends: map[BackendKind]BackendFactory{BackendSecret: &SecretBackend{Reader: c, Namespace: namespace, Clock: fixtures.Clock()}}}
}

// checkReady checks got's Ready condition, for its generation and set at
// the fake clock's time, or that got has none when want is nil.
func checkReady(t *testing.T, got *v1alpha1.NodeCertificateSigner, want *ready) {
	t.Helper()
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	switch {
	case want == nil && c != nil:
		t.Errorf("Ready = %+v, want no status written", *c)
	case want == nil:
	case c == nil:
		t.Error("no Ready condition")
	case c.Status != want.status || c.Reason != want.reason || c.Message != want.message || c.ObservedGeneration != got.Generation ||
		!c.LastTransitionTime.Time.Equal(fixtures.Now):
		t.Errorf("Ready = %+v, want %s %s %q", *c, want.status, want.reason, want.message)
	}
}

// checkCA checks that got's status describes ca and that its bundle
// ConfigMap, owned by got, holds ca alone.
func checkCA(t *testing.T, c client.Reader, got *v1alpha1.NodeCertificateSigner, ca *x509.Certificate) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: wire.CABundleName(got.Name)}, cm); err != nil {
		t.Fatalf("reading the CA bundle: %v", err)
	}
	certs, err := signer.ParseCertificatesPEM([]byte(cm.Data[wire.CABundleKey]))
	switch {
	case err != nil || len(certs) != 1 || !certs[0].Equal(ca):
		t.Errorf("the bundle holds %d certificates (%v), want the CA alone", len(certs), err)
	case cm.Labels[wire.LabelManagedBy] != wire.ManagedByValue || cm.Labels[wire.LabelSigner] != got.Name:
		t.Errorf("bundle labels = %v", cm.Labels)
	case !metav1.IsControlledBy(cm, got):
		t.Errorf("bundle owners = %+v, want the signer", cm.OwnerReferences)
	}
	want := &v1alpha1.CABundleStatus{Namespace: namespace, Name: wire.CABundleName(got.Name), Certificates: 1}
	switch s := got.Status; {
	case s.CA == nil || s.CA.SHA256Fingerprint != signer.Fingerprint(ca):
		t.Errorf("status.ca = %+v, want the CA", s.CA)
	case s.CABundle == nil || *s.CABundle != *want:
		t.Errorf("status.caBundle = %+v, want %+v", s.CABundle, *want)
	}
}

func TestReadiness(t *testing.T) {
	ca := fixtures.CA(t, "serving CA")
	const serving = certificatesv1.KubeletServingSignerName
	tests := map[string]struct {
		o           observation
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
	}{
		"a signer whose CA loads and checks, alone for its signer name, is ready": {
			o:          observation{signerName: serving, ca: ca.Cert},
			wantStatus: metav1.ConditionTrue, wantReason: v1alpha1.ReasonSignerReady,
			wantMessage: `signing kubernetes.io/kubelet-serving with CA "CN=serving CA,O=nodetrust test"`,
		},
		"a backend the manager lacks is unavailable": {
			o:          observation{signerName: serving, buildErr: fmt.Errorf("%w: needs --pkcs11-module", ErrBackendUnavailable)},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonBackendUnavailable,
			wantMessage: "backend not enabled in this manager: needs --pkcs11-module",
		},
		"a spec that cannot work is invalid": {
			o:          observation{signerName: serving, buildErr: fmt.Errorf("%w: keyID is not hex", errInvalidSpec)},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonInvalidSpec, wantMessage: "invalid signer spec: keyID is not hex",
		},
		"a backend that fails to open has not loaded its CA, on one line": {
			o:          observation{signerName: serving, buildErr: errors.New("opening the token:\nCKR_PIN_INCORRECT")},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonCANotLoaded,
			wantMessage: "the signer backend could not be opened: opening the token:; CKR_PIN_INCORRECT",
		},
		"additionalTrustedCAs that do not parse are an invalid spec": {
			o:          observation{signerName: serving, trustErr: errors.New("no certificate found")},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonInvalidSpec, wantMessage: "additionalTrustedCAs: no certificate found",
		},
		"a CA that does not load is not loaded": {
			o:          observation{signerName: serving, caErr: errors.New("secret not found")},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonCANotLoaded, wantMessage: "the CA could not be loaded: secret not found",
		},
		"a CA that loads but cannot sign is not loaded": {
			o:          observation{signerName: serving, ca: ca.Cert, checkErr: errors.New("CA certificate expired")},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonCANotLoaded, wantMessage: "the CA cannot sign: CA certificate expired",
		},
		"rivals for the signer name make every one of them stand down": {
			o:          observation{signerName: serving, ca: ca.Cert, rivals: []string{"a", "b"}},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonSignerNameConflict,
			wantMessage: "NodeCertificateSigners a, b also sign kubernetes.io/kubelet-serving; none of them signs until only one is left",
		},
		"the first failure observed decides": {
			o:          observation{signerName: serving, buildErr: errors.New("token gone"), caErr: errors.New("unused"), rivals: []string{"a"}},
			wantStatus: metav1.ConditionFalse, wantReason: v1alpha1.ReasonCANotLoaded,
			wantMessage: "the signer backend could not be opened: token gone",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, reason, message := readiness(tc.o)
			if status != tc.wantStatus || reason != tc.wantReason || message != tc.wantMessage {
				t.Errorf("readiness() = %s, %s, %q; want %s, %s, %q", status, reason, message, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
		})
	}
}

// TestCAAboutToExpireIsCheckedRightAfterItExpires checks that a signer
// whose CA expires within the recheck interval is looked at again just
// after the expiry, not a minute later.
func TestCAAboutToExpireIsCheckedRightAfterItExpires(t *testing.T) {
	ca := fixtures.CA(t, "serving CA")
	c := fixtures.NewClient(&fixtures.Writes{}, secretSigner("serving-ca", certificatesv1.KubeletServingSignerName),
		tlsSecret("serving-ca", ca.CertPEM, ca.KeyPEM))
	r := newReconciler(c, registry.New())
	clk := fixtures.Clock()
	clk.SetTime(ca.Cert.NotAfter.Add(-30 * time.Second))
	r.Clock, r.Backends[BackendSecret].(*SecretBackend).Clock = clk, clk
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "serving-ca"}})
	fixtures.CheckResult(t, res, err, reconcile.Result{RequeueAfter: 31 * time.Second}, fixtures.NoError)
}

// TestWatchesRequeueTheSignersConcerned checks the map functions that turn
// a change of a Secret or of another signer into the signers it concerns.
func TestWatchesRequeueTheSignersConcerned(t *testing.T) {
	hsm := &v1alpha1.NodeCertificateSigner{ObjectMeta: metav1.ObjectMeta{Name: "hsm"}, Spec: v1alpha1.NodeCertificateSignerSpec{
		PKCS11: &v1alpha1.PKCS11SignerSource{PIN: v1alpha1.PINSource{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: "hsm-pin", Key: "pin"}}}}}
	c := fixtures.NewClient(&fixtures.Writes{}, secretSigner("serving-ca", certificatesv1.KubeletServingSignerName), hsm)
	r := newReconciler(c, registry.New())
	ctx := context.Background()
	secretNamed := func(name string) client.Object {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	}
	tests := map[string]struct {
		got  []reconcile.Request
		want []string
	}{
		"a CA Secret requeues the signer over it":   {got: r.signersForSecret(ctx, secretNamed("serving-ca")), want: []string{"serving-ca"}},
		"a PIN Secret requeues the signer using it": {got: r.signersForSecret(ctx, secretNamed("hsm-pin")), want: []string{"hsm"}},
		"an unrelated Secret requeues nothing":      {got: r.signersForSecret(ctx, secretNamed("other"))},
		"a signer requeues every signer":            {got: r.allSigners(ctx, hsm), want: []string{"hsm", "serving-ca"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := fixtures.Names(tc.got); !slices.Equal(got, tc.want) {
				t.Errorf("requeued %q, want %q", got, tc.want)
			}
		})
	}
}
