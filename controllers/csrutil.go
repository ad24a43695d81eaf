package controllers

import (
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
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
