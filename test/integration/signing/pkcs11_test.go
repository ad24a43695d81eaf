//go:build cgo

package signing_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ThalesGroup/crypto11"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// hsmKeys numbers the CA keys imported into the token, so that every run of
// the test (-count) has a label of its own.
var hsmKeys atomic.Uint32

// importHSMCA imports ca's key with softhsm2-util and its certificate
// through a short-lived crypto11 context, as an operator's tools would, and
// returns the label both carry.
func importHSMCA(t *testing.T, module string, ca *signertest.CA) string {
	t.Helper()
	n := hsmKeys.Add(1)
	label := fmt.Sprintf("nodetrust-it-ca-%d", n)
	id := []byte{0x4e, 0x49, byte(n >> 8), byte(n)}
	importKey(t, label, id, ca.KeyPEM)
	// The context is closed before the signer is created: PKCS#11 does not
	// check the PIN of a token the process is logged in to, so an open one
	// would let the wrong PIN below pass.
	ctx, err := crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: hsmToken, Pin: hsmUserPIN})
	if err != nil {
		t.Fatalf("opening token %s: %v", hsmToken, err)
	}
	defer func() {
		if err := ctx.Close(); err != nil {
			t.Fatalf("closing token %s: %v", hsmToken, err)
		}
	}()
	if err := ctx.ImportCertificateWithLabel(id, []byte(label), ca.Cert); err != nil {
		t.Fatalf("importing the CA certificate: %v", err)
	}
	return label
}

// TestPKCS11SignerSignsWithTheKeyInTheHSM runs a NodeCertificateSigner whose
// CA key is in a SoftHSM2 token through the real controllers: a wrong PIN
// leaves it not ready, the right one makes it ready with the token's CA, and
// it then signs a kubelet client certificate that chains to that CA and to
// the published bundle. Deleting it closes its session with the token.
func TestPKCS11SignerSignsWithTheKeyInTheHSM(t *testing.T) {
	testenv.Require(t, env)
	module := needSoftHSM(t)
	startMain(t)
	ctx := context.Background()
	const (
		name     = "hsm-ca"
		pinKey   = "pin"
		wrongPIN = "not-the-pin-1234"
	)

	ca := signertest.NewCA(t, signertest.ECDSAP256, "nodetrust integration HSM CA")
	keyLabel := importHSMCA(t, module, ca)

	pinSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: name + "-pin"},
		Data:       map[string][]byte{pinKey: []byte(wrongPIN)},
	}
	if err := env.Client.Create(ctx, pinSecret); err != nil {
		t.Fatal(err)
	}
	ncs := &v1alpha1.NodeCertificateSigner{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeCertificateSignerSpec{
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			PKCS11: &v1alpha1.PKCS11SignerSource{
				TokenLabel: hsmToken,
				KeyLabel:   keyLabel,
				PIN:        v1alpha1.PINSource{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: pinSecret.Name, Key: pinKey}},
			},
		},
	}
	if err := env.Client.Create(ctx, ncs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanUpHSMSigner(t, ncs, pinSecret) })

	// The wrong PIN: not ready, and the condition says why without the PIN.
	got := waitSignerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message
	if !strings.Contains(msg, "PIN") || strings.Contains(msg, wrongPIN) || strings.Contains(msg, hsmUserPIN) {
		t.Fatalf("Ready message %q should blame the PIN without quoting a PIN", msg)
	}
	if got.Status.CA != nil {
		t.Fatalf("status.ca = %+v while the token is not open", got.Status.CA)
	}

	// The right PIN, with the trailing newline a PIN file in a Secret has.
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pinSecret), pinSecret); err != nil {
		t.Fatal(err)
	}
	pinSecret.Data[pinKey] = []byte(hsmUserPIN + "\n")
	if err := env.Client.Update(ctx, pinSecret); err != nil {
		t.Fatal(err)
	}
	got = waitSignerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
	if got.Status.CA == nil || got.Status.CA.SHA256Fingerprint != signer.Fingerprint(ca.Cert) {
		t.Fatalf("status.ca = %+v, want the fingerprint %s of the CA in the token", got.Status.CA, signer.Fingerprint(ca.Cert))
	}
	if n := mainPKCS11Open.Load(); n != 1 {
		t.Fatalf("%d pkcs11 signers open, want 1", n)
	}

	// A CSR name of its own for every run of the test (-count).
	csrName := "hsm-client-" + keyLabel
	env.CreateCSR(t, clientCSR(csrName, "worker-hsm"), csrstate.NodeUserPrefix+"worker-hsm", csrstate.NodesGroup)
	env.ApproveCSR(t, csrName)
	certs := waitIssued(t, csrName)
	leaf := certs[0]
	if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("the certificate is not signed by the CA in the token: %v", err)
	}
	if leaf.Subject.CommonName != csrstate.NodeUserPrefix+"worker-hsm" {
		t.Fatalf("subject %s", leaf.Subject)
	}
	roots, count := bundle(t, name)
	if count != 1 {
		t.Fatalf("the CA bundle holds %d certificates, want the token's CA only", count)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the certificate does not verify against the CA bundle: %v", err)
	}

	// A wrong PIN put in the Secret later is checked too: the signer is
	// rebuilt (after the old one logged out) and stands down, rather than
	// riding on the old login until the next HSM restart.
	setPIN := func(pin string) {
		t.Helper()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pinSecret), pinSecret); err != nil {
			t.Fatal(err)
		}
		pinSecret.Data[pinKey] = []byte(pin)
		if err := env.Client.Update(ctx, pinSecret); err != nil {
			t.Fatal(err)
		}
	}
	setPIN(wrongPIN)
	waitSignerCondition(t, name, metav1.ConditionFalse, v1alpha1.ReasonCANotLoaded)
	setPIN(hsmUserPIN)
	waitSignerCondition(t, name, metav1.ConditionTrue, v1alpha1.ReasonSignerReady)
}

// cleanUpHSMSigner deletes the signer, waits for the manager to close its
// session with the token (so that a later run of the test starts logged out),
// and deletes the PIN Secret and the CA bundle.
func cleanUpHSMSigner(t *testing.T, ncs *v1alpha1.NodeCertificateSigner, pinSecret *corev1.Secret) {
	t.Helper()
	ctx := context.Background()
	deleteSigner(ctx, t, ncs)
	testenv.WaitFor(t, testenv.DefaultTimeout, "the manager to close the pkcs11 signer", func(context.Context) (bool, error) {
		return mainPKCS11Open.Load() == 0, nil
	})
	if err := env.Client.Delete(ctx, pinSecret); client.IgnoreNotFound(err) != nil {
		t.Error(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: ncs.Name + "-ca-bundle"}}
	if err := env.Client.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
		t.Error(err)
	}
}
