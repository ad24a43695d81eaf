package audit_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/audit"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// TestSANMismatchAgreesWithApproval checks that the audit flags as
// san-mismatch exactly the SANs approval would find the Node does not own
// (policy.NodeAddresses, which denies SANNotOwnedByNode under a policy with
// no allowedDNSNames or allowedIPRanges), including where the audit's old
// rule differed: it took any address as a DNS name and any address that
// parsed as an IP.
func TestSANMismatchAgreesWithApproval(t *testing.T) {
	tests := map[string]struct {
		addresses []string // "Type=address"
		dnsNames  []string
		ips       []string
		want      []string // what both sides say the Node does not own
	}{
		"A Node's Hostname and InternalIP own the SANs a kubelet asks for.": {
			addresses: []string{"Hostname=n1", "InternalIP=10.0.0.1"},
			dnsNames:  []string{"n1"}, ips: []string{"10.0.0.1"},
		},
		"InternalDNS and ExternalDNS addresses own DNS SANs whatever their case and trailing dot.": {
			addresses: []string{"Hostname=n1", "InternalDNS=n1.internal.example.com", "ExternalDNS=N1.Example.com."},
			dnsNames:  []string{"N1.Internal.Example.COM.", "n1.example.com"},
		},
		"ExternalIP and IPv6 addresses own IP SANs whatever their spelling.": {
			addresses: []string{"ExternalIP=203.0.113.1", "InternalIP=fd00::10"},
			ips:       []string{"::ffff:203.0.113.1", "fd00:0:0::10"},
		},
		"A DNS SAN spelling the Node's InternalIP is not owned: an IP address is not a name.": {
			addresses: []string{"Hostname=n1", "InternalIP=10.0.0.1"},
			dnsNames:  []string{"n1", "10.0.0.1"}, ips: []string{"10.0.0.1"},
			want: []string{"dns:10.0.0.1"},
		},
		"An IP SAN equal to a Hostname that looks like an IP is not owned: a name is not an IP address.": {
			addresses: []string{"Hostname=10.0.0.5", "InternalIP=10.0.0.1"},
			dnsNames:  []string{"10.0.0.5"}, ips: []string{"10.0.0.1", "10.0.0.5"},
			want: []string{"ip:10.0.0.5"},
		},
		"An address of a type that is neither a name nor an IP owns nothing.": {
			addresses: []string{"Hostname=n1", "InternalIP=10.0.0.1", "Custom=n1.example.com", "Custom=192.0.2.7"},
			dnsNames:  []string{"n1", "n1.example.com"}, ips: []string{"10.0.0.1", "192.0.2.7"},
			want: []string{"dns:n1.example.com", "ip:192.0.2.7"},
		},
		"SANs of another node are not owned.": {
			addresses: []string{"Hostname=n1", "InternalIP=10.0.0.1"},
			dnsNames:  []string{"n2", "n1"}, ips: []string{"10.0.0.2", "2001:db8::1"},
			want: []string{"dns:n2", "ip:10.0.0.2", "ip:2001:db8::1"},
		},
		"A Node that reports no addresses owns only its name.": {
			dnsNames: []string{"n1"}, ips: []string{"10.0.0.1"},
			want: []string{"ip:10.0.0.1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n := node("n1", tc.addresses...)
			if len(tc.addresses) == 0 {
				n.Status.Addresses = nil
			}
			approval := notOwnedByApproval(t, &n, tc.dnsNames, tc.ips)
			audited := flaggedByAudit(t, n, tc.dnsNames, tc.ips)
			if !slices.Equal(approval, audited) {
				t.Errorf("approval finds %q not owned, the audit flags %q", approval, audited)
			}
			if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(approval, want) {
				t.Errorf("not owned: %q, want %q", approval, want)
			}
		})
	}
}

// notOwnedByApproval returns, sorted, the SANs policy.NodeAddresses says
// node does not own, as "dns:<name>" and "ip:<address>".
func notOwnedByApproval(t *testing.T, node *corev1.Node, dnsNames, ips []string) []string {
	t.Helper()
	owned := policy.NodeAddressesOf(node)
	out := []string{}
	for _, name := range dnsNames {
		if !owned.OwnsDNSName(name) {
			out = append(out, "dns:"+name)
		}
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			t.Fatalf("test IP SAN %q does not parse: a CSR cannot carry it", s)
		}
		if !owned.OwnsIP(ip) {
			out = append(out, "ip:"+s)
		}
	}
	slices.Sort(out)
	return out
}

// flaggedByAudit returns, sorted, the SANs the audit's san-mismatch anomaly
// names for a current serving certificate of node with these SANs.
func flaggedByAudit(t *testing.T, node corev1.Node, dnsNames, ips []string) []string {
	t.Helper()
	records := []v1alpha1.NodeCertificate{
		client("c1", node.Name, -day, 300*day),
		serving("s1", node.Name, -day, 300*day, sans(dnsNames, ips)),
	}
	out := []string{}
	for _, a := range audit.Analyze(records, []corev1.Node{node}, now, audit.Options{}).Anomalies {
		if a.Code != audit.CodeSANMismatch {
			continue
		}
		_, listed, ok := strings.Cut(a.Message, " names ")
		listed, _, found := strings.Cut(listed, ", not among the Node's addresses")
		if !ok || !found {
			t.Fatalf("cannot read the SANs of %q", a.Message)
		}
		out = append(out, strings.Split(listed, ", ")...)
	}
	slices.Sort(out)
	return out
}
