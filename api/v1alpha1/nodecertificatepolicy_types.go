package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RequestKind names one of the three kinds of kubelet certificate request.
// +kubebuilder:validation:Enum=ClientBootstrap;ClientRenewal;Serving
type RequestKind string

const (
	// KindClientBootstrap is a kubelet client certificate requested with a
	// bootstrap token (signer kubernetes.io/kube-apiserver-client-kubelet,
	// requester system:bootstrap:<token-id>).
	KindClientBootstrap RequestKind = "ClientBootstrap"
	// KindClientRenewal is a kubelet client certificate requested by the node
	// itself (same signer, requester system:node:<name>).
	KindClientRenewal RequestKind = "ClientRenewal"
	// KindServing is a kubelet serving certificate (signer
	// kubernetes.io/kubelet-serving, requester system:node:<name>).
	KindServing RequestKind = "Serving"
)

// Action is what a policy does with a request that passes its rules.
// +kubebuilder:validation:Enum=Approve;Review
type Action string

const (
	// ActionApprove approves the request.
	ActionApprove Action = "Approve"
	// ActionReview leaves the request pending for a human, labelled for review.
	ActionReview Action = "Review"
)

// ServingAction is what a policy does with a serving request that passes
// its rules.
// +kubebuilder:validation:Enum=Approve;Review;ApproveAndSign
type ServingAction string

const (
	// ServingApprove approves the request; whichever signer serves
	// kubernetes.io/kubelet-serving in the cluster issues the certificate.
	ServingApprove ServingAction = "Approve"
	// ServingReview leaves the request pending for a human, labelled for review.
	ServingReview ServingAction = "Review"
	// ServingApproveAndSign approves the request once the NodeCertificateSigner
	// named in serving.signer is Ready, and that signer issues the certificate.
	ServingApproveAndSign ServingAction = "ApproveAndSign"
)

// ViolationAction is what a policy does with a request that breaks one of its rules.
// +kubebuilder:validation:Enum=Deny;Review
type ViolationAction string

const (
	// ViolationDeny denies the request.
	ViolationDeny ViolationAction = "Deny"
	// ViolationReview leaves the request pending for a human, labelled for review.
	ViolationReview ViolationAction = "Review"
)

// AddressChangeAction is what a policy does with a serving request that asks
// for an address the node did not hold when nodetrust last issued it a
// serving certificate.
// +kubebuilder:validation:Enum=Review;Deny;Approve
type AddressChangeAction string

const (
	// AddressChangeReview leaves the request pending for a human, labelled
	// for review, with the old and new addresses in the message.
	AddressChangeReview AddressChangeAction = "Review"
	// AddressChangeDeny breaks the policy (see onViolation).
	AddressChangeDeny AddressChangeAction = "Deny"
	// AddressChangeApprove decides the request as if the addresses had not
	// changed, for clusters whose node addresses churn.
	AddressChangeApprove AddressChangeAction = "Approve"
)

// NodeNamePlaceholder stands for the requesting node's name in
// serving.dnsNameTemplates.
const NodeNamePlaceholder = "{node}"

// ECDSACurve names an elliptic curve.
// +kubebuilder:validation:Enum=P256;P384;P521
type ECDSACurve string

// ECDSA curves a policy may allow.
const (
	CurveP256 ECDSACurve = "P256"
	CurveP384 ECDSACurve = "P384"
	CurveP521 ECDSACurve = "P521"
)

// Defaults applied by the policy engine when a field is omitted.
const (
	// DefaultMaxExpirationSeconds is one year.
	DefaultMaxExpirationSeconds int32 = 365 * 24 * 60 * 60
	// DefaultRSAMinBits is the smallest RSA modulus allowed by default.
	DefaultRSAMinBits int32 = 2048
	// DefaultRSAMaxBits is the largest RSA modulus allowed by default.
	DefaultRSAMaxBits int32 = 8192
	// DefaultMaxDNSNames caps the DNS SANs of a serving request by default.
	DefaultMaxDNSNames int32 = 10
	// DefaultMaxIPAddresses caps the IP SANs of a serving request by default.
	DefaultMaxIPAddresses int32 = 10
)

