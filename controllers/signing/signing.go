package signing

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

	"github.com/nodetrust/nodetrust/controllers/internal/facts"
	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/controllers/internal/metrics"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/internal/writes"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// Reconciler signs approved kubelet CSRs.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits Events on CSRs.
	Recorder events.EventRecorder
	// Clock is the time source of certificates and conditions.
	Clock clock.PassiveClock
	// Signers holds the ready signers.
	Signers *registry.Registry
	// Facts gathers what the re-check before signing depends on.
	Facts *facts.Gatherer
	// Random is the source of serial numbers; nil means crypto/rand.
	Random io.Reader
}

// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/status,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,verbs=sign,resourceNames=kubernetes.io/kube-apiserver-client-kubelet;kubernetes.io/kubelet-serving
// +kubebuilder:rbac:groups=nodetrust.io,resources=nodecertificatesigners,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=servicecidrs,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile signs one CSR.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, csr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !csrstate.AwaitsSigning(csr) {
		return reconcile.Result{}, nil
	}
	active, ok := r.Signers.Active(csr.Spec.SignerName)
	if !ok {
		return reconcile.Result{}, nil // a signer becoming ready requeues it
	}
	request, ok := policy.NewRequest(csr)
	if !ok {
		return r.fail(ctx, csr, active.Name, wire.ReasonSignerValidationFailure,
			fmt.Sprintf("requester %q is neither a node nor a bootstrap token user of %s", csr.Spec.Username, csr.Spec.SignerName))
	}
	f, err := r.Facts.Gather(ctx, request)
	if err != nil {
		return reconcile.Result{}, err
	}
	review := policy.ReviewForSigning(request, f.Facts, f.Policies)
	if len(review.Violations) > 0 {
		return r.fail(ctx, csr, active.Name, wire.ReasonSignerValidationFailure, review.Violations.Message())
	}

	issued, err := r.sign(ctx, request, active, signer.Limits{SignerMax: active.MaxValidity, PolicyMax: review.MaxExpiration})
	if p, permanent := signer.IsPermanent(err); permanent {
		return r.fail(ctx, csr, active.Name, p.Reason, p.Message)
	}
	if errors.Is(err, signer.ErrCAChanged) {
		return reconcile.Result{Requeue: true}, nil //nolint:staticcheck // an immediate retry with the new CA is what we want
	}
	if err != nil {
		metrics.SignerFailed(active.Name, metrics.ReasonTransient)
		r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, wire.EventSigningFailed, "Sign",
			"NodeCertificateSigner %s could not sign the certificate; retrying", active.Name)
		return reconcile.Result{}, fmt.Errorf("signing with %s: %w", active.Name, err)
	}

	updated := csr.DeepCopy()
	updated.Status.Certificate = issued.pem
	// The cached resourceVersion travels with the update: whoever writes a
	// certificate first wins and every other writer gets a conflict.
	if res, err := writes.Result(r.Client.Status().Update(ctx, updated, writes.FieldOwner(wire.SignerFieldManager)), "the certificate"); err != nil || !res.IsZero() {
		return res, err
	}
	metrics.ObserveIssuance(csr.Spec.SignerName, request.Kind, csr.CreationTimestamp.Time, r.Clock.Now())
	log.FromContext(ctx).Info("issued", "kind", request.Kind, "node", request.NodeName, "signer", active.Name,
		"serial", issued.cert.SerialNumber.Text(16), "notAfter", issued.cert.NotAfter)
	r.Recorder.Eventf(csr, nil, corev1.EventTypeNormal, wire.EventCertificateIssued, "Sign",
		"certificate with serial %s, valid until %s, issued by NodeCertificateSigner %s",
		issued.cert.SerialNumber.Text(16), issued.cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), active.Name)
	return reconcile.Result{}, nil
}

type issuedCertificate struct {
	pem  []byte
	cert *x509.Certificate
}

// sign builds the template against the signer's current CA and signs it.
func (r *Reconciler) sign(ctx context.Context, request *policy.Request, active registry.Active, limits signer.Limits) (issuedCertificate, error) {
	ca, err := active.Signer.CA(ctx)
	if err != nil {
		return issuedCertificate{}, err
	}
	if err := signer.RefuseCAKeys(request.CSR.CSR.PublicKey, ca); err != nil {
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

// fail marks the CSR Failed, the end of its road, and stops retrying;
// signerObject names the NodeCertificateSigner that refused, for metrics.
func (r *Reconciler) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, signerObject, reason, message string) (reconcile.Result, error) {
	updated := csrstate.WithCondition(csr, certificatesv1.CertificateFailed, reason, message, r.Clock.Now())
	if res, err := writes.Result(r.Client.Status().Update(ctx, updated, writes.FieldOwner(wire.SignerFieldManager)), "the Failed condition"); err != nil || !res.IsZero() {
		return res, err
	}
	metrics.SignerFailed(signerObject, reason)
	r.Recorder.Eventf(csr, nil, corev1.EventTypeWarning, wire.EventSigningFailed, "Sign", "%s: %s", reason, message)
	return reconcile.Result{}, reconcile.TerminalError(fmt.Errorf("CSR %s failed: %s: %s", csr.Name, reason, message))
}

// SetupWithManager watches CSRs awaiting a certificate, and signers, whose
// readiness decides whether those CSRs can be signed.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("csr-signing").
		Watches(&certificatesv1.CertificateSigningRequest{}, &handler.EnqueueRequestForObject{},
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				c, ok := o.(*certificatesv1.CertificateSigningRequest)
				return ok && csrstate.AwaitsSigning(c)
			}))).
		WatchesRawSource(source.Channel(r.Signers.Subscribe(), handler.EnqueueRequestsFromMapFunc(r.csrsAwaitingSigning))).
		Complete(r); err != nil {
		return fmt.Errorf("building the csr-signing controller: %w", err)
	}
	return nil
}

func (r *Reconciler) csrsAwaitingSigning(ctx context.Context, _ client.Object) []reconcile.Request {
	return index.CSRRequests(ctx, r.Client, csrstate.AwaitsSigning)
}
