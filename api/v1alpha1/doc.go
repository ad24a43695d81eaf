// Package v1alpha1 holds the nodetrust.io/v1alpha1 API: NodeCertificatePolicy,
// the cluster-scoped approval policy for kubelet certificate requests.
//
// The package owns types, validation markers and defaults only. It imports
// apimachinery and nothing from this module, so every other package may
// depend on it.
//
// +kubebuilder:object:generate=true
// +groupName=nodetrust.io
package v1alpha1
