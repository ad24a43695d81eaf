package csrstate

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

const (
	clientSigner  = certificatesv1.KubeAPIServerClientKubeletSignerName
	servingSigner = certificatesv1.KubeletServingSignerName
)

func cond(t certificatesv1.RequestConditionType, status corev1.ConditionStatus) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: status}
}

func csr(signer, user string, groups []string, conds ...certificatesv1.CertificateSigningRequestCondition) *certificatesv1.CertificateSigningRequest {
	c := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: signer, Username: user, Groups: groups}}
	c.Status.Conditions = conds
	return c
}

func TestDecided(t *testing.T) {
	tests := map[string]struct {
		conds []certificatesv1.CertificateSigningRequestCondition
		cert  []byte
		want  bool
	}{
		"a CSR without conditions is pending":               {},
		"an approved CSR is decided":                        {conds: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, corev1.ConditionTrue)}, want: true},
		"a denied CSR is decided":                           {conds: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateDenied, corev1.ConditionTrue)}, want: true},
		"a failed CSR is decided":                           {conds: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateFailed, corev1.ConditionTrue)}, want: true},
		"a condition without status counts as true":         {conds: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, "")}, want: true},
		"a false Approved condition leaves the CSR pending": {conds: []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, corev1.ConditionFalse)}},
		"other conditions leave the CSR pending":            {conds: []certificatesv1.CertificateSigningRequestCondition{cond("Reviewed", corev1.ConditionTrue)}},
		"a CSR with a certificate is decided":               {cert: []byte("cert"), want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := csr(servingSigner, "system:node:a", []string{NodesGroup}, tc.conds...)
			c.Status.Certificate = tc.cert
			if got := Decided(c); got != tc.want {
				t.Errorf("Decided = %v, want %v", got, tc.want)
			}
			if got := Pending(c); got == tc.want {
				t.Errorf("Pending = %v, want %v", got, !tc.want)
			}
		})
	}
}

func TestAwaitsSigning(t *testing.T) {
	approved := cond(certificatesv1.CertificateApproved, corev1.ConditionTrue)
	tests := map[string]struct {
		csr  *certificatesv1.CertificateSigningRequest
		cert []byte
		want bool
	}{
		"an approved kubelet CSR awaits signing": {csr: csr(servingSigner, "system:node:a", nil, approved), want: true},
		"an approval without status counts":      {csr: csr(clientSigner, "u", nil, cond(certificatesv1.CertificateApproved, "")), want: true},
		"a pending CSR does not":                 {csr: csr(servingSigner, "system:node:a", nil)},
		"an issued CSR does not":                 {csr: csr(servingSigner, "system:node:a", nil, approved), cert: []byte("x")},
		"an approved and failed CSR does not":    {csr: csr(servingSigner, "system:node:a", nil, approved, cond(certificatesv1.CertificateFailed, corev1.ConditionTrue))},
		"another signer's approved CSR does not": {csr: csr("example.com/signer", "u", nil, approved)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.csr.Status.Certificate = tc.cert
			if got := AwaitsSigning(tc.csr); got != tc.want {
				t.Errorf("AwaitsSigning = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKindAndNodeOf(t *testing.T) {
	nodes, bootstrappers := []string{NodesGroup}, []string{BootstrappersGroup}
	boot := csr(clientSigner, "system:bootstrap:abcdef", bootstrappers)
	boot.Spec.Request = pkcs10test.RequestPEM(t, "system:node:worker-1")
	bootNoNode := csr(clientSigner, "system:bootstrap:abcdef", bootstrappers)
	bootNoNode.Spec.Request = pkcs10test.RequestPEM(t, "alice")
	tests := map[string]struct {
		csr       *certificatesv1.CertificateSigningRequest
		kind      v1alpha1.RequestKind
		isKubelet bool
		node      string
	}{
		"a node renewing its client certificate":                     {csr: csr(clientSigner, "system:node:worker-1", nodes), kind: v1alpha1.KindClientRenewal, isKubelet: true, node: "worker-1"},
		"a bootstrap token asking for a node's identity":             {csr: boot, kind: v1alpha1.KindClientBootstrap, isKubelet: true, node: "worker-1"},
		"a bootstrap request whose CN names no node":                 {csr: bootNoNode, kind: v1alpha1.KindClientBootstrap, isKubelet: true},
		"a node asking for a serving certificate":                    {csr: csr(servingSigner, "system:node:worker-1", nodes), kind: v1alpha1.KindServing, isKubelet: true, node: "worker-1"},
		"a bootstrap token asking for serving is no kubelet request": {csr: csr(servingSigner, "system:bootstrap:abcdef", bootstrappers)},
		"a node name without the nodes group is no kubelet request":  {csr: csr(clientSigner, "system:node:worker-1", nil)},
		"another signer is no kubelet request":                       {csr: csr("example.com/signer", "system:node:worker-1", nodes)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kind, ok := Kind(tc.csr)
			if kind != tc.kind || ok != tc.isKubelet {
				t.Errorf("Kind = %q, %v; want %q, %v", kind, ok, tc.kind, tc.isKubelet)
			}
			if got := NodeOf(tc.csr); got != tc.node {
				t.Errorf("NodeOf = %q, want %q", got, tc.node)
			}
		})
	}
}

func TestWithConditionLeavesTheOriginalAlone(t *testing.T) {
	c := csr(servingSigner, "system:node:a", nil)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	updated := WithCondition(c, certificatesv1.CertificateApproved, "AutoApproved", "ok", now)
	if len(c.Status.Conditions) != 0 {
		t.Fatal("WithCondition changed its argument")
	}
	got, ok := Condition(updated, certificatesv1.CertificateApproved)
	if !ok || got.Reason != "AutoApproved" || got.Message != "ok" || !got.LastUpdateTime.Time.Equal(now) || got.Status != corev1.ConditionTrue {
		t.Fatalf("condition = %+v, %v", got, ok)
	}
}

func TestCertificateKind(t *testing.T) {
	for signer, want := range map[string]v1alpha1.CertificateKind{clientSigner: v1alpha1.CertificateClient, servingSigner: v1alpha1.CertificateServing, "example.com/x": ""} {
		if got, ok := CertificateKind(signer); got != want || ok != (want != "") {
			t.Errorf("CertificateKind(%q) = %q, %v", signer, got, ok)
		}
		if IsKubeletSigner(signer) != (want != "") {
			t.Errorf("IsKubeletSigner(%q) disagrees with CertificateKind", signer)
		}
	}
}
