package controllers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Labels and keys of the CA bundle ConfigMaps.
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
	// caBundleSuffix is appended to the signer's name to name its ConfigMap.
	caBundleSuffix = "-ca-bundle"
)

// signerRecheckInterval is how often a signer is checked again without any
// event: files and HSM contents are not watched, and CAs expire.
const signerRecheckInterval = time.Minute

// SignerReconciler loads the backend of each NodeCertificateSigner into the
// registry, reports in its status whether it signs and with which CA, and
// publishes its trusted CAs to a ConfigMap.
type SignerReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Clock is the time source of conditions.
	Clock clock.PassiveClock
	// Registry receives the backends.
	Registry *SignerRegistry
	// Backends builds backends by kind; a kind not here is unavailable.
	Backends map[BackendKind]BackendFactory
	// Namespace is the signer namespace: Secrets are read and CA bundles
	// published there.
	Namespace string
}

// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatesigners,verbs=get;list;watch
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatesigners/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch,namespace=nodetrust-system
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch,namespace=nodetrust-system

// Reconcile checks one signer.
func (r *SignerReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ncs := &v1alpha1.NodeCertificateSigner{}
	if err := r.Client.Get(ctx, req.NamespacedName, ncs); err != nil {
		if apierrors.IsNotFound(err) {
			r.Registry.remove(req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading signer %s: %w", req.Name, err)
	}
	if !ncs.DeletionTimestamp.IsZero() {
		r.Registry.remove(ncs.Name)
		return reconcile.Result{}, nil
	}

	status, ready, err := r.observe(ctx, ncs)
	if err != nil {
		return reconcile.Result{}, err
	}
	// The registry changes before the status does, so that the approval and
	// signing controllers, woken by the status change, see it.
	r.Registry.setReady(ncs.Name, ncs.UID, ready)
	if err := r.patchStatus(ctx, ncs, status); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.recheckAfter(status)}, nil
}

// observe builds or reuses the backend, checks it and publishes its bundle.
// It returns the status the signer deserves and whether it may sign.
func (r *SignerReconciler) observe(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner) (v1alpha1.NodeCertificateSignerStatus, bool, error) {
	// Conditions are copied: SetStatusCondition must not write into the cache.
	status := v1alpha1.NodeCertificateSignerStatus{Conditions: slices.Clone(ncs.Status.Conditions), CABundle: ncs.Status.CABundle}
	notReady := func(reason, message string) (v1alpha1.NodeCertificateSignerStatus, bool, error) {
		meta.SetStatusCondition(&status.Conditions, r.condition(ncs, metav1.ConditionFalse, reason, message))
		return status, false, nil
	}

	backend, err := r.backend(ctx, ncs)
	switch {
	case errors.Is(err, ErrBackendUnavailable):
		return notReady(v1alpha1.ReasonBackendUnavailable, err.Error())
	case errors.Is(err, errInvalidSpec):
		return notReady(v1alpha1.ReasonInvalidSpec, err.Error())
	case err != nil:
		log.FromContext(ctx).Error(err, "building the signer backend")
		return notReady(v1alpha1.ReasonCANotLoaded, "the signer backend could not be opened: "+oneLine(err))
	}
	var extra []*x509.Certificate
	if ncs.Spec.AdditionalTrustedCAs != "" {
		if extra, err = signer.ParseCertificatesPEM([]byte(ncs.Spec.AdditionalTrustedCAs)); err != nil {
			return notReady(v1alpha1.ReasonInvalidSpec, "additionalTrustedCAs: "+oneLine(err))
		}
	}
	ca, err := backend.CA(ctx)
	if err != nil {
		return notReady(v1alpha1.ReasonCANotLoaded, "the CA could not be loaded: "+oneLine(err))
	}
	status.CA = caStatus(ca.Certificate)
	bundle, err := r.publishBundle(ctx, ncs, append(append([]*x509.Certificate(nil), ca.Trusted...), extra...))
	if err != nil {
		return status, false, err
	}
	status.CABundle = bundle
	if err := backend.Check(ctx); err != nil {
		return notReady(v1alpha1.ReasonCANotLoaded, "the CA cannot sign: "+oneLine(err))
	}
	if rivals, err := r.rivals(ctx, ncs); err != nil {
		return status, false, err
	} else if len(rivals) > 0 {
		return notReady(v1alpha1.ReasonSignerNameConflict, fmt.Sprintf(
			"NodeCertificateSigners %s also sign %s; none of them signs until only one is left", strings.Join(rivals, ", "), signerNameOf(ncs)))
	}
	meta.SetStatusCondition(&status.Conditions, r.condition(ncs, metav1.ConditionTrue, v1alpha1.ReasonSignerReady,
		fmt.Sprintf("signing %s with CA %q", signerNameOf(ncs), ca.Certificate.Subject)))
	return status, true, nil
}

func (r *SignerReconciler) backend(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner) (signer.Signer, error) {
	kind, err := backendKind(&ncs.Spec)
	if err != nil {
		return nil, err
	}
	factory, ok := r.Backends[kind]
	if !ok {
		return nil, fmt.Errorf("%w: the %s backend needs the manager's %s", ErrBackendUnavailable, kind, backendFlag(kind))
	}
	var key string
	if k, ok := factory.(BuildKeyer); ok {
		key = k.BuildKey(ctx, &ncs.Spec)
	}
	return r.Registry.backend(ncs.Name, ncs.UID, ncs.Generation, key, signerNameOf(ncs), maxValidity(ncs), func() (signer.Signer, error) {
		return factory.Build(ctx, &ncs.Spec)
	})
}

func backendFlag(kind BackendKind) string {
	switch kind {
	case BackendFiles:
		return "--signer-files-dir"
	case BackendPKCS11:
		return "--pkcs11-module"
	default:
		return "--signer-namespace"
	}
}

// rivals returns the other live signers that claim the same signer name.
func (r *SignerReconciler) rivals(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner) ([]string, error) {
	var list v1alpha1.NodeCertificateSignerList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing signers: %w", err)
	}
	var out []string
	for i := range list.Items {
		other := &list.Items[i]
		if other.Name != ncs.Name && other.DeletionTimestamp.IsZero() && signerNameOf(other) == signerNameOf(ncs) {
			out = append(out, other.Name)
		}
	}
	return out, nil
}

