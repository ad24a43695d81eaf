package signers

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// publishBundle writes the trusted CAs, without duplicates, to the signer's
// ConfigMap, creating it when missing. It never removes a bundle: a CA that
// fails to load leaves the last published bundle in place.
func (r *Reconciler) publishBundle(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner, certs []*x509.Certificate) (*v1alpha1.CABundleStatus, error) {
	unique := signer.UniqueCertificates(certs)
	pemData := string(signer.EncodeCertificates(unique))
	key := types.NamespacedName{Namespace: r.Namespace, Name: wire.CABundleName(ncs.Name)}
	status := &v1alpha1.CABundleStatus{Namespace: key.Namespace, Name: key.Name, Certificates: int32(len(unique))} //nolint:gosec // a handful of certificates

	cm := &corev1.ConfigMap{}
	err := r.Client.Get(ctx, key, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{wire.LabelManagedBy: wire.ManagedByValue, wire.LabelSigner: ncs.Name}}}
		cm.OwnerReferences = []metav1.OwnerReference{ownerReference(ncs)}
		cm.Data = map[string]string{wire.CABundleKey: pemData}
		if err := r.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the CA bundle ConfigMap: %w", err)
		}
		return status, nil
	case err != nil:
		return nil, fmt.Errorf("reading the CA bundle ConfigMap: %w", err)
	case cm.Data[wire.CABundleKey] == pemData && cm.Labels[wire.LabelSigner] == ncs.Name:
		return status, nil
	}
	updated := cm.DeepCopy()
	metav1.SetMetaDataLabel(&updated.ObjectMeta, wire.LabelSigner, ncs.Name)
	if updated.Data == nil {
		updated.Data = map[string]string{}
	}
	updated.Data[wire.CABundleKey] = pemData
	if err := r.Client.Update(ctx, updated); err != nil {
		return nil, fmt.Errorf("updating the CA bundle ConfigMap: %w", err)
	}
	return status, nil
}

func ownerReference(ncs *v1alpha1.NodeCertificateSigner) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "NodeCertificateSigner",
		Name: ncs.Name, UID: ncs.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false)}
}
