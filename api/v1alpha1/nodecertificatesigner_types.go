package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultSignerName is spec.signerName when omitted; the CRD defaults it too.
const defaultSignerName = "kubernetes.io/kubelet-serving"

// DefaultSignerMaxExpirationSeconds is the longest validity a signer issues
// when its spec does not say: one year, as kube-controller-manager's
// --cluster-signing-duration.
const DefaultSignerMaxExpirationSeconds int32 = 365 * 24 * 60 * 60

// NodeCertificateSignerSpec says which CSRs a signer signs and where its CA is.
// Exactly one of secret, files and pkcs11 is set.
// +kubebuilder:validation:XValidation:rule="[has(self.secret), has(self.files), has(self.pkcs11)].filter(x, x).size() == 1",message="exactly one of secret, files and pkcs11 must be set"
type NodeCertificateSignerSpec struct {
	// SignerName is the spec.signerName of the CSRs this signer signs:
	// kubernetes.io/kubelet-serving (the default) or
	// kubernetes.io/kube-apiserver-client-kubelet. At most one Ready signer
	// serves a signer name; when several claim one, none of them signs.
	// +kubebuilder:validation:Enum=kubernetes.io/kubelet-serving;kubernetes.io/kube-apiserver-client-kubelet
	// +kubebuilder:default=kubernetes.io/kubelet-serving
	// +optional
	SignerName string `json:"signerName,omitempty"`

	// MaxExpirationSeconds caps the validity of every certificate this signer
	// issues, whatever the CSR or the policy asks. Omitted: one year.
	// +kubebuilder:validation:Minimum=600
	// +optional
	MaxExpirationSeconds *int32 `json:"maxExpirationSeconds,omitempty"`

	// AdditionalTrustedCAs are PEM-encoded CA certificates published in the
	// CA bundle beside the signer's own, e.g. the previous CA during a
	// rotation (see docs/signing.md).
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	AdditionalTrustedCAs string `json:"additionalTrustedCAs,omitempty"`

	// Secret keeps the CA in a kubernetes.io/tls Secret.
	// +optional
	Secret *SecretSignerSource `json:"secret,omitempty"`

	// Files reads the CA from files mounted into the manager's pods.
	// +optional
	Files *FilesSignerSource `json:"files,omitempty"`

	// PKCS11 keeps the CA key in a hardware security module.
	// +optional
	PKCS11 *PKCS11SignerSource `json:"pkcs11,omitempty"`
}

// SecretSignerSource names a kubernetes.io/tls Secret in the manager's
// signer namespace (--signer-namespace): tls.crt holds the CA certificate
// followed by its chain, tls.key its private key, and the optional ca.crt
// further CA certificates to trust.
type SecretSignerSource struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// FilesSignerSource names PEM files in the manager's pods, the layout of
// kube-controller-manager's --cluster-signing-cert-file and
// --cluster-signing-key-file. Paths must lie under the manager's
// --signer-files-dir.
type FilesSignerSource struct {
	// CertFile holds the CA certificate followed by its chain.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	CertFile string `json:"certFile"`
	// KeyFile holds the CA's private key (PKCS#8, PKCS#1 or SEC 1).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	KeyFile string `json:"keyFile"`
}

