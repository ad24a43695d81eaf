//go:build linux

package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/audit"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

const (
	nodeName        = "e2e-node-1"
	signerNamespace = "nodetrust-system"
	signerObject    = "kubelet-serving"
	bootstrapGroup  = "system:bootstrappers:nodetrust-e2e"
	// servingCertFile is where the kubelet keeps its current serving
	// certificate and key, in its --cert-dir.
	servingCertFile = "kubelet-server-current.pem"
	// waitTimeout bounds each step of the join.
	waitTimeout = time.Minute
)

// TestAKubeletJoinsAndTheAPIServerVerifiesItsNodetrustSignedServingCertificate
// runs the whole story on real binaries: a kubelet joins with a bootstrap
// token, nodetrust approves its client certificate (kube-controller-manager
// signs it), the Node registers, nodetrust approves and signs its serving
// certificate, the kubelet serves it, and kube-apiserver, which trusts
// only nodetrust's serving CA, reaches the kubelet over verified TLS. A
// kubelet serving a certificate from another CA is refused first.
func TestAKubeletJoinsAndTheAPIServerVerifiesItsNodetrustSignedServingCertificate(t *testing.T) {
	cl := require(t)
	ctx := context.Background()
	dir := t.TempDir()
	// An admin client for kube-apiserver's nodes/proxy, without client-go's
	// rate limit (the waits poll every 100ms).
	admin, err := rest.HTTPClientFor(cl.env.Config)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimSuffix(cl.env.Config.Host, "/")

	// The cluster side: nodetrust's namespace, a bootstrap token, the
	// bindings kubeadm makes for joining nodes, and nodetrust's signer.
	create(t, cl, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: signerNamespace}})
	tokenID, tokenSecret := newBootstrapToken(t)
	create(t, cl, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: "bootstrap-token-" + tokenID},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id":                       tokenID,
			"token-secret":                   tokenSecret,
			"expiration":                     time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true",
			"auth-extra-groups":              bootstrapGroup,
		},
	})
	create(t, cl, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e:kubelet-bootstrap"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-bootstrapper"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:bootstrappers"}},
	})
	create(t, cl, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-join"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:        v1alpha1.RequestSelector{Groups: []string{bootstrapGroup, csrstate.NodesGroup}},
			ClientBootstrap: &v1alpha1.ClientBootstrapRules{Action: v1alpha1.ActionApprove, AllowedNodeNamePattern: "e2e-node-[0-9]+", MaxRequestAge: &metav1.Duration{Duration: time.Hour}},
			ClientRenewal:   &v1alpha1.ClientRenewalRules{Action: v1alpha1.ActionApprove, RequireNode: true},
		},
	})
	create(t, cl, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: signerObject},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: cl.servingCA.CertPEM, corev1.TLSPrivateKeyKey: cl.servingCA.KeyPEM},
	})
	create(t, cl, &v1alpha1.NodeCertificateSigner{
		ObjectMeta: metav1.ObjectMeta{Name: signerObject},
		Spec: v1alpha1.NodeCertificateSignerSpec{
			SignerName: certificatesv1.KubeletServingSignerName,
			Secret:     &v1alpha1.SecretSignerSource{Name: signerObject},
		},
	})

	kcm := startKubeControllerManager(t, cl, dir)
	manager := startManager(t, cl, dir)
	waitSignerReady(t, cl)
	checkCABundle(t, cl)

	untrusted, err := testenv.NewCA("a CA kube-apiserver does not trust")
	if err != nil {
		t.Fatal(err)
	}
	kl := startKubelet(t, cl, tokenID+"."+tokenSecret, untrusted)
	running := func() {
		for _, p := range []*testenv.Process{kl.proc, kcm, manager} {
			p.CheckRunning(t)
		}
	}

	// Join: nodetrust approves the bootstrap CSR, kube-controller-manager
	// signs it with the cluster CA, and the kubelet registers its Node.
	bootstrap := waitCSR(t, cl, running, "the kubelet's bootstrap client CSR", func(csr *certificatesv1.CertificateSigningRequest) bool {
		return csr.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName &&
			csr.Spec.Username == "system:bootstrap:"+tokenID
	})
	expectAutoApproved(t, bootstrap)
	clientCert := waitIssued(t, cl, running, bootstrap.Name)
	if _, err := clientCert.Verify(x509.VerifyOptions{Roots: pool(cl.clientCA.Cert),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the kubelet's client certificate was not issued by kube-controller-manager with the cluster CA: %v", err)
	}
	if got, want := clientCert.Subject.CommonName, csrstate.NodeUserPrefix+nodeName; got != want {
		t.Fatalf("the kubelet's client certificate is for %q, want %q", got, want)
	}
	node := waitNode(t, cl, running)

	// Verification is on: the kubelet still serves the seeded certificate
	// from another CA, and kube-apiserver refuses it.
	var refusal string
	testenv.WaitFor(t, waitTimeout, "kube-apiserver to refuse the kubelet's untrusted certificate", func(ctx context.Context) (bool, error) {
		running()
		code, body, err := proxyGet(ctx, admin, host, "healthz")
		if err != nil {
			return false, err
		}
		if code == http.StatusOK {
			t.Fatalf("kube-apiserver reached the kubelet although it serves a certificate from an untrusted CA (answer %q)", body)
		}
		if !strings.Contains(body, "x509: certificate signed by unknown authority") {
			// The kubelet may not listen yet.
			return false, fmt.Errorf("status %d: %s", code, body)
		}
		refusal = fmt.Sprintf("status %d: %s", code, body)
		return true, nil
	})
	t.Logf("before nodetrust signs, kube-apiserver refuses the kubelet: %s", refusal)

	// Serving: a policy that approves serving CSRs and has nodetrust's
	// signer sign them. Until now the kubelet's serving CSR, if it has sent
	// it yet, was pending (NoMatchingPolicy).
	create(t, cl, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-serving"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector: v1alpha1.RequestSelector{NodeNamePattern: "e2e-node-[0-9]+"},
			Serving:  &v1alpha1.ServingRules{Action: v1alpha1.ServingApproveAndSign, Signer: signerObject},
		},
	})
	serving := waitCSR(t, cl, running, "the kubelet's serving CSR", func(csr *certificatesv1.CertificateSigningRequest) bool {
		return csr.Spec.SignerName == certificatesv1.KubeletServingSignerName && csr.Spec.Username == csrstate.NodeUserPrefix+nodeName
	})
	expectAutoApproved(t, serving)
	servingCert := waitIssued(t, cl, running, serving.Name)
	checkServingCertificate(t, cl, servingCert, node)

	// The kubelet stores and serves the certificate nodetrust issued.
	testenv.WaitFor(t, waitTimeout, "the kubelet to store its serving certificate in "+servingCertFile, func(context.Context) (bool, error) {
		running()
		data, err := os.ReadFile(filepath.Join(kl.certDir, servingCertFile))
		if err != nil {
			return false, err
		}
		current, err := firstCertificate(data)
		if err != nil {
			return false, err
		}
		return current.Equal(servingCert), nil
	})
	checkServedCertificate(t, cl, kl, servingCert)

	// kube-apiserver reaches the kubelet through the Node's address over TLS
	// verified against nodetrust's CA, and the kubelet authorizes it.
	testenv.WaitFor(t, waitTimeout, "kube-apiserver to reach the kubelet's /healthz", func(ctx context.Context) (bool, error) {
		running()
		code, body, err := proxyGet(ctx, admin, host, "healthz")
		if err != nil {
			return false, err
		}
		if code != http.StatusOK {
			return false, fmt.Errorf("status %d: %s", code, body)
		}
		if body != "ok" {
			t.Fatalf("/api/v1/nodes/%s/proxy/healthz answered %q, want \"ok\"", nodeName, body)
		}
		return true, nil
	})
	code, configz, err := proxyGet(ctx, admin, host, "configz")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/nodes/%s/proxy/configz: %d %s %v", nodeName, code, configz, err)
	}
	if !strings.Contains(configz, `"serverTLSBootstrap":true`) {
		t.Fatalf("the kubelet's /configz does not show serverTLSBootstrap: %s", configz)
	}
	checkAudit(t, cl, dir, clientCert, servingCert)
	running()
}

