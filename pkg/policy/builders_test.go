package policy

// Test builders for the policy engine: CSRs, Nodes, bootstrap-token Secrets
// and NodeCertificatePolicies, each made from sensible defaults changed by
// functional options. Every identifier here starts with "build", "with",
// "as" or "b". Test keys come from pkcs10test, shared with pkcs10's tests.

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

// bNow is the fixed time every test decides at.
var bNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// Default identities of the builders.
const (
	bNodeName  = "worker-1"
	bNodeUser  = csrstate.NodeUserPrefix + bNodeName
	bTokenID   = "abcdef"
	bBootUser  = csrstate.BootstrapUserPrefix + bTokenID
	bPoolA     = "system:bootstrappers:pool-a"
	bPoolB     = "system:bootstrappers:pool-b"
	bAuthGroup = "system:authenticated"
	// bPoolLabel is a Node label only administrators can set.
	bPoolLabel = "node-restriction.kubernetes.io/pool"
)

// bIP parses an IP address or fails the test.
func bIP(t testing.TB, s string) net.IP {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil {
		t.Fatalf("bad test IP %q", s)
	}
	return ip
}

// ---------------------------------------------------------------------------
// CSRs

// buildCSRSpec is what buildCSR makes a CertificateSigningRequest from.
type buildCSRSpec struct {
	name       string
	signer     string
	username   string
	groups     []string
	usages     []certificatesv1.KeyUsage
	expiration *int32
	created    time.Time

	// The PKCS#10 request.
	key      pkcs10test.KeyFunc
	cn       string
	orgs     []string
	dnsNames []string
	ips      []string
	// rawIPs are IP SANs encoded with exactly these bytes (e.g. a 16-byte
	// IPv4-mapped address, which crypto/x509 would shorten to 4 bytes).
	rawIPs []net.IP
	// request, when set, replaces the generated spec.request.
	request []byte
}

// buildCSROption changes a buildCSRSpec.
type buildCSROption func(*buildCSRSpec)

func withCSRName(name string) buildCSROption { return func(s *buildCSRSpec) { s.name = name } }
func withSigner(signer string) buildCSROption {
	return func(s *buildCSRSpec) { s.signer = signer }
}
func withUsername(user string) buildCSROption { return func(s *buildCSRSpec) { s.username = user } }
func withGroups(groups ...string) buildCSROption {
	return func(s *buildCSRSpec) { s.groups = groups }
}
func withUsages(usages ...certificatesv1.KeyUsage) buildCSROption {
	return func(s *buildCSRSpec) { s.usages = usages }
}
func withExpirationSeconds(seconds int32) buildCSROption {
	return func(s *buildCSRSpec) { s.expiration = &seconds }
}
func withCreated(created time.Time) buildCSROption {
	return func(s *buildCSRSpec) { s.created = created }
}
func withKey(key pkcs10test.KeyFunc) buildCSROption {
	return func(s *buildCSRSpec) { s.key = key }
}
func withCN(cn string) buildCSROption         { return func(s *buildCSRSpec) { s.cn = cn } }
func withOrgs(orgs ...string) buildCSROption  { return func(s *buildCSRSpec) { s.orgs = orgs } }
func withDNSNames(n ...string) buildCSROption { return func(s *buildCSRSpec) { s.dnsNames = n } }
func withIPs(ips ...string) buildCSROption    { return func(s *buildCSRSpec) { s.ips = ips } }
func withRawIPs(ips ...net.IP) buildCSROption { return func(s *buildCSRSpec) { s.rawIPs = ips } }
func withRequestPEM(p []byte) buildCSROption  { return func(s *buildCSRSpec) { s.request = p } }
func withNoSANs() buildCSROption {
	return func(s *buildCSRSpec) { s.dnsNames, s.ips, s.rawIPs = nil, nil, nil }
}
func withNodeIdentity(node string) buildCSROption {
	return func(s *buildCSRSpec) { s.username, s.cn = csrstate.NodeUserPrefix+node, csrstate.NodeUserPrefix+node }
}

// asBootstrap makes the CSR a client request by the bootstrap token tokenID,
// in system:bootstrappers and the given extra groups.
func asBootstrap(tokenID string, extraGroups ...string) buildCSROption {
	return func(s *buildCSRSpec) {
		s.signer = certificatesv1.KubeAPIServerClientKubeletSignerName
		s.username = csrstate.BootstrapUserPrefix + tokenID
		s.groups = append([]string{csrstate.BootstrappersGroup, bAuthGroup}, extraGroups...)
		s.usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	}
}

// asServing makes the CSR a serving request of worker-1 for its hostname and
// InternalIP.
func asServing() buildCSROption {
	return func(s *buildCSRSpec) {
		s.signer = certificatesv1.KubeletServingSignerName
		s.usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
		s.dnsNames = []string{bNodeName}
		s.ips = []string{"10.0.0.11"}
	}
}