func (r *SignerReconciler) condition(ncs *v1alpha1.NodeCertificateSigner, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: message,
		ObservedGeneration: ncs.Generation, LastTransitionTime: metav1.NewTime(r.Clock.Now())}
}

// publishBundle writes the trusted CAs, without duplicates, to the signer's
// ConfigMap, creating it when missing. It never removes a bundle: a CA that
// fails to load leaves the last published bundle in place.
func (r *SignerReconciler) publishBundle(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner, certs []*x509.Certificate) (*v1alpha1.CABundleStatus, error) {
	unique := signer.UniqueCertificates(certs)
	pemData := string(signer.EncodeCertificates(unique))
	key := types.NamespacedName{Namespace: r.Namespace, Name: ncs.Name + caBundleSuffix}
	status := &v1alpha1.CABundleStatus{Namespace: key.Namespace, Name: key.Name, Certificates: int32(len(unique))} //nolint:gosec // a handful of certificates

	cm := &corev1.ConfigMap{}
	err := r.Client.Get(ctx, key, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelSigner: ncs.Name}}}
		cm.OwnerReferences = []metav1.OwnerReference{ownerReference(ncs)}
		cm.Data = map[string]string{CABundleKey: pemData}
		if err := r.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the CA bundle ConfigMap: %w", err)
		}
		return status, nil
	case err != nil:
		return nil, fmt.Errorf("reading the CA bundle ConfigMap: %w", err)
	case cm.Data[CABundleKey] == pemData && cm.Labels[LabelSigner] == ncs.Name:
		return status, nil
	}
	updated := cm.DeepCopy()
	metav1.SetMetaDataLabel(&updated.ObjectMeta, LabelSigner, ncs.Name)
	if updated.Data == nil {
		updated.Data = map[string]string{}
	}
	updated.Data[CABundleKey] = pemData
	if err := r.Client.Update(ctx, updated); err != nil {
		return nil, fmt.Errorf("updating the CA bundle ConfigMap: %w", err)
	}
	return status, nil
}

