package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// ReasonAddressChanged is the reason of a serving request that asks for an
// address the node did not hold when nodetrust last issued it a serving
// certificate.
const ReasonAddressChanged = "AddressChanged"

// KnownAddresses are the addresses a node held when nodetrust last issued
// or approved a serving certificate for it: the SANs of that certificate.
type KnownAddresses struct {
	// Keys are the keys (DNSNameKey, IPKey) of its SANs.
	Keys []string
	// Source names the record or CSR they were read from, for messages.
	Source string
	// At is when that certificate was issued or approved.
	At time.Time
}

// addressChangeOutcome applies onAddressChange to r: a violation under
// Deny, the message of a review under Review, nothing under Approve or when
// nothing changed.
func (s *compiledServing) addressChangeOutcome(r *Request, known *KnownAddresses) (Violations, string) {
	changed := addressChange(r, known)
	switch {
	case changed == "" || s.onAddressChange == v1alpha1.AddressChangeApprove:
		return nil, ""
	case s.onAddressChange == v1alpha1.AddressChangeDeny:
		return Violations{{Reason: ReasonAddressChanged, Message: changed}}, ""
	}
	return nil, changed
}

// maxListed bounds the addresses one list of an AddressChanged message names.
const maxListed = 5

// addressChange returns the AddressChanged message for r when it asks for
// a SAN not among known, and "" when it does not or nothing is known (a
// node's first serving certificate is trusted on first use).
func addressChange(r *Request, known *KnownAddresses) string {
	if known == nil {
		return ""
	}
	requested := SANKeys(r.CSR)
	added := slices.DeleteFunc(slices.Clone(requested), func(k string) bool { return slices.Contains(known.Keys, k) })
	if len(added) == 0 {
		return ""
	}
	return pkcs10.Truncate(fmt.Sprintf(
		"Node %q asks for addresses it did not hold when nodetrust last issued it a serving certificate (%s, %s): held [%s]; requested [%s]; new [%s]",
		r.NodeName, known.Source, known.At.UTC().Format(time.RFC3339),
		listed(known.Keys), listed(requested), listed(added)), pkcs10.MaxMessageBytes)
}

// listed joins at most maxListed keys, each quoted within maxQuoted, and
// counts the rest.
func listed(keys []string) string {
	shown := make([]string, 0, min(len(keys), maxListed))
	for _, k := range keys[:min(len(keys), maxListed)] {
		shown = append(shown, pkcs10.Truncate(k, maxQuoted))
	}
	out := strings.Join(shown, ", ")
	if len(keys) > maxListed {
		out += fmt.Sprintf(" and %d more", len(keys)-maxListed)
	}
	return out
}
