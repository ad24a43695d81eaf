package wire

import certificatesv1 "k8s.io/api/certificates/v1"

// How nodetrust marks a CSR it leaves for a human. The condition is the
// mark: it is written through the /status subresource, which a requester
// cannot write, and the API server drops any status a CSR is created with.
// The label only lets kubectl select the CSRs; a requester can set it
// itself, so a label without the condition means nothing (see ReviewOf).
const (
	// ConditionReviewRequired is the condition nodetrust sets, status True,
	// on a CSR it queued for review; its reason is the decision's reason
	// code and its message says why and which policy asked (ReviewMessage).
	ConditionReviewRequired certificatesv1.RequestConditionType = "nodetrust.io/ReviewRequired"
	// LabelReview selects the CSRs queued for review; its value is
	// ReviewRequired.
	LabelReview = "nodetrust.io/review"
	// ReviewRequired is LabelReview's value.
	ReviewRequired = "required"
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

// Keys of the approval key Secret, in the signer namespace, that holds the
// key nodetrust proves its approvals with (see ApprovalProver). The manager
// creates it with a random key when it is missing.
const (
	// ApprovalKeySecretKey holds the current key, which proves new
	// approvals: at least 32 bytes, random.
	ApprovalKeySecretKey = "key"
	// ApprovalPreviousKeySecretKey optionally holds the key rotated out,
	// whose proofs still verify.
	ApprovalPreviousKeySecretKey = "previous"
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

// MaxEventNoteBytes is the longest Event note the API server accepts
// (events.k8s.io/v1); nodetrust cuts its notes to it.
const MaxEventNoteBytes = 1024

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
	// EventSignerNameConflict: a NodeCertificateSigner stands down because
	// another one that could sign claims its signer name.
	EventSignerNameConflict = "SignerNameConflict"
)
