package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CertificateKind says what a kubelet certificate is for.
// +kubebuilder:validation:Enum=Client;Serving
type CertificateKind string

// The kinds of kubelet certificate.
const (
	// CertificateClient is a kubelet client certificate
	// (kubernetes.io/kube-apiserver-client-kubelet).
	CertificateClient CertificateKind = "Client"
	// CertificateServing is a kubelet serving certificate
	// (kubernetes.io/kubelet-serving).
	CertificateServing CertificateKind = "Serving"
)

// Actor says who took a step: nodetrust or someone else.
// +kubebuilder:validation:Enum=nodetrust;external
type Actor string

// The actors of a record.
const (
	// ActorNodetrust is nodetrust itself.
	ActorNodetrust Actor = "nodetrust"
	// ActorExternal is anyone else: a person with kubectl, another
	// approver, kube-controller-manager's signer.
	ActorExternal Actor = "external"
)

// NodeCertificateSpec is what is known about one issued kubelet
// certificate. It is written once and never changes.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a NodeCertificate record is immutable"
type NodeCertificateSpec struct {
	// NodeName is the node the certificate is for, from its CN.
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`
	// Kind is Client or Serving.
	Kind CertificateKind `json:"kind"`
	// SignerName is the CSR's spec.signerName.
	// +kubebuilder:validation:MaxLength=571
	SignerName string `json:"signerName"`
	// SerialNumber of the certificate, in lower-case hex.
	// +kubebuilder:validation:MaxLength=64
	SerialNumber string `json:"serialNumber"`
	// SHA256Fingerprint of the certificate, as upper-case hex bytes
	// separated by colons.
	// +kubebuilder:validation:MaxLength=95
	SHA256Fingerprint string `json:"sha256Fingerprint"`
	// Subject of the certificate.
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject"`
	// Issuer of the certificate (the CA's subject).
	// +kubebuilder:validation:MaxLength=1024
	Issuer string `json:"issuer"`
	// DNSNames are the certificate's DNS SANs.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	// +optional
	DNSNames []string `json:"dnsNames,omitempty"`
	// IPAddresses are the certificate's IP SANs.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	IPAddresses []string `json:"ipAddresses,omitempty"`
	// NotBefore and NotAfter bound the certificate's validity.
	NotBefore metav1.Time `json:"notBefore"`
	NotAfter  metav1.Time `json:"notAfter"`
	// CSR is the request the certificate was issued for.
	CSR CSRReference `json:"csr"`
	// Requester is who asked for the certificate, as the API server recorded it.
	Requester Requester `json:"requester"`
	// Approval is who let the request through, and why.
	Approval Approval `json:"approval"`
	// Issuance is who signed the certificate.
	Issuance Issuance `json:"issuance"`
}

// CSRReference names a CertificateSigningRequest.
type CSRReference struct {
	// Name of the CSR. CSRs are deleted an hour after issuance; the record stays.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// UID of the CSR.
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid"`
	// CreationTimestamp of the CSR.
	CreationTimestamp metav1.Time `json:"creationTimestamp"`
}

// Requester is the identity that created a CSR.
type Requester struct {
	// Username is spec.username of the CSR.
	// +kubebuilder:validation:MaxLength=512
	Username string `json:"username"`
	// Groups are spec.groups of the CSR.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	// +optional
	Groups []string `json:"groups,omitempty"`
	// BootstrapTokenID is the token ID of a system:bootstrap:<id> requester.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	BootstrapTokenID string `json:"bootstrapTokenID,omitempty"`
}

// Approval says who approved a CSR and why.
type Approval struct {
	// By is nodetrust when nodetrust's approval controller approved the
	// request, as the proof in the Approved condition's message shows
	// (verified with the manager's approval key), external otherwise,
	// whatever the condition's reason and message say.
	By Actor `json:"by"`
	// Policy is the NodeCertificatePolicy that approved, when By is nodetrust.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Policy string `json:"policy,omitempty"`
	// Reason is the Approved condition's reason.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is the Approved condition's message.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Message string `json:"message,omitempty"`
	// Time of the approval, when known.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// Issuance says who signed a certificate.
type Issuance struct {
	// By is nodetrust when one of nodetrust's signers issued the
	// certificate, external otherwise (e.g. kube-controller-manager).
	By Actor `json:"by"`
	// Signer is the NodeCertificateSigner that signed, when By is nodetrust.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Signer string `json:"signer,omitempty"`
}

// NodeCertificate is the durable record of one kubelet certificate issued
// through a CSR, whoever approved and signed it. nodetrust creates it when
// the certificate appears in the CSR's status and deletes it a retention
// period after the certificate expired.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=nc,categories=nodetrust
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.kind`
// +kubebuilder:printcolumn:name="Serial",type=string,JSONPath=`.spec.serialNumber`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.spec.notAfter`
// +kubebuilder:printcolumn:name="Approved By",type=string,JSONPath=`.spec.approval.by`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.approval.policy`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the record.
	Spec NodeCertificateSpec `json:"spec"`
}

// NodeCertificateList is a list of NodeCertificate.
// +kubebuilder:object:root=true
type NodeCertificateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeCertificate `json:"items"`
}
