package controllers

import (
	"context"
	"fmt"
	"net"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/pkg/policy"
)

// conflictRetryDelay is how long a reconciler waits after a write conflict,
// by which time its cache has usually caught up.
const conflictRetryDelay = time.Second

// isFinished reports whether a CSR needs no decision any more: it carries
// Approved, Denied or Failed, or a certificate.
func isFinished(c *certificatesv1.CertificateSigningRequest) bool {
	if len(c.Status.Certificate) > 0 {
		return true
	}
	for _, cond := range c.Status.Conditions {
		switch cond.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			if cond.Status == corev1.ConditionTrue {
				return true
			}
		}
	}
	return false
}

// clusterIdentity reads the API server's Service IPs from the default/kubernetes Service.
func clusterIdentity(ctx context.Context, reader client.Reader, domain string) (policy.ClusterIdentity, error) {
	id := policy.ClusterIdentity{Domain: domain}
	svc := &corev1.Service{}
	err := reader.Get(ctx, types.NamespacedName{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}, svc)
	if apierrors.IsNotFound(err) {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("reading the kubernetes Service: %w", err)
	}
	ips := svc.Spec.ClusterIPs // includes spec.clusterIP; older objects may set only the latter
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if parsed := net.ParseIP(ip); parsed != nil {
			id.ServiceIPs = append(id.ServiceIPs, parsed)
		}
	}
	return id, nil
}

// csrRequests lists the CSRs in reader that match and returns requests for
// them, for the map functions that re-queue CSRs when something they depend
// on changes. A failed listing is logged and requeues nothing.
func csrRequests(ctx context.Context, reader client.Reader, match func(*certificatesv1.CertificateSigningRequest) bool,
	opts ...client.ListOption) []reconcile.Request {
	var list certificatesv1.CertificateSigningRequestList
	if err := reader.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		log.FromContext(ctx).Error(err, "listing CSRs to requeue")
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