// buildCSR returns a kubelet CSR. By default it is a client renewal by
// worker-1 (CN system:node:worker-1, O system:nodes, an ECDSA P-256 key, no
// SANs), created a minute before bNow.
func buildCSR(t testing.TB, opts ...buildCSROption) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	s := &buildCSRSpec{
		name:     "csr-test",
		signer:   certificatesv1.KubeAPIServerClientKubeletSignerName,
		username: bNodeUser,
		groups:   []string{csrstate.NodesGroup, bAuthGroup},
		usages:   []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		created:  bNow.Add(-time.Minute),
		key:      pkcs10test.P256,
		cn:       bNodeUser,
		orgs:     []string{csrstate.NodesGroup},
	}
	for _, opt := range opts {
		opt(s)
	}
	request := s.request
	if request == nil {
		request = buildCSRPEM(t, s)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			Name:              s.name,
			UID:               types.UID("uid-" + s.name),
			CreationTimestamp: metav1.NewTime(s.created),
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           request,
			SignerName:        s.signer,
			ExpirationSeconds: s.expiration,
			Usages:            s.usages,
			Username:          s.username,
			Groups:            s.groups,
		},
	}
}

var bOIDSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// buildCSRPEM makes the PEM spec.request of s with crypto/x509. Each O is its
// own single-valued RDN, followed by the CN (omitted when empty).
func buildCSRPEM(t testing.TB, s *buildCSRSpec) []byte {
	t.Helper()
	var subject pkix.RDNSequence
	for _, o := range s.orgs {
		subject = append(subject, pkix.RelativeDistinguishedNameSET{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: o}})
	}
	if s.cn != "" {
		subject = append(subject, pkix.RelativeDistinguishedNameSET{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: s.cn}})
	}
	rawSubject, err := asn1.Marshal(subject)
	if err != nil {
		t.Fatalf("marshalling subject: %v", err)
	}
	template := &x509.CertificateRequest{RawSubject: rawSubject, DNSNames: s.dnsNames}
	for _, ip := range s.ips {
		template.IPAddresses = append(template.IPAddresses, bIP(t, ip))
	}
	if len(s.rawIPs) > 0 {
		// Encode the whole subjectAltName by hand so the IP bytes stay as given.
		var names []asn1.RawValue
		for _, n := range template.DNSNames {
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(n)})
		}
		for _, ip := range template.IPAddresses {
			b := ip.To4()
			if b == nil {
				b = ip
			}
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: b})
		}
		for _, ip := range s.rawIPs {
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: ip})
		}
		value, err := asn1.Marshal(names)
		if err != nil {
			t.Fatalf("marshalling SANs: %v", err)
		}
		template.DNSNames, template.IPAddresses = nil, nil
		template.ExtraExtensions = []pkix.Extension{{Id: bOIDSubjectAltName, Value: value}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, template, s.key(t))
	if err != nil {
		t.Fatalf("creating CSR: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// buildRequest builds a CSR and classifies and parses it with NewRequest,
// failing the test if it is not a kubelet request.
func buildRequest(t testing.TB, opts ...buildCSROption) *Request {
	t.Helper()
	r, ok := NewRequest(buildCSR(t, opts...))
	if !ok {
		t.Fatalf("buildRequest: not a kubelet request")
	}
	return r
}

// ---------------------------------------------------------------------------
// Nodes

// buildNodeOption changes a Node.
type buildNodeOption func(*corev1.Node)

// withLabels replaces the Node's labels.
func withLabels(labels map[string]string) buildNodeOption {
	return func(n *corev1.Node) { n.Labels = labels }
}

// withAddress adds one status address.
func withAddress(typ corev1.NodeAddressType, address string) buildNodeOption {
	return func(n *corev1.Node) {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: typ, Address: address})
	}
}

// withNoAddresses drops every status address.
func withNoAddresses() buildNodeOption {
	return func(n *corev1.Node) { n.Status.Addresses = nil }
}

// buildNode returns Node name labelled pool=a, whose addresses are, by
// default: Hostname <name>, InternalIP 10.0.0.11, ExternalIP 203.0.113.11,
// InternalDNS <name>.internal.example.com, ExternalDNS <name>.example.com.
func buildNode(name string, opts ...buildNodeOption) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{bPoolLabel: "a"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: name},
			{Type: corev1.NodeInternalIP, Address: "10.0.0.11"},
			{Type: corev1.NodeExternalIP, Address: "203.0.113.11"},
			{Type: corev1.NodeInternalDNS, Address: name + ".internal.example.com"},
			{Type: corev1.NodeExternalDNS, Address: name + ".example.com"},
		}},
	}
	for _, opt := range opts {
		opt(n)
	}
	return n
}

// ---------------------------------------------------------------------------
// Bootstrap-token Secrets

// buildSecretOption changes a bootstrap-token Secret.
type buildSecretOption func(*corev1.Secret)

