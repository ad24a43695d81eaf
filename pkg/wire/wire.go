package wire

// Labels and annotations nodetrust puts on CSRs it leaves for a human.
const (
	// LabelReview marks a CSR waiting for manual review; its value is
	// ReviewRequired.
	LabelReview = "nodetrust.io/review"
	// ReviewRequired is LabelReview's value.
	ReviewRequired = "required"
	// AnnotationReviewReason holds the reason code a CSR was queued for review.
	AnnotationReviewReason = "nodetrust.io/review-reason"
	// AnnotationReviewMessage holds the human explanation of the review.
	AnnotationReviewMessage = "nodetrust.io/review-message"
	// AnnotationReviewPolicy names the policy that asked for the review.
	AnnotationReviewPolicy = "nodetrust.io/review-policy"
)

// Labels of NodeCertificate records, for selecting them.
const (
	// LabelNode is the record's node name, when it fits in a label value.
	LabelNode = "nodetrust.io/node"
	// LabelKind is "client" or "serving".
	LabelKind = "nodetrust.io/kind"
)

// Labels and keys of the objects nodetrust creates, such as the CA bundle
// ConfigMaps.
const (
	// LabelManagedBy marks the objects nodetrust creates; the manager's cache
	// only holds ConfigMaps with it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "nodetrust"
	// LabelSigner names the NodeCertificateSigner a CA bundle belongs to.
	LabelSigner = "nodetrust.io/signer"
	// CABundleKey is the ConfigMap key that holds the PEM bundle.
	CABundleKey = "ca.crt"
)

// CABundleName is the name of the ConfigMap in the signer namespace that
// holds the CAs NodeCertificateSigner signer trusts.
func CABundleName(signer string) string { return signer + "-ca-bundle" }

// Field managers nodetrust writes CSRs with.
const (
	// ApproverFieldManager writes approvals, denials and review markers.
	ApproverFieldManager = "nodetrust-approver"
	// SignerFieldManager writes certificates and Failed conditions.
	SignerFieldManager = "nodetrust-signer"
)

// Reasons of the conditions nodetrust writes on CSRs, besides the reason
// codes of its policy decisions (pkg/policy).
const (
	// ReasonAutoApproved is the reason of every Approved condition a
	// nodetrust policy wrote.
	ReasonAutoApproved = "AutoApproved"
	// ReasonSignerValidationFailure is the reason of the Failed condition of
	// a CSR that breaks the signer's rules although it was approved.
	ReasonSignerValidationFailure = "SignerValidationFailure"
)

// Reasons of the Events nodetrust emits. They are CamelCase and stable:
// alerts and runbooks select them.
const (
	// EventApproved: the approval controller approved a CSR.
	EventApproved = "Approved"
	// EventDenied: the approval controller denied a CSR.
	EventDenied = "Denied"
	// EventReviewRequired: a CSR was queued for manual review.
	EventReviewRequired = "ReviewRequired"
	// EventNoMatchingPolicy: no valid policy governs a kubelet CSR.
	EventNoMatchingPolicy = "NoMatchingPolicy"
	// EventAwaitingNode: a serving CSR waits for its Node to register.
	EventAwaitingNode = "AwaitingNode"
	// EventAwaitingSigner: an approval waits for its NodeCertificateSigner.
	EventAwaitingSigner = "AwaitingSigner"
	// EventEvaluationError: a CSR could not be evaluated (e.g. DNS failed);
	// it is retried.
	EventEvaluationError = "EvaluationError"
	// EventCertificateIssued: a certificate was issued, on the CSR by the
	// signing controller and on the Node by the record controller.
	EventCertificateIssued = "CertificateIssued"
	// EventSigningFailed: signing failed, for now or for good.
	EventSigningFailed = "SigningFailed"
)
