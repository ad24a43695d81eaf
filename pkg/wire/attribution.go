package wire

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// approvedByPolicy ends the message of every approval nodetrust writes,
// before the policy name.
const approvedByPolicy = "approved by policy "

// ApprovedMessage is the message of the Approved condition nodetrust writes
// when policy approves a request of kind for node.
func ApprovedMessage(kind, node, policy string) string {
	return kind + " request for node " + node + " " + approvedByPolicy + policy
}

// ApprovingPolicy returns the policy named by an Approved condition that
// nodetrust wrote: reason ReasonAutoApproved and a message ending in
// "approved by policy <name>" (see ApprovedMessage), and false for any
// other condition.
func ApprovingPolicy(reason, message string) (string, bool) {
	if reason != ReasonAutoApproved {
		return "", false
	}
	i := strings.LastIndex(message, approvedByPolicy)
	if i < 0 {
		return "", false
	}
	name := message[i+len(approvedByPolicy):]
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "", false
	}
	return name, true
}
