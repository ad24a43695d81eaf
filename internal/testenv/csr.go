package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CSR describes a certificate signing request to create.
type CSR struct {
	Name        string
	SignerName  string
	CommonName  string
	Orgs        []string
	DNSNames    []string
	IPAddresses []net.IP
	Usages      []certificatesv1.KeyUsage
	// ExpirationSeconds is spec.expirationSeconds; 0 leaves it unset.
	ExpirationSeconds int32
	// Labels and Annotations are what the requester writes on its CSR.
	Labels      map[string]string
	Annotations map[string]string
	// Conditions are the status conditions the requester tries to create
	// the CSR with (the API server drops them).
	Conditions []certificatesv1.CertificateSigningRequestCondition
}

// CreateCSR creates spec with a fresh ECDSA P-256 key, impersonating
// username in groups (plus system:authenticated) so that the API server
// records the requester itself.
func (e *Env) CreateCSR(t testing.TB, spec CSR, username string, groups ...string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: spec.CommonName, Organization: spec.Orgs},
		DNSNames:    spec.DNSNames,
		IPAddresses: spec.IPAddresses,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: spec.Labels, Annotations: spec.Annotations},
		Status:     certificatesv1.CertificateSigningRequestStatus{Conditions: spec.Conditions},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: spec.SignerName,
			Usages:     spec.Usages,
		},
	}
	if spec.ExpirationSeconds > 0 {
		csr.Spec.ExpirationSeconds = &spec.ExpirationSeconds
	}
	requester, err := e.Impersonate(username, append(groups, "system:authenticated")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := requester.Client.Create(context.Background(), csr); err != nil {
		t.Fatalf("creating CSR %s as %s: %v", spec.Name, username, err)
	}
	return csr
}

// ApproveCSR approves the CSR as the test's admin, as `kubectl certificate
// approve` does.
func (e *Env) ApproveCSR(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := e.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove",
		Message: "approved by the test", LastUpdateTime: now,
	})
	if err := e.Client.SubResource("approval").Update(ctx, csr); err != nil {
		t.Fatalf("approving CSR %s: %v", name, err)
	}
}

// AllowCSRCreation lets bootstrappers, nodes and every authenticated user
// create and read CSRs, as kubeadm's bindings do for the first two.
func (e *Env) AllowCSRCreation(ctx context.Context) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-csr-creator"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"certificates.k8s.io"},
			Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-csr-creator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}},
	}
	return createAll(ctx, e.Client, role, binding)
}
