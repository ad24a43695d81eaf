package controllers_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func TestRecordOfACertificateNodetrustApprovedAndAnotherSignerIssued(t *testing.T) {
	startManager(t)
	createNode(t, "renewing-1", nil, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.21.0.1"})
	csr := createCSR(t, clientCSR("renewal-external", "system:node:renewing-1"), "system:node:renewing-1", csrstate.NodesGroup)
	waitForCondition(t, csr.Name, certificatesv1.CertificateApproved)
	leaf := signExternally(t, csr.Name)
	record := waitForRecord(t, v1alpha1.CertificateClient, leaf)
	if a, i := record.Spec.Approval, record.Spec.Issuance; a.By != v1alpha1.ActorNodetrust || a.Policy != "default" || i.By != v1alpha1.ActorExternal {
		t.Fatalf("approval %+v issuance %+v, want nodetrust's default policy and an external signer", a, i)
	}
}

func TestRecordOfACertificateApprovedAndSignedOutsideNodetrust(t *testing.T) {
	startManager(t)
	// The requester is no kubelet, so nodetrust leaves the CSR alone.
	spec := clientCSR("outside", "system:node:outside-1")
	createCSR(t, spec, "alice")
	env.ApproveCSR(t, spec.name)
	leaf := signExternally(t, spec.name)
	record := waitForRecord(t, v1alpha1.CertificateClient, leaf)
	if a, i := record.Spec.Approval, record.Spec.Issuance; a.By != v1alpha1.ActorExternal || a.Policy != "" || i.By != v1alpha1.ActorExternal || i.Signer != "" {
		t.Fatalf("approval %+v issuance %+v, want both external", a, i)
	}
	if record.Spec.Approval.Reason != "KubectlApprove" {
		t.Errorf("approval reason %q, want the approver's", record.Spec.Approval.Reason)
	}
}

func TestRecordsAreDeletedARetentionAfterExpiry(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	now := time.Now()
	records := map[string]time.Time{
		"client-gc-long-expired":    now.Add(-recordRetention - time.Hour),
		"client-gc-just-expired":    now.Add(-recordRetention / 2),
		"client-gc-not-yet-expired": now.Add(24 * time.Hour),
	}
	for name, notAfter := range records {
		if err := env.Client.Create(ctx, &v1alpha1.NodeCertificate{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.NodeCertificateSpec{
				NodeName: "gc-node", Kind: v1alpha1.CertificateClient, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
				SerialNumber: "1", SHA256Fingerprint: "00", Subject: "CN=system:node:gc-node", Issuer: "CN=ca",
				NotBefore: metav1.NewTime(notAfter.Add(-48 * time.Hour)), NotAfter: metav1.NewTime(notAfter),
				CSR:       v1alpha1.CSRReference{Name: "gone", UID: "uid", CreationTimestamp: metav1.NewTime(notAfter.Add(-48 * time.Hour))},
				Requester: v1alpha1.Requester{Username: "system:node:gc-node"},
				Approval:  v1alpha1.Approval{By: v1alpha1.ActorExternal},
				Issuance:  v1alpha1.Issuance{By: v1alpha1.ActorExternal},
			},
		}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "the long-expired record to be deleted", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Name: "client-gc-long-expired"}, &v1alpha1.NodeCertificate{})
		return client.IgnoreNotFound(err) == nil && err != nil, client.IgnoreNotFound(err)
	})
	time.Sleep(time.Second)
	for _, name := range []string{"client-gc-just-expired", "client-gc-not-yet-expired"} {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.NodeCertificate{}); err != nil {
			t.Errorf("record %s within its retention: %v", name, err)
		}
	}
}

func TestCertificatesExpiredBeyondRetentionAreNotRecorded(t *testing.T) {
	startManager(t)
	spec := clientCSR("long-expired", "system:node:expired-1")
	createCSR(t, spec, "bob")
	env.ApproveCSR(t, spec.name)
	leaf := signExternallyUntil(t, spec.name, time.Now().Add(-recordRetention-time.Hour))
	time.Sleep(2 * time.Second)
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: wire.RecordName(v1alpha1.CertificateClient, leaf)}, &v1alpha1.NodeCertificate{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("a certificate expired beyond the retention was recorded (err %v); the collector would delete it at once", err)
	}
}

