package signers

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// recheckInterval is how often a signer is checked again without any
// event: files and HSM contents are not watched, and CAs expire.
const recheckInterval = time.Minute

// Reconciler loads the backend of each NodeCertificateSigner into the
// registry, publishes its trusted CAs and reports whether it signs.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Clock is the time source of conditions.
	Clock clock.PassiveClock
	// Recorder emits Events on signers; nil emits none.
	Recorder events.EventRecorder
	// Registry receives the backends.
	Registry *registry.Registry
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
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ncs := &v1alpha1.NodeCertificateSigner{}
	if err := r.Client.Get(ctx, req.NamespacedName, ncs); err != nil {
		if apierrors.IsNotFound(err) {
			r.Registry.Remove(req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("reading signer %s: %w", req.Name, err)
	}
	if !ncs.DeletionTimestamp.IsZero() {
		r.Registry.Remove(ncs.Name)
		return reconcile.Result{}, nil
	}

	o := r.observe(ctx, ncs)
	if o.readErr != nil {
		return reconcile.Result{}, o.readErr
	}
	var err error
	// Conditions are copied: SetStatusCondition must not write into the cache.
	status := v1alpha1.NodeCertificateSignerStatus{Conditions: slices.Clone(ncs.Status.Conditions), CABundle: ncs.Status.CABundle}
	if o.ca != nil {
		status.CA = caStatus(o.ca)
		if status.CABundle, err = r.publishBundle(ctx, ncs, o.trusted); err != nil {
			return reconcile.Result{}, err
		}
	}
	condStatus, reason, message := readiness(o)
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: condStatus,
		Reason: reason, Message: message, ObservedGeneration: ncs.Generation, LastTransitionTime: metav1.NewTime(r.Clock.Now())})

	// The registry changes before the status does, so that the approval and
	// signing loops, woken by the status change, see it.
	r.Registry.SetReady(ncs.Name, ncs.UID, condStatus == metav1.ConditionTrue)
	if res, err := writes.Result(r.patchStatus(ctx, ncs, status), "the signer status"); err != nil || !res.IsZero() {
		return res, err
	}
	if was := meta.FindStatusCondition(ncs.Status.Conditions, v1alpha1.ConditionReady); reason == v1alpha1.ReasonSignerNameConflict &&
		r.Recorder != nil && (was == nil || was.Reason != reason) {
		r.Recorder.Eventf(ncs, nil, corev1.EventTypeWarning, wire.EventSignerNameConflict, "Check", "%s", message)
	}
	return reconcile.Result{RequeueAfter: r.recheckAfter(status)}, nil
}

// observe builds or reuses the backend and looks at it.
func (r *Reconciler) observe(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner) observation {
	o := observation{signerName: ncs.SignerNameOrDefault()}
	backend, err := r.backend(ctx, ncs)
	if o.buildErr = err; o.buildErr != nil {
		log.FromContext(ctx).Error(o.buildErr, "building the signer backend")
		return o
	}
	var extra []*x509.Certificate
	if ncs.Spec.AdditionalTrustedCAs != "" {
		if extra, o.trustErr = signer.ParseCertificatesPEM([]byte(ncs.Spec.AdditionalTrustedCAs)); o.trustErr != nil {
			return o
		}
	}
	ca, err := backend.CA(ctx)
	if o.caErr = err; o.caErr != nil {
		return o
	}
	o.ca, o.trusted = ca.Certificate, append(slices.Clone(ca.Trusted), extra...)
	if o.checkErr = backend.Check(ctx); o.checkErr != nil {
		return o
	}
	o.rivals, o.readErr = r.rivals(ctx, ncs)
	return o
}

