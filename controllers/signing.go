package controllers

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Event reasons of the signing controller.
const (
	EventCertificateIssued = "CertificateIssued"
	EventSigningFailed     = "SigningFailed"
)

// ReasonSignerValidationFailure is the reason of the Failed condition of a
// CSR that breaks the signer's rules although it was approved.
const ReasonSignerValidationFailure = "SignerValidationFailure"

// SigningReconciler issues certificates for approved kubelet CSRs whose
// signer name a ready NodeCertificateSigner serves, whoever approved them.
type SigningReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits Events on CSRs.
	Recorder events.EventRecorder
	// Clock is the time source of certificates and conditions.
	Clock clock.PassiveClock
	// Signers holds the ready signers.
	Signers *SignerRegistry
	// ClusterDomain is the cluster DNS domain, e.g. cluster.local.
	ClusterDomain string
	// Random is the source of serial numbers; nil means crypto/rand.
	Random io.Reader

	policies compiledPolicies
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/status,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,verbs=sign,resourceNames=kubernetes.io/kube-apiserver-client-kubelet;kubernetes.io/kubelet-serving
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatesigners,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile signs one CSR.
func (r *SigningReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !awaitsSigning(csr) {
		return reconcile.Result{}, nil
	}
	active, ok := r.Signers.Active(csr.Spec.SignerName)
	if !ok {
		return reconcile.Result{}, nil // a signer becoming ready requeues it
	}
	request, ok := policy.NewRequest(csr)
	if !ok {
		return r.fail(ctx, csr, active.Name, ReasonSignerValidationFailure,
			fmt.Sprintf("requester %q is neither a node nor a bootstrap token user of %s", csr.Spec.Username, csr.Spec.SignerName))
	}
	cluster, err := clusterIdentity(ctx, r.Client, r.ClusterDomain)
	if err != nil {
		return reconcile.Result{}, err
	}
	if v := policy.Invariants(request, cluster); len(v) > 0 {
		return r.fail(ctx, csr, active.Name, ReasonSignerValidationFailure, v.Message())
	}
	limits, err := r.limits(ctx, request, active)
	if err != nil {
		return reconcile.Result{}, err
	}

	issued, err := r.sign(ctx, request, active, limits)
	if p, permanent := signer.IsPermanent(err); permanent {
		return r.fail(ctx, csr, active.Name, p.Reason, p.Message)
	}
	if errors.Is(err, signer.ErrCAChanged) {
		return reconcile.Result{Requeue: true}, nil //nolint:staticcheck // an immediate retry with the new CA is what we want
	}
	if err != nil {
		signerErrors.WithLabelValues(active.Name, "Transient").Inc()
		r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, EventSigningFailed, "Sign",
			"NodeCertificateSigner %s could not sign the certificate; retrying", active.Name)
		return reconcile.Result{}, fmt.Errorf("signing with %s: %w", active.Name, err)
	}

	updated := csr.DeepCopy()
	updated.Status.Certificate = issued.pem
	// The cached resourceVersion travels with the update: whoever writes a
	// certificate first wins and every other writer gets a conflict.
	if err := r.Client.Status().Update(ctx, updated, subResourceFieldOwner(SignerFieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, fmt.Errorf("writing the certificate: %w", err)
	}
	issuanceLatency.WithLabelValues(csr.Spec.SignerName, string(request.Kind)).Observe(r.Clock.Now().Sub(csr.CreationTimestamp.Time).Seconds())
	log.FromContext(ctx).Info("issued", "kind", request.Kind, "node", request.NodeName, "signer", active.Name,
		"serial", issued.cert.SerialNumber.Text(16), "notAfter", issued.cert.NotAfter)
	r.Recorder.Eventf(csr, nil, corev1.EventTypeNormal, EventCertificateIssued, "Sign",
		"certificate with serial %s, valid until %s, issued by NodeCertificateSigner %s",
		issued.cert.SerialNumber.Text(16), issued.cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), active.Name)
	return reconcile.Result{}, nil
}

type issuedCertificate struct {
	pem  []byte
	cert *x509.Certificate
}

