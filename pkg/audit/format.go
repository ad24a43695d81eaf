package audit

import (
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/policy"
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

// sansNotOwned returns the SANs of cert that node does not own, as
// "dns:<name>" and "ip:<address>" in the certificate's order. Ownership is
// policy.NodeAddresses', the rule approval denies SANNotOwnedByNode by; an
// IP SAN that does not parse is owned by no Node.
func sansNotOwned(cert *Certificate, node *corev1.Node) []string {
	owned := policy.NodeAddressesOf(node)
	var extra []string
	for _, n := range cert.DNSNames {
		if !owned.OwnsDNSName(n) {
			extra = append(extra, "dns:"+n)
		}
	}
	for _, s := range cert.IPAddresses {
		if !owned.OwnsIP(net.ParseIP(s)) {
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