// withTokenData sets one data key of the Secret.
func withTokenData(key, value string) buildSecretOption {
	return func(s *corev1.Secret) { s.Data[key] = []byte(value) }
}

// withoutTokenData removes one data key of the Secret.
func withoutTokenData(key string) buildSecretOption {
	return func(s *corev1.Secret) { delete(s.Data, key) }
}

// withSecretType sets the Secret's type.
func withSecretType(typ corev1.SecretType) buildSecretOption {
	return func(s *corev1.Secret) { s.Type = typ }
}

// withDeletionTimestamp marks the Secret as being deleted.
func withDeletionTimestamp() buildSecretOption {
	return func(s *corev1.Secret) {
		ts := metav1.NewTime(bNow.Add(-time.Second))
		s.DeletionTimestamp = &ts
	}
}

// buildTokenSecret returns the valid Secret kube-system/bootstrap-token-<id>:
// usage-bootstrap-authentication "true", expiring a day after bNow.
func buildTokenSecret(tokenID string, opts ...buildSecretOption) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: BootstrapTokenSecretPrefix + tokenID},
		Type:       BootstrapTokenSecretType,
		Data: map[string][]byte{
			bootstrapTokenIDKey:         []byte(tokenID),
			"token-secret":              []byte("0123456789abcdef"),
			bootstrapTokenUsageAuthKey:  []byte("true"),
			bootstrapTokenExpirationKey: []byte(bNow.Add(24 * time.Hour).Format(time.RFC3339)),
			"auth-extra-groups":         []byte(bPoolA),
			"usage-bootstrap-signing":   []byte("true"),
			"description":               []byte("test token"),
		},
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// ---------------------------------------------------------------------------
// Policies

// buildPolicyOption changes a NodeCertificatePolicy.
type buildPolicyOption func(*v1alpha1.NodeCertificatePolicy)

func withBootstrapRules(r v1alpha1.ClientBootstrapRules) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.ClientBootstrap = &r }
}
func withRenewalRules(r v1alpha1.ClientRenewalRules) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.ClientRenewal = &r }
}
func withServingRules(r v1alpha1.ServingRules) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.Serving = &r }
}
func withSelectorGroups(groups ...string) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.Selector.Groups = groups }
}
func withNodeNamePattern(pattern string) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.Selector.NodeNamePattern = pattern }
}
func withNodeSelector(labels map[string]string) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) {
		p.Spec.Selector.NodeSelector = &metav1.LabelSelector{MatchLabels: labels}
	}
}
func withLabelSelector(sel *metav1.LabelSelector) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.Selector.NodeSelector = sel }
}
func withKeyRules(k v1alpha1.KeyRules) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.Keys = &k }
}
func withMaxExpirationSeconds(seconds int32) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.MaxExpirationSeconds = &seconds }
}
func withOnViolation(a v1alpha1.ViolationAction) buildPolicyOption {
	return func(p *v1alpha1.NodeCertificatePolicy) { p.Spec.OnViolation = a }
}

// buildPolicy returns a NodeCertificatePolicy named name with an empty spec
// changed by opts.
func buildPolicy(name string, opts ...buildPolicyOption) *v1alpha1.NodeCertificatePolicy {
	p := &v1alpha1.NodeCertificatePolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, opt := range opts {
		opt(p)
	}
	return p
}

// buildBootstrapPolicy returns a policy with the given clientBootstrap rules.
func buildBootstrapPolicy(name string, r v1alpha1.ClientBootstrapRules, opts ...buildPolicyOption) *v1alpha1.NodeCertificatePolicy {
	return buildPolicy(name, append([]buildPolicyOption{withBootstrapRules(r)}, opts...)...)
}

// buildRenewalPolicy returns a policy with the given clientRenewal rules.
func buildRenewalPolicy(name string, r v1alpha1.ClientRenewalRules, opts ...buildPolicyOption) *v1alpha1.NodeCertificatePolicy {
	return buildPolicy(name, append([]buildPolicyOption{withRenewalRules(r)}, opts...)...)
}

// buildServingPolicy returns a policy with the given serving rules.
func buildServingPolicy(name string, r v1alpha1.ServingRules, opts ...buildPolicyOption) *v1alpha1.NodeCertificatePolicy {
	return buildPolicy(name, append([]buildPolicyOption{withServingRules(r)}, opts...)...)
}

// buildCompiled compiles policies, keeping nil entries as nil, and fails the
// test if one does not compile.
func buildCompiled(t testing.TB, policies ...*v1alpha1.NodeCertificatePolicy) []*Compiled {
	t.Helper()
	out := make([]*Compiled, 0, len(policies))
	for _, p := range policies {
		if p == nil {
			out = append(out, nil)
			continue
		}
		c, err := Compile(p)
		if err != nil {
			t.Fatalf("compiling policy %s: %v", p.Name, err)
		}
		out = append(out, c)
	}
	return out
}