func (r *Reconciler) backend(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner) (signer.Signer, error) {
	kind, err := backendKind(&ncs.Spec)
	if err != nil {
		return nil, err
	}
	factory, ok := r.Backends[kind]
	if !ok {
		return nil, fmt.Errorf("%w: the %s backend needs the manager's %s", ErrBackendUnavailable, kind, backendFlag(kind))
	}
	key := registry.BuildKey{UID: ncs.UID, Generation: ncs.Generation, SignerName: ncs.SignerNameOrDefault(), MaxValidity: maxValidity(ncs)}
	if k, ok := factory.(BuildKeyer); ok {
		key.Extra = k.BuildKey(ctx, &ncs.Spec)
	}
	return r.Registry.Backend(ncs.Name, key, func() (signer.Signer, error) {
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

// rivals returns the other live signers that claim the same signer name
// and could sign (see couldSign). A rival that cannot sign, e.g. whose
// Secret is missing, must not stop this one.
func (r *Reconciler) rivals(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner) ([]string, error) {
	var list v1alpha1.NodeCertificateSignerList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing signers: %w", err)
	}
	var out []string
	for i := range list.Items {
		other := &list.Items[i]
		if other.Name != ncs.Name && other.DeletionTimestamp.IsZero() && other.SignerNameOrDefault() == ncs.SignerNameOrDefault() && couldSign(other) {
			out = append(out, other.Name)
		}
	}
	return out, nil
}

// couldSign reports whether the last look at ncs, for its current
// generation, found it able to sign: Ready, or held back only by a
// signer-name conflict. A signer not looked at yet cannot sign yet; when it
// can, its status changes and its rivals look again.
func couldSign(ncs *v1alpha1.NodeCertificateSigner) bool {
	c := meta.FindStatusCondition(ncs.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.ObservedGeneration == ncs.Generation &&
		(c.Status == metav1.ConditionTrue || c.Reason == v1alpha1.ReasonSignerNameConflict)
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
func (r *Reconciler) patchStatus(ctx context.Context, ncs *v1alpha1.NodeCertificateSigner, status v1alpha1.NodeCertificateSignerStatus) error {
	if equality.Semantic.DeepEqual(ncs.Status, status) {
		return nil
	}
	updated := ncs.DeepCopy()
	updated.Status = status
	if err := r.Client.Status().Patch(ctx, updated, client.MergeFromWithOptions(ncs, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching: %w", err)
	}
	return nil
}

// recheckAfter is when to look at the signer again: every minute, and right
// after the CA expires.
func (r *Reconciler) recheckAfter(status v1alpha1.NodeCertificateSignerStatus) time.Duration {
	after := recheckInterval
	if status.CA != nil {
		if untilExpiry := status.CA.NotAfter.Sub(r.Clock.Now()); untilExpiry > 0 && untilExpiry < after {
			after = untilExpiry + time.Second
		}
	}
	return after
}

func maxValidity(ncs *v1alpha1.NodeCertificateSigner) time.Duration {
	return time.Duration(ptr.Deref(ncs.Spec.MaxExpirationSeconds, v1alpha1.DefaultSignerMaxExpirationSeconds)) * time.Second
}

// SetupWithManager watches signers, the Secrets in the signer namespace they
// may read and the CA bundles they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("signer-status").
		For(&v1alpha1.NodeCertificateSigner{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Another signer appearing, going away, or starting or ceasing to be
		// able to sign may end or start a conflict.
		Watches(&v1alpha1.NodeCertificateSigner{}, handler.EnqueueRequestsFromMapFunc(r.allSigners),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, couldSignChanged))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.signersForSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace }))).
		Owns(&corev1.ConfigMap{}).
		Complete(r); err != nil {
		return fmt.Errorf("building the signer-status controller: %w", err)
	}
	return nil
}

// couldSignChanged passes updates that change whether a signer could sign.
var couldSignChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*v1alpha1.NodeCertificateSigner)
		updated, okNew := e.ObjectNew.(*v1alpha1.NodeCertificateSigner)
		return okOld && okNew && couldSign(old) != couldSign(updated)
	},
}

func (r *Reconciler) allSigners(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.signersMatching(ctx, func(*v1alpha1.NodeCertificateSigner) bool { return true })
}

func (r *Reconciler) signersForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return r.signersMatching(ctx, func(ncs *v1alpha1.NodeCertificateSigner) bool {
		s := ncs.Spec
		return (s.Secret != nil && s.Secret.Name == o.GetName()) ||
			(s.PKCS11 != nil && s.PKCS11.PIN.SecretKeyRef != nil && s.PKCS11.PIN.SecretKeyRef.Name == o.GetName())
	})
}

func (r *Reconciler) signersMatching(ctx context.Context, match func(*v1alpha1.NodeCertificateSigner) bool) []reconcile.Request {
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
