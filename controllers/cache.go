package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/pkg/policy"
)

// CacheOptions restricts the manager's cache to what the reconcilers read,
// which keeps memory small and RBAC narrow: only bootstrap-token Secrets in
// kube-system and the default/kubernetes Service.
func CacheOptions() cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{metav1.NamespaceSystem: {}},
			Field:      fields.OneTermEqualSelector("type", string(policy.BootstrapTokenSecretType)),
		},
		&corev1.Service{}: {
			Namespaces: map[string]cache.Config{metav1.NamespaceDefault: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", "kubernetes"),
		},
	}}
}