// NodeCertificatePolicySpec says which kubelet certificate requests a policy
// governs and how it decides them. See docs/policy.md.
// +kubebuilder:validation:XValidation:rule="!has(self.clientBootstrap) || !has(self.selector) || !has(self.selector.nodeSelector)",message="selector.nodeSelector cannot match client bootstrap requests, whose Node does not exist yet; split the policy"
type NodeCertificatePolicySpec struct {
	// Selector narrows the requests this policy governs. An empty selector
	// matches every kubelet request of the kinds the policy has rules for.
	// +optional
	Selector RequestSelector `json:"selector,omitempty"`

	// ClientBootstrap holds the rules for client certificates requested with a
	// bootstrap token. Omitted: the policy does not govern such requests.
	// +optional
	ClientBootstrap *ClientBootstrapRules `json:"clientBootstrap,omitempty"`

	// ClientRenewal holds the rules for client certificates renewed by a node.
	// Omitted: the policy does not govern such requests.
	// +optional
	ClientRenewal *ClientRenewalRules `json:"clientRenewal,omitempty"`

	// Serving holds the rules for kubelet serving certificates.
	// Omitted: the policy does not govern such requests.
	// +optional
	Serving *ServingRules `json:"serving,omitempty"`

	// Keys lists the public keys a request may carry. Omitted: RSA 2048-8192
	// bits, ECDSA P-256 and P-384, and Ed25519.
	// +optional
	Keys *KeyRules `json:"keys,omitempty"`

	// MaxExpirationSeconds is the largest spec.expirationSeconds a request may
	// ask for; larger requests break the policy. Requests that leave
	// expirationSeconds unset get the signer's default duration.
	// Omitted: 31536000 (one year).
	// +kubebuilder:validation:Minimum=600
	// +optional
	MaxExpirationSeconds *int32 `json:"maxExpirationSeconds,omitempty"`

	// OnViolation is what happens to a request this policy governs that breaks
	// one of its rules: Deny (the default) or Review.
	// +kubebuilder:default=Deny
	// +optional
	OnViolation ViolationAction `json:"onViolation,omitempty"`
}

// RequestSelector narrows the requests a policy governs. All set fields must match.
type RequestSelector struct {
	// Groups, when set, requires the requester to be a member of at least one
	// of these groups, e.g. a bootstrap token's extra group
	// system:bootstrappers:pool-a.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Groups []string `json:"groups,omitempty"`

	// NodeNamePattern, when set, is an RE2 regular expression that the whole
	// node name must match, e.g. "pool-a-[0-9]+".
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NodeNamePattern string `json:"nodeNamePattern,omitempty"`

	// NodeSelector, when set, requires the requesting Node to exist and carry
	// matching labels. It applies to renewal and serving requests only: a
	// policy with a nodeSelector cannot have clientBootstrap rules.
	// Use labels a kubelet cannot set on its own Node (under
	// node-restriction.kubernetes.io/): a policy whose nodeSelector reads any
	// other label is not Ready, unless trustNodeWritableLabels is set.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// TrustNodeWritableLabels lets nodeSelector read labels a kubelet may set
	// on its own Node. Such a node can then choose the policy that governs
	// it; set this only when every policy such a node could select is one
	// you would let it have.
	// +optional
	TrustNodeWritableLabels bool `json:"trustNodeWritableLabels,omitempty"`
}

// ClientBootstrapRules govern client certificates requested with a bootstrap token.
// The token must still be valid when the request is decided: its Secret
// exists, is not being deleted, has not expired and allows authentication.
type ClientBootstrapRules struct {
	// Action for requests that pass every rule: Approve (the default) or Review.
	// +kubebuilder:default=Approve
	// +optional
	Action Action `json:"action,omitempty"`

	// AllowedNodeNamePattern, when set, is an RE2 regular expression that the
	// whole requested node name must match; other names break the policy.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	AllowedNodeNamePattern string `json:"allowedNodeNamePattern,omitempty"`

	// AllowRejoin lets a bootstrap token obtain a certificate for the name of
	// a Node that already exists. Off by default: with it on, any holder of a
	// matching token can take over that node's identity.
	// +optional
	AllowRejoin bool `json:"allowRejoin,omitempty"`

	// MaxRequestAge, when set, breaks the policy for requests older than this
	// when they are decided, e.g. "15m".
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	MaxRequestAge *metav1.Duration `json:"maxRequestAge,omitempty"`
}

