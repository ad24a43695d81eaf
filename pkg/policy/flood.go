package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// Reason codes of flood protection.
const (
	ReasonSuperseded             = "Superseded"
	ReasonTooManyPendingRequests = "TooManyPendingRequests"
)

// PendingCSR is what flood protection needs of one pending CSR.
type PendingCSR struct {
	Name       string
	Created    time.Time
	SignerName string
	// CommonName is the subject CN, when known. When it is empty, CheckFlood
	// reads it from Request, and only for the requests it compares, so a
	// flood of N requests costs no N parses per decision.
	CommonName string
	// Request is spec.request, the PEM-encoded PKCS#10 request.
	Request []byte
}

// commonName returns p's CN, parsing the request when it is not known.
func (p PendingCSR) commonName() string {
	if p.CommonName != "" {
		return p.CommonName
	}
	return pkcs10.CommonNameOf(p.Request)
}

// CheckFlood decides whether self must be denied because its requester has
// too many pending requests or a newer one for the same CN and signer.
// pending holds every pending CSR of the same requester, self included.
// Requests are ranked oldest first; only the first maxPending are considered,
// and among those only the newest for each CN and signer. It returns false
// when self may be evaluated.
func CheckFlood(self PendingCSR, pending []PendingCSR, maxPending int) (Decision, bool) {
	ranked := slices.Clone(pending)
	if !slices.ContainsFunc(ranked, func(p PendingCSR) bool { return p.Name == self.Name }) {
		ranked = append(ranked, self)
	}
	slices.SortFunc(ranked, func(a, b PendingCSR) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
	})
	pos := slices.IndexFunc(ranked, func(p PendingCSR) bool { return p.Name == self.Name })
	if maxPending > 0 && pos >= maxPending {
		return Decision{Result: Deny, Reason: ReasonTooManyPendingRequests, Message: fmt.Sprintf(
			"the requester has %d pending requests; only the oldest %d are considered", len(ranked), maxPending)}, true
	}
	window := ranked
	if maxPending > 0 && len(window) > maxPending {
		window = window[:maxPending]
	}
	var selfCN *string
	for _, newer := range window[pos+1:] {
		if newer.SignerName != self.SignerName {
			continue
		}
		if selfCN == nil {
			cn := self.commonName()
			selfCN = &cn
		}
		if newer.commonName() == *selfCN {
			return Decision{Result: Deny, Reason: ReasonSuperseded, Message: fmt.Sprintf(
				"superseded by the newer request %s for the same common name and signer", newer.Name)}, true
		}
	}
	return Decision{}, false
}
