package audit_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/audit"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// TestForgedApprovalIsReported records certificates the way the records
// loop does (wire.NewRecord) and audits them: an approval in nodetrust's
// words without its proof, or with the proof of another CSR, is reported as
// not approved by nodetrust; nodetrust's own approval is not.
func TestForgedApprovalIsReported(t *testing.T) {
	key, err := attest.NewKey(bytes.Repeat([]byte{1}, attest.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	prover, err := attest.NewProver(key)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := attest.NewVerifier(attest.Keys{Current: key})
	if err != nil {
		t.Fatal(err)
	}
	text := wire.ApprovedMessage(string(v1alpha1.KindClientRenewal), "n1", "default")
	ours := renewalCSR("csr-ours", "uid-ours")
	proven := wire.ProvenApprovedMessage(ours, text, "default", prover)

	tests := map[string]struct {
		csr     *certificatesv1.CertificateSigningRequest
		message string
		want    []string
	}{
		"nodetrust's approval with its proof is no anomaly": {
			csr: ours, message: proven, want: []string{}},
		"nodetrust's words without its proof are reported": {
			csr: renewalCSR("csr-words", "uid-words"), message: text, want: []string{"n1/Client/not-approved-by-nodetrust"}},
		"nodetrust's whole message copied from another CSR is reported": {
			csr: renewalCSR("csr-copied", "uid-copied"), message: proven, want: []string{"n1/Client/not-approved-by-nodetrust"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			csr := csrstate.WithCondition(tc.csr, certificatesv1.CertificateApproved, wire.ReasonAutoApproved, tc.message, now.Add(-day))
			r := wire.NewRecord(csr, leafFor(t, "n1"), verifier)
			report := audit.Analyze([]v1alpha1.NodeCertificate{*r, serving("s1", "n1", -day, 300*day)},
				[]corev1.Node{node("n1")}, now, audit.Options{})
			got := []string{}
			for _, a := range report.Anomalies {
				got = append(got, a.Node+"/"+string(a.CertificateKind)+"/"+string(a.Code))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("anomalies = %q, want %q", got, tc.want)
			}
		})
	}
}

func renewalCSR(name, uid string) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid), CreationTimestamp: metav1.NewTime(now.Add(-day))},
		Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Username: "system:node:n1", Groups: []string{csrstate.NodesGroup}},
	}
}

// leafFor is a client certificate of node, valid from a day before now for
// 300 days.
func leafFor(t *testing.T, node string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "system:node:" + node},
		NotBefore: now.Add(-day), NotAfter: now.Add(300 * day), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}