// ClientRenewalRules govern client certificates renewed by a node with its
// current certificate. The CN must always equal the requester.
type ClientRenewalRules struct {
	// Action for requests that pass every rule: Approve (the default) or Review.
	// +kubebuilder:default=Approve
	// +optional
	Action Action `json:"action,omitempty"`

	// RequireNode breaks the policy for renewals by nodes that have no Node object.
	// +optional
	RequireNode bool `json:"requireNode,omitempty"`
}

// ServingRules govern kubelet serving certificates. The CN must always equal
// the requester, and the requesting Node must exist: requests that arrive
// before their Node registers wait for it. Every IP SAN must be one of the
// Node's status.addresses or be inside allowedIPRanges. Every DNS SAN must be
// the node's name, a name dnsNameTemplates ties to the node, a DNS address
// the Node reports inside nodeReportedDNSDomains, or one of allowedDNSNames.
// No SAN may be another Node's address or an in-cluster name or IP, whatever
// this policy says. See docs/policy.md.
// +kubebuilder:validation:XValidation:rule="has(self.signer) == (has(self.action) && self.action == 'ApproveAndSign')",message="signer is required with action ApproveAndSign and allowed only with it"
type ServingRules struct {
	// Action for requests that pass every rule: Approve, Review (the
	// default) or ApproveAndSign.
	// +kubebuilder:default=Review
	// +optional
	Action ServingAction `json:"action,omitempty"`

	// Signer names the NodeCertificateSigner that signs requests this policy
	// approves; required with action ApproveAndSign. Requests wait, pending,
	// while that signer is not Ready.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Signer string `json:"signer,omitempty"`

	// DNSNameTemplates are DNS names tied to the requesting node: each entry
	// holds "{node}" once, as whole labels, and a node may claim the entry
	// with "{node}" replaced by its own name, e.g. "{node}.nodes.example.com".
	// A name that another template (of any policy) ties to another node is
	// denied.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	DNSNameTemplates []string `json:"dnsNameTemplates,omitempty"`

	// NodeReportedDNSDomains are DNS domains in which a DNS address the Node
	// reports in status.addresses (Hostname, InternalDNS, ExternalDNS) may be
	// claimed: the name must equal a domain or lie under it. A kubelet
	// writes its own Node status, so choose domains whose names no other
	// node's kubelet can pass off as its own. Names outside these domains
	// that a Node reports are not enough.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	NodeReportedDNSDomains []string `json:"nodeReportedDNSDomains,omitempty"`

	// AllowedDNSNames are extra DNS SANs any node this policy governs may
	// claim. Each entry is an exact name or a pattern whose leading "*."
	// stands for exactly one label, e.g. "*.nodes.example.com". These names
	// are not tied to one node: under "*.nodes.example.com" every node may
	// claim every sibling's name, which the policy's DNSNamesTiedToNode
	// condition says. Prefer dnsNameTemplates. Patterns only allow names;
	// wildcard SANs in requests are always denied.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	AllowedDNSNames []string `json:"allowedDNSNames,omitempty"`

	// AllowedIPRanges are CIDRs of extra IP SANs a node may claim beyond its
	// addresses, e.g. "10.0.0.0/8".
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +optional
	AllowedIPRanges []string `json:"allowedIPRanges,omitempty"`

	// AllowLoopback permits loopback IP SANs (127.0.0.0/8, ::1) that the Node
	// reports among its addresses. Meant for single-machine test clusters.
	// +optional
	AllowLoopback bool `json:"allowLoopback,omitempty"`

	// MaxDNSNames caps the number of DNS SANs. Omitted: 10.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxDNSNames *int32 `json:"maxDNSNames,omitempty"`

	// MaxIPAddresses caps the number of IP SANs. Omitted: 10.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxIPAddresses *int32 `json:"maxIPAddresses,omitempty"`

	// ResolveDNSNames requires every DNS SAN to resolve, through the
	// manager's resolver, only to IP addresses of the Node. Off by default.
	// +optional
	ResolveDNSNames bool `json:"resolveDNSNames,omitempty"`

	// OnAddressChange is what happens to a request that asks for a SAN the
	// node did not hold when nodetrust last issued it a serving certificate:
	// Review (the default), Deny, or Approve for clusters whose node
	// addresses churn. A node's first serving certificate is not a change.
	// +kubebuilder:default=Review
	// +optional
	OnAddressChange AddressChangeAction `json:"onAddressChange,omitempty"`
}

