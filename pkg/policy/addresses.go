package policy

import (
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// NodeAddresses are the addresses a Node reports in status.addresses, in the
// form a certificate's SANs are compared with. It is nodetrust's one answer
// to "is this SAN one of the Node's addresses?": approval denies a serving
// SAN the Node does not own (SANNotOwnedByNode, unless the policy allows it
// otherwise) and the audit reports a current serving certificate with one
// (san-mismatch), both by asking it.
//
// A DNS SAN is owned when it is the Node's name (metadata.name, which the
// API server fixed when the Node registered) or through a Hostname,
// InternalDNS or ExternalDNS address (which the kubelet reports, a claim),
// compared as CanonicalDNSName; an IP SAN through an InternalIP or
// ExternalIP address that parses as an IP, compared as CanonicalIP. An
// address of one family never owns a SAN of the other (an InternalIP does
// not own the DNS SAN spelling it), and addresses of other types own
// nothing. The zero value owns nothing.
type NodeAddresses struct {
	name     string
	dnsNames map[string]bool
	ips      []net.IP
}

// NodeAddressesOf returns the addresses of node: its name and what it
// reports. A nil node has none.
func NodeAddressesOf(node *corev1.Node) NodeAddresses {
	a := NodeAddresses{dnsNames: map[string]bool{}}
	if node == nil {
		return a
	}
	a.name = CanonicalDNSName(node.Name)
	for _, addr := range node.Status.Addresses {
		switch addr.Type {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			a.dnsNames[CanonicalDNSName(addr.Address)] = true
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(addr.Address); ip != nil {
				a.ips = append(a.ips, CanonicalIP(ip))
			}
		}
	}
	return a
}

// OwnsDNSName reports whether name is the Node's name or one of its
// DNS-type addresses.
func (a NodeAddresses) OwnsDNSName(name string) bool {
	return a.IsNodeName(name) || a.ReportsDNSName(name)
}

// IsNodeName reports whether name is the Node's own name.
func (a NodeAddresses) IsNodeName(name string) bool {
	return a.name != "" && CanonicalDNSName(name) == a.name
}

// ReportsDNSName reports whether name is one of the DNS-type addresses the
// Node reports in status.addresses: what its kubelet says about itself.
func (a NodeAddresses) ReportsDNSName(name string) bool {
	return a.dnsNames[CanonicalDNSName(name)]
}

// OwnsIP reports whether ip is one of the Node's IP-type addresses. No Node
// owns a nil or malformed IP.
func (a NodeAddresses) OwnsIP(ip net.IP) bool {
	canon := CanonicalIP(ip)
	return canon != nil && slices.ContainsFunc(a.ips, canon.Equal)
}

// CanonicalDNSName lower-cases name and drops one trailing dot, so that names
// compare as DNS compares them.
func CanonicalDNSName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// CanonicalIP returns ip in its 16-byte form with IPv4-mapped IPv6 addresses
// folded onto IPv4, so that equal addresses compare equal with bytes.Equal.
func CanonicalIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4.To16()
	}
	return ip.To16()
}

// DNSNameKey is the key a DNS name is indexed and compared by, across
// Nodes: "dns:" and its canonical form.
func DNSNameKey(name string) string { return "dns:" + CanonicalDNSName(name) }

// IPKey is the key an IP address is indexed and compared by, across Nodes:
// "ip:" and its canonical form.
func IPKey(ip net.IP) string { return "ip:" + CanonicalIP(ip).String() }

// Keys returns the keys (DNSNameKey, IPKey) of every address the Node owns,
// sorted.
func (a NodeAddresses) Keys() []string {
	keys := make([]string, 0, 1+len(a.dnsNames)+len(a.ips))
	if a.name != "" {
		keys = append(keys, "dns:"+a.name)
	}
	for name := range a.dnsNames {
		keys = append(keys, "dns:"+name)
	}
	for _, ip := range a.ips {
		keys = append(keys, IPKey(ip))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// SANKeys returns the keys of every DNS and IP SAN of csr, sorted.
func SANKeys(csr *pkcs10.Request) []string {
	if csr == nil {
		return nil
	}
	return AddressKeys(csr.DNSNames, csr.IPAddresses)
}

// AddressKeys returns the keys (DNSNameKey, IPKey) of the DNS names and
// IPs, sorted and without repeats.
func AddressKeys(dnsNames []string, ips []net.IP) []string {
	keys := make([]string, 0, len(dnsNames)+len(ips))
	for _, name := range dnsNames {
		keys = append(keys, DNSNameKey(name))
	}
	for _, ip := range ips {
		keys = append(keys, IPKey(ip))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// foreignSANs returns a violation for each SAN of r that is another node's:
// reported by another Node, or tied to another node by a template of any
// of the policies. Approval and signing both refuse them.
func foreignSANs(r *Request, facts Facts, policies []*Compiled) Violations {
	return append(claimedByOtherNodes(r, facts), tiedToOtherNodes(r, policies)...)
}

// claimedByOtherNodes returns a violation for each SAN of r that another
// Node reports as its own address (facts.OtherNodeAddresses): a node must
// never get a certificate for another node's name or IP, whatever it
// reports about itself and whatever a policy allows.
func claimedByOtherNodes(r *Request, facts Facts) Violations {
	if r.Kind != v1alpha1.KindServing || r.CSR == nil || len(facts.OtherNodeAddresses) == 0 {
		return nil
	}
	var v Violations
	for _, name := range r.CSR.DNSNames {
		if owners := facts.OtherNodeAddresses[DNSNameKey(name)]; len(owners) > 0 {
			v = append(v, Violation{Reason: ReasonSANOfAnotherNode, Message: fmt.Sprintf(
				"DNS SAN %q is an address of Node %q", name, owners[0])})
		}
	}
	for _, ip := range r.CSR.IPAddresses {
		if owners := facts.OtherNodeAddresses[IPKey(ip)]; len(owners) > 0 {
			v = append(v, Violation{Reason: ReasonSANOfAnotherNode, Message: fmt.Sprintf(
				"IP SAN %s is an address of Node %q", ip, owners[0])})
		}
	}
	return v
}
