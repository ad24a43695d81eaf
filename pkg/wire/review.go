package wire

import (
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/pkg/csrstate"
)

// Review is why nodetrust queued a CSR for a human.
type Review struct {
	// Reason is the decision's reason code.
	Reason string
	// Message explains the decision.
	Message string
	// Policy names the policy that asked for the review.
	Policy string
}

// reviewPolicySuffix ends a review condition's message, before the policy
// name and a closing parenthesis.
const reviewPolicySuffix = " (policy "

// ReviewMessage is the message of the ConditionReviewRequired condition
// for a review that policy asked for, explained by message.
func ReviewMessage(message, policy string) string {
	return message + reviewPolicySuffix + policy + ")"
}

// ReviewOf returns the review nodetrust queued csr for, read from its
// ConditionReviewRequired condition, and false when csr carries none or is
// decided already. Labels and annotations play no part: a requester could
// have set them.
func ReviewOf(csr *certificatesv1.CertificateSigningRequest) (Review, bool) {
	c, ok := csrstate.Condition(csr, ConditionReviewRequired)
	if !ok || csrstate.Decided(csr) {
		return Review{}, false
	}
	r := Review{Reason: c.Reason, Message: c.Message}
	if i := strings.LastIndex(c.Message, reviewPolicySuffix); i >= 0 && strings.HasSuffix(c.Message, ")") {
		if name := c.Message[i+len(reviewPolicySuffix) : len(c.Message)-1]; len(validation.IsDNS1123Subdomain(name)) == 0 {
			r.Message, r.Policy = c.Message[:i], name
		}
	}
	return r, true
}