// KeyRules list the public keys a request may carry. Absent members allow nothing.
type KeyRules struct {
	// RSA allows RSA keys whose modulus size is within the range.
	// +optional
	RSA *RSAKeyRule `json:"rsa,omitempty"`

	// ECDSACurves allows ECDSA keys on these curves.
	// +listType=set
	// +optional
	ECDSACurves []ECDSACurve `json:"ecdsaCurves,omitempty"`

	// Ed25519 allows Ed25519 keys.
	// +optional
	Ed25519 bool `json:"ed25519,omitempty"`
}

// RSAKeyRule bounds RSA modulus sizes. Keys below 2048 bits are always denied.
// +kubebuilder:validation:XValidation:rule="self.minBits <= self.maxBits",message="minBits must not exceed maxBits"
type RSAKeyRule struct {
	// MinBits is the smallest modulus allowed.
	// +kubebuilder:default=2048
	// +kubebuilder:validation:Minimum=2048
	// +kubebuilder:validation:Maximum=8192
	// +optional
	MinBits int32 `json:"minBits,omitempty"`

	// MaxBits is the largest modulus allowed.
	// +kubebuilder:default=8192
	// +kubebuilder:validation:Minimum=2048
	// +kubebuilder:validation:Maximum=8192
	// +optional
	MaxBits int32 `json:"maxBits,omitempty"`
}

// ConditionReady is the condition type that says whether a policy is in use
// or a signer signs. A policy is Ready=False, with reason InvalidPolicy and a
// message, when its spec cannot be compiled; such a policy never approves
// anything. A signer that is not Ready signs nothing.
const ConditionReady = "Ready"

// Condition reasons of a NodeCertificatePolicy.
const (
	// ReasonPolicyValid says the policy compiled and is in use.
	ReasonPolicyValid = "PolicyValid"
	// ReasonInvalidPolicy says the policy could not be compiled and is ignored.
	ReasonInvalidPolicy = "InvalidPolicy"
	// ReasonNodeWritableSelector says the policy is ignored because its
	// nodeSelector reads labels a kubelet may set on its own Node.
	ReasonNodeWritableSelector = "NodeWritableSelector"
)

// ConditionDNSNamesTiedToNode is the condition type that says whether every
// DNS name a policy's serving rules allow is tied to one node. It is False,
// with reason UntiedDNSNames, when serving.allowedDNSNames is set: any node
// the policy governs may then claim those names, a sibling's included.
const ConditionDNSNamesTiedToNode = "DNSNamesTiedToNode"

// Reasons of the DNSNamesTiedToNode condition.
const (
	// ReasonTiedDNSNames says every DNS name the policy allows is tied to one node.
	ReasonTiedDNSNames = "TiedToNode"
	// ReasonUntiedDNSNames says serving.allowedDNSNames lets any governed
	// node claim the same names.
	ReasonUntiedDNSNames = "UntiedDNSNames"
)

// NodeCertificatePolicyStatus is the observed state of a NodeCertificatePolicy.
type NodeCertificatePolicyStatus struct {
	// Conditions of the policy; Ready says whether it is in use.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodeCertificatePolicy is a cluster-scoped approval policy for kubelet
// certificate signing requests.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ncp,categories=nodetrust
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Bootstrap",type=string,JSONPath=`.spec.clientBootstrap.action`
// +kubebuilder:printcolumn:name="Renewal",type=string,JSONPath=`.spec.clientRenewal.action`
// +kubebuilder:printcolumn:name="Serving",type=string,JSONPath=`.spec.serving.action`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeCertificatePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which requests the policy governs and how it decides them.
	Spec NodeCertificatePolicySpec `json:"spec"`

	// Status reports whether the policy is in use.
	// +optional
	Status NodeCertificatePolicyStatus `json:"status,omitempty"`
}

// NodeCertificatePolicyList is a list of NodeCertificatePolicy.
// +kubebuilder:object:root=true
type NodeCertificatePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeCertificatePolicy `json:"items"`
}
