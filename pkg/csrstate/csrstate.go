package csrstate

import (
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// Kubernetes identities of kubelets and of bootstrap-token users, as the API
// server's authenticators name them.
const (
	// NodeUserPrefix starts the username of a kubelet, and the common name
	// of its certificates: system:node:<nodeName>.
	NodeUserPrefix = "system:node:"
	// NodesGroup is the group of every kubelet.
	NodesGroup = "system:nodes"
	// BootstrapUserPrefix starts the username of a bootstrap-token user:
	// system:bootstrap:<tokenID>.
	BootstrapUserPrefix = "system:bootstrap:"
	// BootstrappersGroup is the group of every bootstrap-token user.
	BootstrappersGroup = "system:bootstrappers"
)

// IsKubeletSigner reports whether signerName is one of the two kubelet
// signers: kube-apiserver-client-kubelet or kubelet-serving.
func IsKubeletSigner(signerName string) bool {
	return signerName == certificatesv1.KubeAPIServerClientKubeletSignerName ||
		signerName == certificatesv1.KubeletServingSignerName
}

// CertificateKind returns the kind of certificate a kubelet signer issues,
// and false for every other signer.
func CertificateKind(signerName string) (v1alpha1.CertificateKind, bool) {
	switch signerName {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		return v1alpha1.CertificateClient, true
	case certificatesv1.KubeletServingSignerName:
		return v1alpha1.CertificateServing, true
	}
	return "", false
}

// Kind returns the kind of kubelet request csr is, from its signer and its
// API-server-recorded requester, and false for every other request: those
// belong to other approvers and nodetrust leaves them alone. A node
// requester is system:node:<name> in system:nodes; a bootstrap requester is
// system:bootstrap:<id> in system:bootstrappers. Only nodes ask for serving
// certificates.
func Kind(csr *certificatesv1.CertificateSigningRequest) (v1alpha1.RequestKind, bool) {
	user, groups := csr.Spec.Username, csr.Spec.Groups
	isNode := strings.HasPrefix(user, NodeUserPrefix) && slices.Contains(groups, NodesGroup)
	isBootstrap := strings.HasPrefix(user, BootstrapUserPrefix) && slices.Contains(groups, BootstrappersGroup)
	switch csr.Spec.SignerName {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		switch {
		case isNode:
			return v1alpha1.KindClientRenewal, true
		case isBootstrap:
			return v1alpha1.KindClientBootstrap, true
		}
	case certificatesv1.KubeletServingSignerName:
		if isNode {
			return v1alpha1.KindServing, true
		}
	}
	return "", false
}

// Condition returns csr's condition of type t that is in force (status True,
// or empty, which the API server defaults to True), and false when there is
// none.
func Condition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) (certificatesv1.CertificateSigningRequestCondition, bool) {
	for _, c := range csr.Status.Conditions {
		if c.Type == t && (c.Status == corev1.ConditionTrue || c.Status == "") {
			return c, true
		}
	}
	return certificatesv1.CertificateSigningRequestCondition{}, false
}

// Issued reports whether csr carries a certificate.
func Issued(csr *certificatesv1.CertificateSigningRequest) bool {
	return len(csr.Status.Certificate) > 0
}

// Decided reports whether csr needs no decision any more: it carries an
// Approved, Denied or Failed condition, or a certificate.
func Decided(csr *certificatesv1.CertificateSigningRequest) bool {
	if Issued(csr) {
		return true
	}
	for _, t := range []certificatesv1.RequestConditionType{
		certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed,
	} {
		if _, ok := Condition(csr, t); ok {
			return true
		}
	}
	return false
}

// Pending reports whether csr is a kubelet CSR nobody has decided yet.
func Pending(csr *certificatesv1.CertificateSigningRequest) bool {
	return IsKubeletSigner(csr.Spec.SignerName) && !Decided(csr)
}

// AwaitsSigning reports whether csr is an approved kubelet CSR that is
// neither issued, denied nor failed.
func AwaitsSigning(csr *certificatesv1.CertificateSigningRequest) bool {
	if !IsKubeletSigner(csr.Spec.SignerName) || Issued(csr) {
		return false
	}
	_, approved := Condition(csr, certificatesv1.CertificateApproved)
	_, denied := Condition(csr, certificatesv1.CertificateDenied)
	_, failed := Condition(csr, certificatesv1.CertificateFailed)
	return approved && !denied && !failed
}

// WithCondition returns a copy of csr with a condition of type t appended,
// status True, at now. It never changes csr, which may be a cached object.
func WithCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType, reason, message string,
	now time.Time) *certificatesv1.CertificateSigningRequest {
	updated := csr.DeepCopy()
	ts := metav1.NewTime(now)
	updated.Status.Conditions = append(updated.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastUpdateTime: ts, LastTransitionTime: ts,
	})
	return updated
}

// NodeOf returns the node a kubelet CSR is for: the requester's node name
// for node requesters, the node named by the request's common name for
// bootstrap requesters, and "" for every other CSR. The common name is not
// verified: NodeOf is for finding CSRs, never for deciding them.
func NodeOf(csr *certificatesv1.CertificateSigningRequest) string {
	kind, ok := Kind(csr)
	if !ok {
		return ""
	}
	if kind == v1alpha1.KindClientBootstrap {
		if node, ok := strings.CutPrefix(pkcs10.CommonNameOf(csr.Spec.Request), NodeUserPrefix); ok {
			return node
		}
		return ""
	}
	return strings.TrimPrefix(csr.Spec.Username, NodeUserPrefix)
}

// WithConditionSet returns a copy of csr whose condition of type t is set,
// status True, to reason and message at now: replaced where csr has one,
// appended otherwise. It is for condition types other than Approved,
// Denied and Failed, which the API server never lets change.
func WithConditionSet(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType, reason, message string,
	now time.Time) *certificatesv1.CertificateSigningRequest {
	updated := csr.DeepCopy()
	ts := metav1.NewTime(now)
	for i := range updated.Status.Conditions {
		if c := &updated.Status.Conditions[i]; c.Type == t {
			if c.Status != corev1.ConditionTrue {
				c.LastTransitionTime = ts
			}
			c.Status, c.Reason, c.Message, c.LastUpdateTime = corev1.ConditionTrue, reason, message, ts
			return updated
		}
	}
	updated.Status.Conditions = append(updated.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastUpdateTime: ts, LastTransitionTime: ts,
	})
	return updated
}
