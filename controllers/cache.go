package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/pkg/policy"
)

// CacheOptions restricts the manager's cache to what the reconcilers read,
// which keeps memory small and RBAC narrow: bootstrap-token Secrets in
// kube-system, the Secrets of the signer namespace, the CA bundle ConfigMaps
// nodetrust manages there, and the default/kubernetes Service.
func CacheOptions(signerNamespace string) cache.Options {
	secrets := map[string]cache.Config{
		metav1.NamespaceSystem: {FieldSelector: fields.OneTermEqualSelector("type", string(policy.BootstrapTokenSecretType))},
	}
	secrets[signerNamespace] = cache.Config{} // every Secret, when the signer namespace is kube-system too
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: secrets},
		&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{signerNamespace: {}},
			Label:      labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue}),
		},
		&corev1.Service{}: {
			Namespaces: map[string]cache.Config{metav1.NamespaceDefault: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", "kubernetes"),
		},
	}}
}
