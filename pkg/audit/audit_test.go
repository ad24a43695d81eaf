package audit_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/audit"
)

const day = 24 * time.Hour

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rec is a record of node and kind, named name, issued at now+from (CSR
// creation time and notBefore) and expiring at now+to, approved by nodetrust.
func rec(name, node string, kind v1alpha1.CertificateKind, from, to time.Duration, opts ...func(*v1alpha1.NodeCertificate)) v1alpha1.NodeCertificate {
	r := v1alpha1.NodeCertificate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeCertificateSpec{
			NodeName:          node,
			Kind:              kind,
			SerialNumber:      "serial-" + name,
			SHA256Fingerprint: "FP:" + strings.ToUpper(name),
			NotBefore:         metav1.NewTime(now.Add(from)),
			NotAfter:          metav1.NewTime(now.Add(to)),
			CSR:               v1alpha1.CSRReference{Name: "csr-" + name, CreationTimestamp: metav1.NewTime(now.Add(from))},
			Approval:          v1alpha1.Approval{By: v1alpha1.ActorNodetrust, Policy: "default"},
			Issuance:          v1alpha1.Issuance{By: v1alpha1.ActorExternal},
		},
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func client(name, node string, from, to time.Duration, opts ...func(*v1alpha1.NodeCertificate)) v1alpha1.NodeCertificate {
	return rec(name, node, v1alpha1.CertificateClient, from, to, opts...)
}

// serving is a serving record naming node's default addresses (see node).
func serving(name, node string, from, to time.Duration, opts ...func(*v1alpha1.NodeCertificate)) v1alpha1.NodeCertificate {
	return rec(name, node, v1alpha1.CertificateServing, from, to, append([]func(*v1alpha1.NodeCertificate){
		sans([]string{node}, []string{"10.0.0.1"}),
	}, opts...)...)
}

func sans(dns, ips []string) func(*v1alpha1.NodeCertificate) {
	return func(r *v1alpha1.NodeCertificate) { r.Spec.DNSNames, r.Spec.IPAddresses = dns, ips }
}

func external(r *v1alpha1.NodeCertificate) {
	r.Spec.Approval = v1alpha1.Approval{By: v1alpha1.ActorExternal, Reason: "KubectlApprove"}
}

func noCSRTime(r *v1alpha1.NodeCertificate) { r.Spec.CSR.CreationTimestamp = metav1.Time{} }

// node is a Node with a Hostname and an InternalIP, or with addrs ("type=address") when given.
func node(name string, addrs ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if len(addrs) == 0 {
		addrs = []string{"Hostname=" + name, "InternalIP=10.0.0.1"}
	}
	for _, a := range addrs {
		typ, addr, _ := strings.Cut(a, "=")
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(typ), Address: addr})
	}
	return n
}

// healthy is a node with fresh certificates of both kinds.
func healthy(name string) ([]v1alpha1.NodeCertificate, corev1.Node) {
	return []v1alpha1.NodeCertificate{
		client(name+"-c", name, -day, 300*day),
		serving(name+"-s", name, -day, 300*day),
	}, node(name)
}

// anomalies renders the anomalies as "node/kind/code[/serial]".
func anomalies(r audit.Report) []string {
	out := []string{}
	for _, a := range r.Anomalies {
		s := a.Node + "/" + string(a.CertificateKind) + "/" + string(a.Code)
		if a.Certificate != nil {
			s += "/" + a.Certificate.SerialNumber
		}
		out = append(out, s)
	}
	return out
}

