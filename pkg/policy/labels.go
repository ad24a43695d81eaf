package policy

import (
	"errors"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ErrNodeWritableSelector is wrapped by the Compile error of a policy whose
// nodeSelector reads labels a kubelet may set on its own Node, without the
// policy opting in to trusting them.
var ErrNodeWritableSelector = errors.New("the nodeSelector reads labels a kubelet may set on its own Node")

// kubeletLabels are the labels of the kubernetes.io and k8s.io namespaces
// that the NodeRestriction admission plugin still lets a kubelet set on its
// own Node (kubeletapis.IsKubeletLabel in k8s.io/kubernetes).
var kubeletLabels = []string{
	corev1.LabelHostname, corev1.LabelTopologyZone, corev1.LabelTopologyRegion,
	corev1.LabelFailureDomainBetaZone, corev1.LabelFailureDomainBetaRegion,
	corev1.LabelInstanceType, corev1.LabelInstanceTypeStable,
	corev1.LabelOSStable, corev1.LabelArchStable, "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
}

// kubeletLabelNamespaces are the label namespaces, with their subdomains,
// that a kubelet may set labels in although they are under kubernetes.io.
var kubeletLabelNamespaces = []string{corev1.LabelNamespaceSuffixKubelet, corev1.LabelNamespaceSuffixNode}

// NodeWritableLabel reports whether a kubelet may set the label key on its
// own Node when kube-apiserver runs the NodeRestriction admission plugin:
// every label outside the kubernetes.io and k8s.io namespaces (and their
// subdomains), plus the well-known kubelet labels and the kubelet.kubernetes.io
// and node.kubernetes.io namespaces. Labels under node-restriction.kubernetes.io
// are never node-writable: they are the ones a selector should use.
func NodeWritableLabel(key string) bool {
	namespace, _, hasNamespace := strings.Cut(key, "/")
	if !hasNamespace {
		return true
	}
	if inNamespace(namespace, corev1.LabelNamespaceNodeRestriction) {
		return false
	}
	if !inNamespace(namespace, "kubernetes.io") && !inNamespace(namespace, "k8s.io") {
		return true
	}
	return slices.Contains(kubeletLabels, key) || slices.ContainsFunc(kubeletLabelNamespaces, func(ns string) bool { return inNamespace(namespace, ns) })
}

// inNamespace reports whether namespace is domain or a subdomain of it.
func inNamespace(namespace, domain string) bool {
	return namespace == domain || strings.HasSuffix(namespace, "."+domain)
}