// sign builds the template against the signer's current CA and signs it.
func (r *SigningReconciler) sign(ctx context.Context, request *policy.Request, active ActiveSigner, limits signer.Limits) (issuedCertificate, error) {
	ca, err := active.Signer.CA(ctx)
	if err != nil {
		return issuedCertificate{}, err
	}
	random := r.Random
	if random == nil {
		random = rand.Reader
	}
	tmpl, err := signer.Template(signer.Request{
		SignerName:        request.SignerName,
		CommonName:        request.CSR.CommonName,
		Organizations:     request.CSR.Organizations,
		DNSNames:          request.CSR.DNSNames,
		IPAddresses:       request.CSR.IPAddresses,
		PublicKey:         request.CSR.CSR.PublicKey,
		KeyEncipherment:   slices.Contains(request.Usages, certificatesv1.UsageKeyEncipherment),
		ExpirationSeconds: request.ExpirationSeconds,
	}, ca.Certificate, limits, r.Clock.Now(), random)
	if err != nil {
		return issuedCertificate{}, err
	}
	out, err := active.Signer.Sign(ctx, tmpl)
	if err != nil {
		return issuedCertificate{}, err
	}
	certs, err := signer.ParseCertificatesPEM(out)
	if err != nil {
		return issuedCertificate{}, fmt.Errorf("the signer returned an unreadable certificate: %w", err)
	}
	return issuedCertificate{pem: out, cert: certs[0]}, nil
}

// limits caps validity by the signer and by the policies that govern the
// request, whoever approved it.
func (r *SigningReconciler) limits(ctx context.Context, request *policy.Request, active ActiveSigner) (signer.Limits, error) {
	limits := signer.Limits{SignerMax: active.MaxValidity}
	var node *corev1.Node
	if request.NodeName != "" {
		node = &corev1.Node{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: request.NodeName}, node); apierrors.IsNotFound(err) {
			node = nil
		} else if err != nil {
			return limits, fmt.Errorf("reading Node %s: %w", request.NodeName, err)
		}
	}
	var list v1alpha1.NodeCertificatePolicyList
	if err := r.Client.List(ctx, &list); err != nil {
		return limits, fmt.Errorf("listing policies: %w", err)
	}
	if max, ok := policy.MaxExpiration(request, node, r.policies.valid(list.Items)); ok {
		limits.PolicyMax = max
	}
	return limits, nil
}

// fail marks the CSR Failed, the end of its road, and stops retrying;
// signerObject names the NodeCertificateSigner that refused, for metrics.
func (r *SigningReconciler) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, signerObject, reason, message string) (reconcile.Result, error) {
	updated := csr.DeepCopy()
	now := metav1.NewTime(r.Clock.Now())
	updated.Status.Conditions = append(updated.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastUpdateTime: now, LastTransitionTime: now,
	})
	if err := r.Client.Status().Update(ctx, updated, subResourceFieldOwner(SignerFieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, fmt.Errorf("writing the Failed condition: %w", err)
	}
	signerErrors.WithLabelValues(signerObject, reason).Inc()
	r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, EventSigningFailed, "Sign", "%s: %s", reason, message)
	return reconcile.Result{}, reconcile.TerminalError(fmt.Errorf("CSR %s failed: %s: %s", csr.Name, reason, message))
}

// awaitsSigning reports whether c is an approved kubelet CSR that is neither
// issued, denied nor failed.
func awaitsSigning(c *certificatesv1.CertificateSigningRequest) bool {
	if !isKubeletSigner(c.Spec.SignerName) || len(c.Status.Certificate) > 0 {
		return false
	}
	approved := false
	for _, cond := range c.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			return false
		}
	}
	return approved
}

// SetupWithManager watches CSRs awaiting a certificate, and signers, whose
// readiness decides whether those CSRs can be signed.
func (r *SigningReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("csr-signing").
		Watches(&certificatesv1.CertificateSigningRequest{}, &handler.EnqueueRequestForObject{},
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				c, ok := o.(*certificatesv1.CertificateSigningRequest)
				return ok && awaitsSigning(c)
			}))).
		WatchesRawSource(source.Channel(r.Signers.Subscribe(), handler.EnqueueRequestsFromMapFunc(r.csrsAwaitingSigning))).
		Complete(r); err != nil {
		return fmt.Errorf("building the csr-signing controller: %w", err)
	}
	return nil
}

func (r *SigningReconciler) csrsAwaitingSigning(ctx context.Context, _ client.Object) []reconcile.Request {
	return csrRequests(ctx, r.Client, awaitsSigning)
}
