package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

const day = 24 * time.Hour

// cert describes a kubelet certificate to issue and record.
type cert struct {
	node string
	kind v1alpha1.CertificateKind
	// requested is when its CSR was created, relative to now; the
	// certificate is valid from 5 minutes before, as signers backdate.
	requested time.Duration
	// lifetime is how long it is valid for.
	lifetime time.Duration
	// dnsNames and ips are serving SANs; nil means the node's name and 10.0.0.1.
	dnsNames []string
	ips      []string
	// external says it was approved outside nodetrust (kubectl certificate approve).
	external bool
	// policy is the approving NodeCertificatePolicy; empty means "workers".
	policy string
}

var (
	caOnce sync.Once
	ca     *testenv.CA
	caErr  error
)

func testCA(t *testing.T) *testenv.CA {
	t.Helper()
	caOnce.Do(func() { ca, caErr = testenv.NewCA("kubelet-ca") })
	if caErr != nil {
		t.Fatal(caErr)
	}
	return ca
}

// record issues a real certificate for c and returns the NodeCertificate the
// manager would write for it.
func record(t *testing.T, c cert, now time.Time) *v1alpha1.NodeCertificate {
	t.Helper()
	requested := now.Add(c.requested)
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "system:node:" + c.node, Organization: []string{"system:nodes"}},
		NotBefore: requested.Add(-5 * time.Minute),
		NotAfter:  requested.Add(-5*time.Minute + c.lifetime),
	}
	signerName, usage := certificatesv1.KubeAPIServerClientKubeletSignerName, x509.ExtKeyUsageClientAuth
	if c.kind == v1alpha1.CertificateServing {
		signerName, usage = certificatesv1.KubeletServingSignerName, x509.ExtKeyUsageServerAuth
		tmpl.DNSNames, tmpl.IPAddresses = c.dnsNames, parseIPs(t, c.ips)
		if c.dnsNames == nil && c.ips == nil {
			tmpl.DNSNames, tmpl.IPAddresses = []string{c.node}, []net.IP{net.ParseIP("10.0.0.1")}
		}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.SerialNumber = serialOf(c)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := testCA(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("issuing the %s certificate of %s: %v", c.kind, c.node, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ips := make([]string, 0, len(leaf.IPAddresses))
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	policyName := c.policy
	if policyName == "" {
		policyName = "workers"
	}
	csrName := "csr-" + strings.ToLower(leaf.SerialNumber.Text(36)[:5])
	r := &v1alpha1.NodeCertificate{
		ObjectMeta: metav1.ObjectMeta{
			Name:   wire.RecordName(c.kind, leaf),
			Labels: map[string]string{wire.LabelKind: strings.ToLower(string(c.kind)), wire.LabelNode: c.node},
		},
		Spec: v1alpha1.NodeCertificateSpec{
			NodeName:          c.node,
			Kind:              c.kind,
			SignerName:        signerName,
			SerialNumber:      leaf.SerialNumber.Text(16),
			SHA256Fingerprint: signer.Fingerprint(leaf),
			Subject:           leaf.Subject.String(),
			Issuer:            leaf.Issuer.String(),
			DNSNames:          leaf.DNSNames,
			IPAddresses:       ips,
			NotBefore:         metav1.NewTime(leaf.NotBefore),
			NotAfter:          metav1.NewTime(leaf.NotAfter),
			CSR:               v1alpha1.CSRReference{Name: csrName, UID: string(types.UID(fmt.Sprintf("uid-%s", csrName))), CreationTimestamp: metav1.NewTime(requested)},
			Requester:         v1alpha1.Requester{Username: "system:node:" + c.node, Groups: []string{"system:nodes", "system:authenticated"}},
			Approval: v1alpha1.Approval{By: v1alpha1.ActorNodetrust, Policy: policyName, Reason: "AutoApproved",
				Message: "approved by policy " + policyName, Time: ptr.To(metav1.NewTime(requested))},
			Issuance: v1alpha1.Issuance{By: v1alpha1.ActorExternal},
		},
	}
	if c.external {
		r.Spec.Approval = v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: "KubectlApprove",
			Message: "This CSR was approved by kubectl certificate approve.", Time: ptr.To(metav1.NewTime(requested))}
	}
	return r
}

// serialOf derives the serial number of c's certificate from its
// description, so that a fixture has the same serial (and CSR name, which
// record derives from it) in every run: docs/audit.md shows them, and
// TestAuditDocIsCurrent compares them exactly. The fingerprint, and so the
// record's name, still differ between runs (a fresh key, dates relative to
// now). A positive number of at most 127 bits, as signers use.
func serialOf(c cert) *big.Int {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d|%d|%q|%q|%t|%s",
		c.node, c.kind, c.requested, c.lifetime, c.dnsNames, c.ips, c.external, c.policy))
	sum[0] &= 0x7f
	return new(big.Int).SetBytes(sum[:16])
}

