package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of this package's types.
var GroupVersion = schema.GroupVersion{Group: "nodetrust.io", Version: "v1alpha1"}

var schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

// AddToScheme adds this package's types to a runtime.Scheme.
var AddToScheme = schemeBuilder.AddToScheme

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&NodeCertificatePolicy{},
		&NodeCertificatePolicyList{},
		&NodeCertificateSigner{},
		&NodeCertificateSignerList{},
		&NodeCertificate{},
		&NodeCertificateList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
