package audit

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// Relative says when t is as seen at now, to the precision people read:
// "in 12d", "3h ago", "now" when they are the same second.
func Relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d >= time.Second:
		return "in " + duration.HumanDuration(d)
	case d <= -time.Second:
		return duration.HumanDuration(-d) + " ago"
	default:
		return "now"
	}
}

// ShortDuration writes d the way flags accept it back: whole days as "30d",
// other durations as Go durations without zero units ("1h", "1h30m", "90s").
func ShortDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func itoa(n int) string { return strconv.Itoa(n) }

func kindText(kind v1alpha1.CertificateKind) string {
	switch kind {
	case v1alpha1.CertificateClient:
		return "client"
	case v1alpha1.CertificateServing:
		return "serving"
	default:
		return strings.ToLower(string(kind))
	}
}

func approvalReason(a v1alpha1.Approval) string {
	if a.Reason == "" {
		return ""
	}
	return " (approval reason " + a.Reason + ")"
}

// CanonicalDNS returns the form DNS names are compared in: lower case,
// without surrounding space or a trailing dot.
func CanonicalDNS(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// CanonicalIP returns the form IP addresses are compared in: parsed, with
// IPv4-mapped IPv6 addresses folded to IPv4 and zones dropped, printed the
// standard way. It returns false when ip does not parse.
func CanonicalIP(ip string) (string, bool) {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return "", false
	}
	return addr.Unmap().WithZone("").String(), true
}

// sansNotOwned returns the SANs of cert that are not among node's
// addresses, as "dns:<name>" and "ip:<address>" in the certificate's order.
// Every address is a candidate for DNS names, compared as text; addresses
// that parse as IPs are candidates for IP SANs.
func sansNotOwned(cert *Certificate, node *corev1.Node) []string {
	names, ips := map[string]bool{}, map[string]bool{}
	for _, a := range node.Status.Addresses {
		names[CanonicalDNS(a.Address)] = true
		if ip, ok := CanonicalIP(a.Address); ok {
			ips[ip] = true
		}
	}
	var extra []string
	for _, n := range cert.DNSNames {
		if !names[CanonicalDNS(n)] {
			extra = append(extra, "dns:"+n)
		}
	}
	for _, s := range cert.IPAddresses {
		if ip, ok := CanonicalIP(s); !ok || !ips[ip] {
			extra = append(extra, "ip:"+s)
		}
	}
	return extra
}

func addressesText(node *corev1.Node) string {
	if len(node.Status.Addresses) == 0 {
		return "it reports none"
	}
	parts := make([]string, 0, len(node.Status.Addresses))
	for _, a := range node.Status.Addresses {
		parts = append(parts, string(a.Type)+" "+a.Address)
	}
	return strings.Join(parts, ", ")
}