func parseIPs(t *testing.T, ips []string) []net.IP {
	t.Helper()
	var out []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			t.Fatalf("bad IP %q", s)
		}
		out = append(out, ip)
	}
	return out
}

// createRecords records every certificate in the API server.
func createRecords(t *testing.T, now time.Time, certs ...cert) {
	t.Helper()
	for _, c := range certs {
		r := record(t, c, now)
		if err := env.Client.Create(context.Background(), r); err != nil {
			t.Fatalf("creating record for %s %s: %v", c.node, c.kind, err)
		}
	}
}

// createNode creates a Node reporting addrs ("Type=address"), or its name
// as Hostname and 10.0.0.1 as InternalIP when none are given.
func createNode(t *testing.T, name string, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	if len(addrs) == 0 {
		addrs = []string{"Hostname=" + name, "InternalIP=10.0.0.1"}
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatalf("creating Node %s: %v", name, err)
	}
	for _, a := range addrs {
		typ, addr, _ := strings.Cut(a, "=")
		node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(typ), Address: addr})
	}
	if err := env.Client.Status().Update(ctx, node); err != nil {
		t.Fatalf("setting the addresses of Node %s: %v", name, err)
	}
}

// auditorRules are the permissions docs/audit.md tells users to grant.
var auditorRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}},
	{APIGroups: []string{"nodetrust.io"}, Resources: []string{"nodecertificates"}, Verbs: []string{"list"}},
	{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"list"}},
}

var (
	auditorOnce sync.Once
	auditor     *testenv.User
	auditorErr  error
)

// kubeconfig writes a kubeconfig for a user holding only the permissions
// docs/audit.md documents, so that the tests also check the documentation.
func kubeconfig(t *testing.T) string {
	t.Helper()
	testenv.Require(t, env)
	auditorOnce.Do(func() {
		ctx := context.Background()
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "nodetrust-auditor"}, Rules: auditorRules}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "nodetrust-auditor"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "auditor"}},
		}
		if auditorErr = env.Client.Create(ctx, role); auditorErr != nil {
			return
		}
		if auditorErr = env.Client.Create(ctx, binding); auditorErr != nil {
			return
		}
		auditor, auditorErr = env.AddUser("auditor")
	})
	if auditorErr != nil {
		t.Fatal(auditorErr)
	}
	// The API server's authorizer learns of new bindings from a watch.
	testenv.WaitFor(t, testenv.DefaultTimeout, "the auditor's RBAC to take effect", func(ctx context.Context) (bool, error) {
		for _, l := range []client.ObjectList{&corev1.NodeList{}, &v1alpha1.NodeCertificateList{}, &certificatesv1.CertificateSigningRequestList{}} {
			if err := auditor.Client.List(ctx, l, client.Limit(1)); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	path, err := testenv.Kubeconfig(t.TempDir(), auditor.Config)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// allowCSRCreation lets every authenticated user create CSRs and waits until
// the API server's authorizer knows it.
func allowCSRCreation(t *testing.T) {
	t.Helper()
	if err := env.AllowCSRCreation(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitForNodeCSRAccess(t)
}

// allowNodeCSRCreation lets the group system:nodes create and list CSRs, as
// kubeadm's bindings do, and waits until the API server's authorizer knows
// it. Unlike allowCSRCreation it grants users outside that group nothing, so
// that the tests of refused users still see a refusal.
func allowNodeCSRCreation(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-node-csr-creator"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"certificates.k8s.io"},
			Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "list"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-node-csr-creator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:nodes"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	waitForNodeCSRAccess(t)
}

// waitForNodeCSRAccess waits until a node may list CSRs, which tells that the
// API server's authorizer knows the bindings just created.
func waitForNodeCSRAccess(t *testing.T) {
	t.Helper()
	probe, err := env.Impersonate("system:node:probe", "system:nodes", "system:authenticated")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR access for nodes to be allowed", func(ctx context.Context) (bool, error) {
		err := probe.Client.List(ctx, &certificatesv1.CertificateSigningRequestList{}, client.Limit(1))
		return err == nil, err
	})
}