func TestRecordsCannotBeEdited(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	record := &v1alpha1.NodeCertificate{}
	testenv.WaitFor(t, testenv.DefaultTimeout, "any record", func(ctx context.Context) (bool, error) {
		var list v1alpha1.NodeCertificateList
		if err := env.Client.List(ctx, &list); err != nil || len(list.Items) == 0 {
			return false, err
		}
		*record = list.Items[0]
		return true, nil
	})
	record.Spec.Approval.Policy = "rewritten-history"
	if err := env.Client.Update(ctx, record); err == nil {
		t.Fatal("the API server let a record be rewritten")
	}
}

// checkRecordOfSignedServing checks the record of the serving certificate
// nodetrust approved and signed in TestServingIsApprovedAndSignedOnceItsSignerIsReady.
func checkRecordOfSignedServing(t *testing.T, leaf *x509.Certificate) {
	t.Helper()
	record := waitForRecord(t, v1alpha1.CertificateServing, leaf)
	s := record.Spec
	switch {
	case s.NodeName != "signed-1" || s.Kind != v1alpha1.CertificateServing || s.SignerName != certificatesv1.KubeletServingSignerName:
		t.Errorf("node %q kind %q signer %q", s.NodeName, s.Kind, s.SignerName)
	case s.Approval.By != v1alpha1.ActorNodetrust || s.Approval.Policy != "a-sign-serving" || s.Approval.Reason != wire.ReasonAutoApproved:
		t.Errorf("approval %+v, want nodetrust by policy a-sign-serving", s.Approval)
	case s.Issuance.By != v1alpha1.ActorNodetrust || s.Issuance.Signer != "serving-ca":
		t.Errorf("issuance %+v, want nodetrust signer serving-ca", s.Issuance)
	case s.SerialNumber != leaf.SerialNumber.Text(16) || s.SHA256Fingerprint != signer.Fingerprint(leaf):
		t.Errorf("serial %s fingerprint %s", s.SerialNumber, s.SHA256Fingerprint)
	case !s.NotAfter.Time.Equal(leaf.NotAfter) || len(s.IPAddresses) != 1 || s.IPAddresses[0] != "10.20.0.1":
		t.Errorf("notAfter %v, IPs %v", s.NotAfter, s.IPAddresses)
	case s.Requester.Username != "system:node:signed-1" || s.CSR.Name != "signed-serving" || s.CSR.UID == "":
		t.Errorf("requester %+v csr %+v", s.Requester, s.CSR)
	}
	expectNodeEvent(t, "signed-1", wire.EventCertificateIssued, s.SerialNumber)
}

func waitForRecord(t *testing.T, kind v1alpha1.CertificateKind, leaf *x509.Certificate) *v1alpha1.NodeCertificate {
	t.Helper()
	record := &v1alpha1.NodeCertificate{}
	name := wire.RecordName(kind, leaf)
	testenv.WaitFor(t, testenv.DefaultTimeout, "record "+name, func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Name: name}, record)
		return err == nil, client.IgnoreNotFound(err)
	})
	return record
}

// externalCA stands for a signer other than nodetrust, e.g. kube-controller-manager.
var externalCA *signertest.CA

// signExternally issues the CSR's certificate as another signer would, as
// an admin through /status.
func signExternally(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	return signExternallyUntil(t, name, time.Now().Add(24*time.Hour))
}

// signExternallyUntil is signExternally with a certificate valid until notAfter.
func signExternallyUntil(t *testing.T, name string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	ctx := context.Background()
	if externalCA == nil {
		externalCA = signertest.NewCA(t, signertest.ECDSAP256, "external signer")
	}
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csr.Spec.Request)
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: req.Subject.CommonName, Organization: req.Subject.Organization},
		NotBefore:    notAfter.Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, externalCA.Cert, req.PublicKey, externalCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	csr.Status.Certificate = signer.EncodeCertificateDER(der)
	if err := env.Client.Status().Update(ctx, csr); err != nil {
		t.Fatalf("issuing %s externally: %v", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// expectNodeEvent waits for an Event about the Node with reason whose note mentions text.
func expectNodeEvent(t *testing.T, node, reason, text string) {
	t.Helper()
	testenv.WaitFor(t, testenv.DefaultTimeout, reason+" Event on Node "+node, func(ctx context.Context) (bool, error) {
		for _, e := range eventsAbout(ctx, t, "Node", node) {
			if e.Reason == reason && containsText(e.Note, text) {
				return true, nil
			}
		}
		return false, nil
	})
}