// checkAudit runs the real kubectl-nodetrust binary against the cluster:
// the manager has recorded both certificates, with who approved and who
// signed each, and the audit finds nothing wrong with the node.
func checkAudit(t *testing.T, cl *cluster, dir string, clientCert, servingCert *x509.Certificate) {
	t.Helper()
	bin := filepath.Join(dir, "kubectl-nodetrust")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-nodetrust")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	kubeconfig, err := testenv.Kubeconfig(dir, cl.env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var report audit.Report
	testenv.WaitFor(t, waitTimeout, "both certificates of "+nodeName+" in the audit", func(context.Context) (bool, error) {
		out, err := exec.Command(bin, "audit", "--kubeconfig", kubeconfig, "-o", "json").Output()
		if err != nil {
			return false, fmt.Errorf("kubectl-nodetrust audit: %w", err)
		}
		if err := json.Unmarshal(out, &report); err != nil {
			t.Fatalf("the audit's JSON does not parse: %v\n%s", err, out)
		}
		return len(report.Nodes) == 1 && report.Nodes[0].Client != nil && report.Nodes[0].Serving != nil, nil
	})
	n := report.Nodes[0]
	switch {
	case n.Name != nodeName || !n.Exists:
		t.Errorf("the audit reports node %q (exists %v)", n.Name, n.Exists)
	case n.Client.SerialNumber != clientCert.SerialNumber.Text(16) || n.Serving.SerialNumber != servingCert.SerialNumber.Text(16):
		t.Errorf("the audit's current certificates are %s and %s, not the issued ones", n.Client.SerialNumber, n.Serving.SerialNumber)
	case n.Client.Approval.By != v1alpha1.ActorNodetrust || n.Client.Approval.Policy != "e2e-join" || n.Client.Issuance.By != v1alpha1.ActorExternal:
		t.Errorf("client certificate: approval %+v, issuance %+v; want nodetrust's e2e-join and kube-controller-manager", n.Client.Approval, n.Client.Issuance)
	case n.Serving.Approval.By != v1alpha1.ActorNodetrust || n.Serving.Approval.Policy != "e2e-serving" ||
		n.Serving.Issuance.By != v1alpha1.ActorNodetrust || n.Serving.Issuance.Signer != signerObject:
		t.Errorf("serving certificate: approval %+v, issuance %+v; want nodetrust's e2e-serving and signer %s", n.Serving.Approval, n.Serving.Issuance, signerObject)
	}
	if len(report.Anomalies) > 0 {
		t.Errorf("the audit finds anomalies on a healthy node: %+v", report.Anomalies)
	}
	table, err := exec.Command(bin, "audit", "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl-nodetrust audit: %v\n%s", err, table)
	}
	t.Logf("kubectl nodetrust audit:\n%s", table)
}