func TestAnalyzeAnomalies(t *testing.T) {
	okRecs, okNode := healthy("ok")
	tests := []struct {
		name    string
		records []v1alpha1.NodeCertificate
		nodes   []corev1.Node
		opts    audit.Options
		want    []string
	}{
		{
			name:    "A node with fresh certificates of both kinds has no anomaly.",
			records: okRecs, nodes: []corev1.Node{okNode},
			want: []string{},
		},
		{
			name:  "No nodes and no records give an empty report.",
			want:  []string{},
			nodes: nil,
		},
		{
			name:  "A Node without any record has no serving certificate, and a missing client record is no anomaly.",
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/no-serving"},
		},
		{
			name:    "A client certificate expiring within 30 days by default is expiring.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -300*day, 12*day), serving("s1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Client/expiring/serial-c1"},
		},
		{
			name:    "A serving certificate expiring within the window is expiring.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day), serving("s1", "n1", -day, time.Hour)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Serving/expiring/serial-s1"},
		},
		{
			name:    "A certificate expiring after the window is not expiring.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 31*day), serving("s1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{},
		},
		{
			name:    "A wider expiring window catches a certificate the default would not.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 45*day), serving("s1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{node("n1")},
			opts:    audit.Options{ExpiringWithin: 60 * day},
			want:    []string{"n1/Client/expiring/serial-c1"},
		},
		{
			name: "An expiring certificate already replaced by a newer one is not reported.",
			records: []v1alpha1.NodeCertificate{
				client("old", "n1", -300*day, 5*day), client("new", "n1", -time.Hour, 365*day), serving("s1", "n1", -day, 300*day),
			},
			nodes: []corev1.Node{node("n1")},
			want:  []string{},
		},
		{
			name:    "A client certificate that expired with no valid replacement is expired.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -400*day, -2*day), serving("s1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Client/expired/serial-c1"},
		},
		{
			name:    "An expired serving certificate is expired and leaves the node without a serving certificate.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day), serving("s1", "n1", -400*day, -time.Minute)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Serving/expired/serial-s1", "n1/Serving/no-serving/serial-s1"},
		},
		{
			name:    "A certificate is still valid at the instant of its notAfter.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day), serving("s1", "n1", -day, 0)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Serving/expiring/serial-s1"},
		},
		{
			name:    "A Node with only a client certificate has no serving certificate.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Serving/no-serving"},
		},
		{
			name: "DNS SANs match the Node's addresses whatever their case and trailing dot.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans([]string{"N1.Example.COM.", "n1"}, []string{"10.0.0.1"}))},
			nodes: []corev1.Node{node("n1", "Hostname=n1", "InternalDNS=n1.example.com", "InternalIP=10.0.0.1")},
			want:  []string{},
		},
		{
			name: "A DNS SAN the Node does not report is a SAN mismatch.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans([]string{"n1", "kubernetes.default"}, []string{"10.0.0.1"}))},
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/san-mismatch/serial-s1"},
		},
		{
			name: "An IP SAN the Node does not report is a SAN mismatch.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans([]string{"n1"}, []string{"10.0.0.1", "10.9.9.9"}))},
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/san-mismatch/serial-s1"},
		},
		{
			name: "IPv6 SANs match the Node's addresses whatever their spelling.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans(nil, []string{"2001:db8:0:0:0:0:0:1", "FD00::A"}))},
			nodes: []corev1.Node{node("n1", "InternalIP=2001:db8::1", "InternalIP=fd00::a")},
			want:  []string{},
		},
		{
			name: "An IPv4-mapped IPv6 SAN matches the IPv4 address.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans(nil, []string{"::ffff:10.0.0.1"}))},
			nodes: []corev1.Node{node("n1")},
			want:  []string{},
		},
		{
			name: "An IPv6 SAN the Node does not report is a SAN mismatch.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans(nil, []string{"2001:db8::2"}))},
			nodes: []corev1.Node{node("n1", "InternalIP=2001:db8::1")},
			want:  []string{"n1/Serving/san-mismatch/serial-s1"},
		},
		{
			name: "An IP SAN that does not parse is a SAN mismatch.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -day, 300*day, sans(nil, []string{"not-an-ip"}))},
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/san-mismatch/serial-s1"},
		},
		{
			name:    "A Node that reports no addresses mismatches every SAN.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day), serving("s1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}},
			want:    []string{"n1/Serving/san-mismatch/serial-s1"},
		},
		{
			name: "Only the current serving certificate is compared with the Node's addresses.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("old", "n1", -100*day, 200*day, sans([]string{"old-name"}, nil)),
				serving("new", "n1", -day, 300*day)},
			nodes: []corev1.Node{node("n1")},
			want:  []string{},
		},
		{
			name: "An expired serving certificate is not compared with the Node's addresses.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("s1", "n1", -400*day, -day, sans([]string{"elsewhere"}, nil))},
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/expired/serial-s1", "n1/Serving/no-serving/serial-s1"},
		},
		{
			name:    "Every valid certificate of a Node that does not exist is for an unknown node.",
			records: []v1alpha1.NodeCertificate{client("c1", "gone", -200*day, 100*day), client("c2", "gone", -day, 300*day), serving("s1", "gone", -day, 300*day)},
			want:    []string{"gone/Client/unknown-node/serial-c1", "gone/Client/unknown-node/serial-c2", "gone/Serving/unknown-node/serial-s1"},
		},
		{
			name:    "Expired certificates of a Node that does not exist are history, not anomalies.",
			records: []v1alpha1.NodeCertificate{client("c1", "gone", -400*day, -day), serving("s1", "gone", -400*day, -day)},
			want:    []string{},
		},
		{
			name:    "A valid certificate approved outside nodetrust is reported.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day, external), serving("s1", "n1", -day, 300*day)},
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Client/not-approved-by-nodetrust/serial-c1"},
		},
		{
			name: "Every valid certificate approved outside nodetrust is reported, current or not.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day),
				serving("old", "n1", -100*day, 200*day, external), serving("new", "n1", -day, 300*day)},
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/not-approved-by-nodetrust/serial-old"},
		},
		{
			name: "An expired certificate approved outside nodetrust is not reported.",
			records: []v1alpha1.NodeCertificate{client("old", "n1", -400*day, -day, external),
				client("c1", "n1", -day, 300*day), serving("s1", "n1", -day, 300*day)},
			nodes: []corev1.Node{node("n1")},
			want:  []string{},
		},
		{
			name:    "A valid certificate of an unknown node approved outside nodetrust is reported twice.",
			records: []v1alpha1.NodeCertificate{client("c1", "gone", -day, 300*day, external)},
			want:    []string{"gone/Client/unknown-node/serial-c1", "gone/Client/not-approved-by-nodetrust/serial-c1"},
		},
		{
			name:    "More than five certificates of one kind within an hour are a burst.",
			records: append(burst("b", "n1", v1alpha1.CertificateClient, 6, 10*time.Minute), serving("s1", "n1", -day, 300*day)),
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Client/burst"},
		},
		{
			name:    "Five certificates within an hour are no burst.",
			records: append(burst("b", "n1", v1alpha1.CertificateClient, 5, 10*time.Minute), serving("s1", "n1", -day, 300*day)),
			nodes:   []corev1.Node{node("n1")},
			want:    []string{},
		},
		{
			name:    "Six certificates spread over more than the window are no burst.",
			records: append(burst("b", "n1", v1alpha1.CertificateClient, 6, 13*time.Minute), serving("s1", "n1", -day, 300*day)),
			nodes:   []corev1.Node{node("n1")},
			want:    []string{},
		},
		{
			name:    "A lower burst threshold catches fewer certificates.",
			records: append(burst("b", "n1", v1alpha1.CertificateClient, 3, time.Minute), serving("s1", "n1", -day, 300*day)),
			nodes:   []corev1.Node{node("n1")},
			opts:    audit.Options{BurstThreshold: 2},
			want:    []string{"n1/Client/burst"},
		},
		{
			name:    "A wider burst window catches slower issuance.",
			records: append(burst("b", "n1", v1alpha1.CertificateClient, 6, 30*time.Minute), serving("s1", "n1", -day, 300*day)),
			nodes:   []corev1.Node{node("n1")},
			opts:    audit.Options{BurstWindow: 3 * time.Hour},
			want:    []string{"n1/Client/burst"},
		},
		{
			name:    "Bursts count serving and client certificates apart.",
			records: append(burst("c", "n1", v1alpha1.CertificateClient, 3, time.Minute), burst("s", "n1", v1alpha1.CertificateServing, 3, time.Minute)...),
			nodes:   []corev1.Node{node("n1")},
			want:    []string{},
		},
		{
			name: "Burst detection falls back to notBefore for records without a CSR creation time.",
			records: append(mapRecs(burst("b", "n1", v1alpha1.CertificateServing, 6, time.Minute), noCSRTime),
				client("c1", "n1", -day, 300*day)),
			nodes: []corev1.Node{node("n1")},
			want:  []string{"n1/Serving/burst"},
		},
		{
			name:    "A burst long ago still counts while its certificates are valid.",
			records: append(burst("b", "n1", v1alpha1.CertificateServing, 6, time.Minute, -30*day), client("c1", "n1", -day, 300*day)),
			nodes:   []corev1.Node{node("n1")},
			want:    []string{"n1/Serving/burst"},
		},
		{
			name: "Expired certificates do not count towards a burst.",
			records: append(mapRecs(burst("b", "n1", v1alpha1.CertificateClient, 6, time.Minute), func(r *v1alpha1.NodeCertificate) {
				if r.Name < "b2" {
					r.Spec.NotAfter = metav1.NewTime(now.Add(-time.Minute))
				}
			}), serving("s1", "n1", -day, 300*day)),
			nodes: []corev1.Node{node("n1")},
			want:  []string{},
		},
		{
			name: "Records without a node name are ignored.",
			records: append(slices.Clone(okRecs), client("anon", "", -day, day, external),
				rec("odd", "ok", "Other", -day, day, external)),
			nodes: []corev1.Node{okNode},
			want:  []string{},
		},
		{
			name: "Anomalies are sorted by node, then certificate kind, then code.",
			records: []v1alpha1.NodeCertificate{
				serving("z-s", "zeta", -day, day, external), client("z-c", "zeta", -day, 300*day),
				client("a-c", "alpha", -day, day, external),
			},
			nodes: []corev1.Node{node("zeta"), node("alpha")},
			want: []string{
				"alpha/Client/expiring/serial-a-c", "alpha/Client/not-approved-by-nodetrust/serial-a-c", "alpha/Serving/no-serving",
				"zeta/Serving/expiring/serial-z-s", "zeta/Serving/not-approved-by-nodetrust/serial-z-s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := anomalies(audit.Analyze(tt.records, tt.nodes, now, tt.opts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("anomalies:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// burst returns n records of node and kind requested every step, the last
// one an hour ago (plus shift), valid for a year.
func burst(prefix, node string, kind v1alpha1.CertificateKind, n int, step time.Duration, shift ...time.Duration) []v1alpha1.NodeCertificate {
	var out []v1alpha1.NodeCertificate
	base := -time.Hour
	for _, s := range shift {
		base += s
	}
	for i := range n {
		from := base - time.Duration(n-1-i)*step
		r := rec(fmt.Sprintf("%s%d", prefix, i), node, kind, from, from+365*day)
		if kind == v1alpha1.CertificateServing {
			sans([]string{node}, []string{"10.0.0.1"})(&r)
		}
		out = append(out, r)
	}
	return out
}

func mapRecs(recs []v1alpha1.NodeCertificate, f func(*v1alpha1.NodeCertificate)) []v1alpha1.NodeCertificate {
	for i := range recs {
		f(&recs[i])
	}
	return recs
}

func TestCurrentCertificate(t *testing.T) {
	tests := []struct {
		name        string
		records     []v1alpha1.NodeCertificate
		wantClient  string // record name, "" for none
		wantServing string
		wantExpired bool // of the client certificate
	}{
		{
			name:       "The valid certificate with the latest notBefore is current.",
			records:    []v1alpha1.NodeCertificate{client("a", "n1", -30*day, 300*day), client("b", "n1", -day, 200*day), client("c", "n1", -60*day, 400*day)},
			wantClient: "b",
		},
		{
			name:       "A later but expired certificate does not beat an earlier valid one.",
			records:    []v1alpha1.NodeCertificate{client("short", "n1", -time.Hour, -time.Minute), client("long", "n1", -30*day, 300*day)},
			wantClient: "long",
		},
		{
			name:        "When every certificate has expired the latest expired one is current, marked expired.",
			records:     []v1alpha1.NodeCertificate{client("a", "n1", -400*day, -35*day), client("b", "n1", -300*day, -day)},
			wantClient:  "b",
			wantExpired: true,
		},
		{
			name:       "Ties on notBefore go to the later notAfter.",
			records:    []v1alpha1.NodeCertificate{client("a", "n1", -day, 100*day), client("b", "n1", -day, 200*day)},
			wantClient: "b",
		},
		{
			name:        "Client and serving certificates are chosen apart.",
			records:     []v1alpha1.NodeCertificate{client("c", "n1", -day, 100*day), serving("s-old", "n1", -9*day, 100*day), serving("s-new", "n1", -day, 100*day)},
			wantClient:  "c",
			wantServing: "s-new",
		},
		{
			name:        "A node without records of a kind has no current certificate of that kind.",
			records:     []v1alpha1.NodeCertificate{serving("s", "n1", -day, 100*day)},
			wantServing: "s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := audit.Analyze(tt.records, []corev1.Node{node("n1")}, now, audit.Options{})
			if len(r.Nodes) != 1 {
				t.Fatalf("nodes = %+v, want n1 only", r.Nodes)
			}
			n := r.Nodes[0]
			if got := recordName(n.Client); got != tt.wantClient {
				t.Errorf("client = %q, want %q", got, tt.wantClient)
			}
			if got := recordName(n.Serving); got != tt.wantServing {
				t.Errorf("serving = %q, want %q", got, tt.wantServing)
			}
			if n.Client != nil && n.Client.Expired != tt.wantExpired {
				t.Errorf("client expired = %v, want %v", n.Client.Expired, tt.wantExpired)
			}
			if n.Records != len(tt.records) {
				t.Errorf("records = %d, want %d", n.Records, len(tt.records))
			}
		})
	}
}

func recordName(c *audit.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Record
}

func TestReportNodes(t *testing.T) {
	tests := []struct {
		name    string
		records []v1alpha1.NodeCertificate
		nodes   []corev1.Node
		want    []string // "name exists=bool"
	}{
		{
			name: "Nothing to report lists no nodes.",
			want: []string{},
		},
		{
			name:  "Every Node is listed even without records.",
			nodes: []corev1.Node{node("b"), node("a")},
			want:  []string{"a exists=true", "b exists=true"},
		},
		{
			name:    "Every node name with records is listed even without a Node, sorted with the others.",
			records: []v1alpha1.NodeCertificate{client("x", "gone", -400*day, -day)},
			nodes:   []corev1.Node{node("b"), node("a")},
			want:    []string{"a exists=true", "b exists=true", "gone exists=false"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := audit.Analyze(tt.records, tt.nodes, now, audit.Options{})
			got := []string{}
			for _, n := range r.Nodes {
				got = append(got, fmt.Sprintf("%s exists=%v", n.Name, n.Exists))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("nodes = %q, want %q", got, tt.want)
			}
			if r.Nodes == nil || r.Anomalies == nil {
				t.Errorf("nil slices in %+v; JSON would show null", r)
			}
			if !r.GeneratedAt.Equal(now) {
				t.Errorf("generatedAt = %v, want %v", r.GeneratedAt, now)
			}
		})
	}
}

// TestAnalyzeIsDeterministic shuffles the inputs and expects the same report.
func TestAnalyzeIsDeterministic(t *testing.T) {
	var records []v1alpha1.NodeCertificate
	var nodes []corev1.Node
	for i := range 8 {
		name := fmt.Sprintf("n%d", i)
		recs, n := healthy(name)
		records = append(records, recs...)
		records = append(records, client(name+"-ext", name, -2*day, day, external), serving(name+"-x", name, -3*day, 2*day, sans([]string{"x"}, nil)))
		records = append(records, burst(name+"-b", name, v1alpha1.CertificateClient, 7, time.Minute)...)
		nodes = append(nodes, n)
	}
	records = append(records, client("g1", "gone", -day, day), client("g2", "gone", -day, day))
	want, err := json.Marshal(audit.Analyze(records, nodes, now, audit.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
		rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		got, err := json.Marshal(audit.Analyze(records, nodes, now, audit.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("report changed with the input order:\n got %s\nwant %s", got, want)
		}
	}
}

func TestAnomalyMessages(t *testing.T) {
	tests := []struct {
		name    string
		records []v1alpha1.NodeCertificate
		nodes   []corev1.Node
		code    audit.Code
		want    []string // substrings of the message
	}{
		{
			name:    "An expiring message says when, relatively and absolutely.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 12*day)},
			nodes:   []corev1.Node{node("n1")},
			code:    audit.CodeExpiring,
			want:    []string{"client certificate serial-c1", "expires in 12d", "2026-03-13T12:00:00Z"},
		},
		{
			name:    "An expired message says how long ago.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, -3*day)},
			nodes:   []corev1.Node{node("n1")},
			code:    audit.CodeExpired,
			want:    []string{"expired 3d ago"},
		},
		{
			name: "A SAN mismatch message names the extra SANs and the Node's addresses.",
			records: []v1alpha1.NodeCertificate{serving("s1", "n1", -day, 300*day,
				sans([]string{"n1", "evil.example"}, []string{"10.0.0.1", "192.0.2.7"}))},
			nodes: []corev1.Node{node("n1")},
			code:  audit.CodeSANMismatch,
			want:  []string{"dns:evil.example, ip:192.0.2.7", "Hostname n1, InternalIP 10.0.0.1"},
		},
		{
			name:    "A not-approved message quotes the approval reason.",
			records: []v1alpha1.NodeCertificate{client("c1", "n1", -day, 300*day, external)},
			nodes:   []corev1.Node{node("n1")},
			code:    audit.CodeNotApprovedByNodetrust,
			want:    []string{"approved outside nodetrust (approval reason KubectlApprove)"},
		},
		{
			name:    "A burst message counts the certificates and names the window.",
			records: burst("b", "n1", v1alpha1.CertificateClient, 7, time.Minute),
			nodes:   []corev1.Node{node("n1")},
			code:    audit.CodeBurst,
			want:    []string{"7 valid client certificates were requested within 1h", "more than the threshold of 5"},
		},
		{
			name:    "An unknown-node message names the node.",
			records: []v1alpha1.NodeCertificate{client("c1", "gone", -day, 300*day)},
			code:    audit.CodeUnknownNode,
			want:    []string{"is for node gone, which does not exist"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := audit.Analyze(tt.records, tt.nodes, now, audit.Options{})
			i := slices.IndexFunc(r.Anomalies, func(a audit.Anomaly) bool { return a.Code == tt.code })
			if i < 0 {
				t.Fatalf("no %s anomaly in %q", tt.code, anomalies(r))
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Anomalies[i].Message, w) {
					t.Errorf("message %q does not contain %q", r.Anomalies[i].Message, w)
				}
			}
		})
	}
}

func TestCodes(t *testing.T) {
	want := []audit.Code{"expired", "expiring", "no-serving", "san-mismatch", "unknown-node", "not-approved-by-nodetrust", "burst"}
	if got := audit.Codes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Codes() = %q, want %q", got, want)
	}
	for _, c := range want {
		if !c.Known() {
			t.Errorf("%q is not known", c)
		}
	}
	if audit.Code("Expiring").Known() {
		t.Error("codes must be matched exactly")
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   audit.Options
		want audit.Options
	}{
		{
			name: "Zero options take every default.",
			want: audit.Options{ExpiringWithin: 30 * day, BurstWindow: time.Hour, BurstThreshold: 5},
		},
		{
			name: "Negative options take the defaults too.",
			in:   audit.Options{ExpiringWithin: -1, BurstWindow: -1, BurstThreshold: -1},
			want: audit.Options{ExpiringWithin: 30 * day, BurstWindow: time.Hour, BurstThreshold: 5},
		},
		{
			name: "Set options are kept.",
			in:   audit.Options{ExpiringWithin: day, BurstWindow: time.Minute, BurstThreshold: 1},
			want: audit.Options{ExpiringWithin: day, BurstWindow: time.Minute, BurstThreshold: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"A time in the future is 'in' a duration.", audit.Relative(now.Add(12*day+time.Hour), now), "in 12d"},
		{"A time in the past is a duration 'ago'.", audit.Relative(now.Add(-5*time.Hour), now), "5h ago"},
		{"The same second is now.", audit.Relative(now.Add(time.Millisecond), now), "now"},
		{"Whole days are written in days.", audit.ShortDuration(30 * day), "30d"},
		{"An hour is written without zero units.", audit.ShortDuration(time.Hour), "1h"},
		{"Hours and minutes keep the minutes.", audit.ShortDuration(90 * time.Minute), "1h30m"},
		{"Seconds are kept.", audit.ShortDuration(90 * time.Second), "1m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
