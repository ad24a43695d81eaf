package policy

// Result is the outcome of evaluating a request.
type Result string

const (
	// Approve means the request may be approved.
	Approve Result = "Approve"
	// Deny means the request must be denied.
	Deny Result = "Deny"
	// Review means the request stays pending for a human decision.
	Review Result = "Review"
	// NoOpinion means nodetrust does not decide the request (yet): it is not
	// a kubelet request, no policy governs it, or a fact it needs is missing.
	NoOpinion Result = "NoOpinion"
)

// Reasons of decisions that are not rule violations. Rule violations carry
// their own reason codes (see Violation). An approval's reason is
// wire.ReasonAutoApproved: it is part of the wire contract, since it is how
// a record tells nodetrust's approvals from others.
const (
	// ReasonPolicyRequiresReview: a policy's action for this kind is Review.
	ReasonPolicyRequiresReview = "PolicyRequiresReview"
	// ReasonNoMatchingPolicy: no valid policy governs the request.
	ReasonNoMatchingPolicy = "NoMatchingPolicy"
	// ReasonAwaitingNode: a serving request whose Node has not registered yet.
	ReasonAwaitingNode = "AwaitingNode"
	// ReasonAwaitingSigner: the approving policy signs with a
	// NodeCertificateSigner that is not Ready for the request's signer name.
	ReasonAwaitingSigner = "AwaitingSigner"
)

// Decision is what nodetrust decided about one request and why. It is data:
// logged, put in Events and conditions, and compared in tests.
type Decision struct {
	Result Result
	// Reason is a CamelCase code, stable for alerting.
	Reason string
	// Message explains the decision to a human; it never holds internal error text.
	Message string
	// Policy names the NodeCertificatePolicy that decided, if any.
	Policy string
	// Signer names the NodeCertificateSigner that will sign an approved
	// request, when the policy's action is ApproveAndSign.
	Signer string
}

func noOpinion(reason, message string) Decision {
	return Decision{Result: NoOpinion, Reason: reason, Message: message}
}

func deny(v Violations, policy string) Decision {
	return Decision{Result: Deny, Reason: v.Reason(), Message: v.Message(), Policy: policy}
}