func create(t *testing.T, cl *cluster, obj client.Object) {
	t.Helper()
	if err := cl.env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func waitSignerReady(t *testing.T, cl *cluster) {
	t.Helper()
	ncs := &v1alpha1.NodeCertificateSigner{}
	testenv.WaitFor(t, waitTimeout, "NodeCertificateSigner "+signerObject+" to be Ready", func(ctx context.Context) (bool, error) {
		if err := cl.env.Client.Get(ctx, client.ObjectKey{Name: signerObject}, ncs); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(ncs.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil || cond.ObservedGeneration != ncs.Generation {
			return false, nil
		}
		if cond.Status != metav1.ConditionTrue {
			return false, fmt.Errorf("Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
		}
		return true, nil
	})
	if got, want := ncs.Status.CA, signer.Fingerprint(cl.servingCA.Cert); got == nil || got.SHA256Fingerprint != want {
		t.Fatalf("the signer reports CA %+v, want fingerprint %s", got, want)
	}
}

// checkCABundle checks that the bundle nodetrust publishes holds the CA
// kube-apiserver was started with (--kubelet-certificate-authority).
func checkCABundle(t *testing.T, cl *cluster) {
	t.Helper()
	file, err := os.ReadFile(cl.servingCAFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := signer.ParseCertificatesPEM(file)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	testenv.WaitFor(t, waitTimeout, "the CA bundle ConfigMap", func(ctx context.Context) (bool, error) {
		err := cl.env.Client.Get(ctx, client.ObjectKey{Namespace: signerNamespace, Name: signerObject + "-ca-bundle"}, cm)
		return err == nil, err
	})
	got, err := signer.ParseCertificatesPEM([]byte(cm.Data[wire.CABundleKey]))
	if err != nil {
		t.Fatalf("the CA bundle %s/%s does not parse: %v", cm.Namespace, cm.Name, err)
	}
	if !slices.ContainsFunc(got, want[0].Equal) {
		t.Fatalf("the CA bundle %s/%s (%d certificates) lacks the CA in kube-apiserver's --kubelet-certificate-authority", cm.Namespace, cm.Name, len(got))
	}
}

// waitCSR waits for a CSR that match selects to be decided, and returns it.
func waitCSR(t *testing.T, cl *cluster, running func(), what string, match func(*certificatesv1.CertificateSigningRequest) bool) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	var found *certificatesv1.CertificateSigningRequest
	testenv.WaitFor(t, waitTimeout, what+" to be decided", func(ctx context.Context) (bool, error) {
		running()
		var list certificatesv1.CertificateSigningRequestList
		if err := cl.env.Client.List(ctx, &list); err != nil {
			return false, err
		}
		for i := range list.Items {
			csr := &list.Items[i]
			if match(csr) && len(csr.Status.Conditions) > 0 {
				found = csr
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

func expectAutoApproved(t *testing.T, csr *certificatesv1.CertificateSigningRequest) {
	t.Helper()
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue && c.Reason == wire.ReasonAutoApproved {
			return
		}
	}
	t.Fatalf("CSR %s (signer %s, requester %s) was not approved by nodetrust with reason %s: conditions %+v",
		csr.Name, csr.Spec.SignerName, csr.Spec.Username, wire.ReasonAutoApproved, csr.Status.Conditions)
}

// waitIssued waits for the CSR's certificate and returns its leaf.
func waitIssued(t *testing.T, cl *cluster, running func(), name string) *x509.Certificate {
	t.Helper()
	var leaf *x509.Certificate
	testenv.WaitFor(t, waitTimeout, "CSR "+name+" to be issued", func(ctx context.Context) (bool, error) {
		running()
		csr := &certificatesv1.CertificateSigningRequest{}
		if err := cl.env.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
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
		certs, err := signer.ParseCertificatesPEM(csr.Status.Certificate)
		if err != nil {
			t.Fatalf("CSR %s: status.certificate does not parse: %v", name, err)
		}
		leaf = certs[0]
		return true, nil
	})
	return leaf
}

// waitNode waits for the kubelet's Node, with the test's address and the
// kubelet's port, and returns it.
func waitNode(t *testing.T, cl *cluster, running func()) *corev1.Node {
	t.Helper()
	node := &corev1.Node{}
	testenv.WaitFor(t, waitTimeout, "Node "+nodeName+" to register with its address", func(ctx context.Context) (bool, error) {
		running()
		if err := cl.env.Client.Get(ctx, client.ObjectKey{Name: nodeName}, node); err != nil {
			return false, err
		}
		return node.Status.DaemonEndpoints.KubeletEndpoint.Port != 0 && slices.Contains(node.Status.Addresses,
			corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: cl.nodeIP.String()}), nil
	})
	return node
}

// checkServingCertificate checks that cert was issued by nodetrust's serving
// CA for the kubelet's names and addresses, for serving.
func checkServingCertificate(t *testing.T, cl *cluster, cert *x509.Certificate, node *corev1.Node) {
	t.Helper()
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool(cl.servingCA.Cert),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the serving certificate does not verify against nodetrust's serving CA: %v", err)
	}
	if got, want := cert.Subject.CommonName, csrstate.NodeUserPrefix+nodeName; got != want {
		t.Fatalf("the serving certificate is for %q, want %q", got, want)
	}
	if !slices.ContainsFunc(cert.IPAddresses, cl.nodeIP.Equal) || !slices.Contains(cert.DNSNames, nodeName) {
		t.Fatalf("the serving certificate's SANs are %v and %v, want %s and %s (Node addresses %v)",
			cert.DNSNames, cert.IPAddresses, nodeName, cl.nodeIP, node.Status.Addresses)
	}
	if err := cert.VerifyHostname(cl.nodeIP.String()); err != nil {
		t.Fatalf("the serving certificate is not valid for the address kube-apiserver dials: %v", err)
	}
}

// checkServedCertificate connects to the kubelet as kube-apiserver does and
// checks that it presents cert, and that it refuses anonymous requests.
func checkServedCertificate(t *testing.T, cl *cluster, kl *kubelet, cert *x509.Certificate) {
	t.Helper()
	addr := net.JoinHostPort(cl.nodeIP.String(), strconv.Itoa(kl.port))
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: pool(cl.servingCA.Cert), MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS to the kubelet at %s, trusting nodetrust's CA: %v", addr, err)
	}
	defer func() { _ = conn.Close() }()
	tlsConn, ok := conn.(*tls.Conn)
	if !ok {
		t.Fatalf("%T is not a TLS connection", conn)
	}
	if peer := tlsConn.ConnectionState().PeerCertificates; len(peer) == 0 || !peer[0].Equal(cert) {
		t.Fatal("the kubelet does not serve the certificate nodetrust issued")
	}
	// Anonymous requests are refused: only webhook-authenticated callers,
	// such as kube-apiserver's client certificate, get in.
	req := fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	status := make([]byte, len("HTTP/1.1 401"))
	if _, err := io.ReadFull(conn, status); err != nil {
		t.Fatal(err)
	}
	if string(status) != "HTTP/1.1 401" {
		t.Fatalf("an anonymous /healthz on the kubelet answered %q, want 401", status)
	}
}

// proxyGet asks kube-apiserver for path on the kubelet, through the
// nodes/proxy subresource, and returns the answer's status and body. When
// kube-apiserver cannot reach the kubelet, the body says why.
func proxyGet(ctx context.Context, httpClient *http.Client, host, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := host + "/api/v1/nodes/" + nodeName + "/proxy/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// firstCertificate returns the first certificate of a PEM file that also
// holds a private key, as the kubelet's certificate files do.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return nil, errors.New("no certificate in the file")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}