// PKCS11SignerSource selects a key and its CA certificate in a PKCS#11
// token. The module itself is set by the manager's --pkcs11-module flag,
// never by this object.
// +kubebuilder:validation:XValidation:rule="has(self.keyLabel) || has(self.keyID)",message="keyLabel or keyID must be set"
type PKCS11SignerSource struct {
	// TokenLabel is the label of the token holding the key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	TokenLabel string `json:"tokenLabel"`
	// KeyLabel is the CKA_LABEL of the private key and its certificate.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	KeyLabel string `json:"keyLabel,omitempty"`
	// KeyID is the CKA_ID of the private key and its certificate, in hex.
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{2})+$`
	// +kubebuilder:validation:MaxLength=256
	// +optional
	KeyID string `json:"keyID,omitempty"`
	// PIN is where the user PIN of the token is read from.
	PIN PINSource `json:"pin"`
}

// PINSource reads a PIN from a Secret key or a file. Exactly one is set.
// +kubebuilder:validation:XValidation:rule="has(self.secretKeyRef) != has(self.file)",message="exactly one of secretKeyRef and file must be set"
type PINSource struct {
	// SecretKeyRef is a key of a Secret in the manager's signer namespace.
	// +optional
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
	// File is a path under the manager's --signer-files-dir.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	File string `json:"file,omitempty"`
}

// SecretKeySelector selects a key of a Secret in the signer namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// Condition reasons of a NodeCertificateSigner's Ready condition.
const (
	// ReasonSignerReady says the CA loaded, its key matches and it is valid.
	ReasonSignerReady = "SignerReady"
	// ReasonCANotLoaded says the CA or its key could not be loaded or checked.
	ReasonCANotLoaded = "CANotLoaded"
	// ReasonBackendUnavailable says the manager was not started with what
	// this backend needs (--pkcs11-module, --signer-files-dir).
	ReasonBackendUnavailable = "BackendUnavailable"
	// ReasonSignerNameConflict says another NodeCertificateSigner claims the
	// same signer name, so neither signs.
	ReasonSignerNameConflict = "SignerNameConflict"
	// ReasonInvalidSpec says the spec cannot be used (e.g. a bad
	// additionalTrustedCAs or a path outside the allowed directory).
	ReasonInvalidSpec = "InvalidSpec"
)

// CAStatus describes the CA a signer currently issues with.
type CAStatus struct {
	// Subject of the issuing CA certificate.
	Subject string `json:"subject"`
	// SHA256Fingerprint of the issuing CA certificate, as upper-case hex
	// bytes separated by colons.
	SHA256Fingerprint string `json:"sha256Fingerprint"`
	// SerialNumber of the issuing CA certificate, in hex.
	SerialNumber string `json:"serialNumber"`
	// NotBefore and NotAfter bound the CA's validity.
	NotBefore metav1.Time `json:"notBefore"`
	NotAfter  metav1.Time `json:"notAfter"`
}

// CABundleStatus says where the signer's CA bundle is published.
type CABundleStatus struct {
	// Namespace and Name of the ConfigMap; its key ca.crt holds the bundle.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Certificates is how many CA certificates the bundle holds.
	Certificates int32 `json:"certificates"`
}

// NodeCertificateSignerStatus is the observed state of a NodeCertificateSigner.
type NodeCertificateSignerStatus struct {
	// Conditions of the signer; Ready says whether it signs.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// CA describes the issuing CA, when it could be loaded.
	// +optional
	CA *CAStatus `json:"ca,omitempty"`
	// CABundle says where the trusted CAs are published.
	// +optional
	CABundle *CABundleStatus `json:"caBundle,omitempty"`
}

// NodeCertificateSigner is a cluster-scoped CA that signs approved kubelet
// CSRs of one signer name.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ncs,categories=nodetrust
// +kubebuilder:printcolumn:name="Signer Name",type=string,JSONPath=`.spec.signerName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="CA Expires",type=date,JSONPath=`.status.ca.notAfter`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeCertificateSigner struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what the signer signs and with which CA.
	Spec NodeCertificateSignerSpec `json:"spec"`

	// Status reports whether the signer signs and with which CA.
	// +optional
	Status NodeCertificateSignerStatus `json:"status,omitempty"`
}

// NodeCertificateSignerList is a list of NodeCertificateSigner.
// +kubebuilder:object:root=true
type NodeCertificateSignerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeCertificateSigner `json:"items"`
}

// SignerNameOrDefault is the signer name s signs for: spec.signerName, or
// kubernetes.io/kubelet-serving when it is empty (an object the API server
// did not default, such as one read from a file).
func (s *NodeCertificateSigner) SignerNameOrDefault() string {
	if s.Spec.SignerName == "" {
		return defaultSignerName
	}
	return s.Spec.SignerName
}