func ownerReference(ncs *v1alpha1.NodeCertificateSigner) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "NodeCertificateSigner",
		Name: ncs.Name, UID: ncs.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false)}
}

func caStatus(c *x509.Certificate) *v1alpha1.CAStatus {
	return &v1alpha1.CAStatus{
		Subject:           c.Subject.String(),
		SHA256Fingerprint: signer.Fingerprint(c),
		SerialNumber:      c.SerialNumber.Text(16),
		NotBefore:         metav1.NewTime(c.NotBefore),
		NotAfter:          metav1.NewTime(c.NotAfter),
	}
}

// patchStatus writes status when it differs from what ncs has, keeping
// LastTransitionTime of unchanged conditions.
func (r *SignerReconciler) patchStatus(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner, status v1alpha1.NodeCertificateSignerStatus) error {
	if equality.Semantic.DeepEqual(ncs.Status, status) {
		return nil
	}
	updated := ncs.DeepCopy()
	updated.Status = status
	if err := r.Client.Status().Patch(ctx, updated, client.MergeFromWithOptions(ncs, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching signer status: %w", err)
	}
	return nil
}

// recheckAfter is when to look at the signer again: every minute, and right
// after the CA expires.
func (r *SignerReconciler) recheckAfter(status v1alpha1.NodeCertificateSignerStatus) time.Duration {
	after := signerRecheckInterval
	if status.CA != nil {
		if untilExpiry := status.CA.NotAfter.Sub(r.Clock.Now()); untilExpiry > 0 && untilExpiry < after {
			after = untilExpiry + time.Second
		}
	}
	return after
}

func signerNameOf(ncs *v1alpha1.NodeCertificateSigner) string {
	if ncs.Spec.SignerName == "" {
		return v1alpha1.KubeletServingSignerName
	}
	return ncs.Spec.SignerName
}

func maxValidity(ncs *v1alpha1.NodeCertificateSigner) time.Duration {
	return time.Duration(ptr.Deref(ncs.Spec.MaxExpirationSeconds, v1alpha1.DefaultSignerMaxExpirationSeconds)) * time.Second
}

// oneLine flattens an error for a condition message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// SetupWithManager watches signers, the Secrets in the signer namespace they
// may read and the CA bundles they own.
func (r *SignerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("signer-status").
		For(&v1alpha1.NodeCertificateSigner{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Another signer appearing or going away may end or start a conflict.
		Watches(&v1alpha1.NodeCertificateSigner{}, handler.EnqueueRequestsFromMapFunc(r.allSigners),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.signersForSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace }))).
		Owns(&corev1.ConfigMap{}).
		Complete(r); err != nil {
		return fmt.Errorf("building the signer-status controller: %w", err)
	}
	return nil
}

func (r *SignerReconciler) allSigners(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.signersMatching(ctx, func(*v1alpha1.NodeCertificateSigner) bool { return true })
}

func (r *SignerReconciler) signersForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return r.signersMatching(ctx, func(ncs *v1alpha1.NodeCertificateSigner) bool {
		s := ncs.Spec
		return (s.Secret != nil && s.Secret.Name == o.GetName()) ||
			(s.PKCS11 != nil && s.PKCS11.PIN.SecretKeyRef != nil && s.PKCS11.PIN.SecretKeyRef.Name == o.GetName())
	})
}

func (r *SignerReconciler) signersMatching(ctx context.Context, match func(*v1alpha1.NodeCertificateSigner) bool) []reconcile.Request {
	var list v1alpha1.NodeCertificateSignerList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing signers")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
	}
	return out
}
