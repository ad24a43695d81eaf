package wire

import (
	"crypto/x509"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/signer"
)

// KindLabel is the LabelKind value of kind: "client" or "serving".
func KindLabel(kind v1alpha1.CertificateKind) string { return strings.ToLower(string(kind)) }

// RecordName is the name of the record of leaf: its kind and the first 160
// bits of its SHA-256 fingerprint, so that a certificate is recorded once.
func RecordName(kind v1alpha1.CertificateKind, leaf *x509.Certificate) string {
	fp := strings.ToLower(strings.ReplaceAll(signer.Fingerprint(leaf), ":", ""))
	return KindLabel(kind) + "-" + fp[:40]
}

// NewRecord describes leaf, issued for csr, which must be for a kubelet
// signer. Approval is read from csr, with v checking nodetrust's proofs (see
// ApprovalOf); Issuance says external, for the caller to set when nodetrust
// signed leaf.
func NewRecord(csr *certificatesv1.CertificateSigningRequest, leaf *x509.Certificate, v ApprovalVerifier) *v1alpha1.NodeCertificate {
	kind, _ := csrstate.CertificateKind(csr.Spec.SignerName)
	node := strings.TrimPrefix(leaf.Subject.CommonName, csrstate.NodeUserPrefix)
	ips := make([]string, 0, len(leaf.IPAddresses))
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	record := &v1alpha1.NodeCertificate{
		ObjectMeta: metav1.ObjectMeta{
			Name:   RecordName(kind, leaf),
			Labels: map[string]string{LabelKind: KindLabel(kind)},
		},
		Spec: v1alpha1.NodeCertificateSpec{
			NodeName:          node,
			Kind:              kind,
			SignerName:        csr.Spec.SignerName,
			SerialNumber:      leaf.SerialNumber.Text(16),
			SHA256Fingerprint: signer.Fingerprint(leaf),
			Subject:           leaf.Subject.String(),
			Issuer:            leaf.Issuer.String(),
			DNSNames:          leaf.DNSNames,
			IPAddresses:       ips,
			NotBefore:         metav1.NewTime(leaf.NotBefore),
			NotAfter:          metav1.NewTime(leaf.NotAfter),
			CSR:               v1alpha1.CSRReference{Name: csr.Name, UID: string(csr.UID), CreationTimestamp: csr.CreationTimestamp},
			Requester: v1alpha1.Requester{
				Username: csr.Spec.Username,
				Groups:   csr.Spec.Groups,
			},
			Approval: ApprovalOf(csr, v),
			Issuance: v1alpha1.Issuance{By: v1alpha1.ActorExternal},
		},
	}
	if len(validation.IsValidLabelValue(node)) == 0 {
		record.Labels[LabelNode] = node
	}
	if id, ok := strings.CutPrefix(csr.Spec.Username, csrstate.BootstrapUserPrefix); ok {
		record.Spec.Requester.BootstrapTokenID = id
	}
	return record
}

// The longest approval reason and message a record holds, as
// v1alpha1.Approval's validation allows.
const (
	maxApprovalReasonBytes  = 256
	maxApprovalMessageBytes = 4096
)

// ApprovalOf reads who approved csr from its Approved condition: nodetrust,
// with the policy, when the condition carries nodetrust's proof for csr and
// v verifies it (see ApprovingPolicy); external otherwise, whatever the
// condition says. The reason and message are copied either way, cut to
// what a record holds, so that an approver's long message cannot keep a
// certificate off the record.
func ApprovalOf(csr *certificatesv1.CertificateSigningRequest, v ApprovalVerifier) v1alpha1.Approval {
	a := v1alpha1.Approval{By: v1alpha1.ActorExternal}
	if c, ok := csrstate.Condition(csr, certificatesv1.CertificateApproved); ok {
		if name, ok := ApprovingPolicy(csr, c.Reason, c.Message, v); ok {
			a.By, a.Policy = v1alpha1.ActorNodetrust, name
		}
		a.Reason = pkcs10.Truncate(c.Reason, maxApprovalReasonBytes)
		a.Message = pkcs10.Truncate(c.Message, maxApprovalMessageBytes)
		if !c.LastUpdateTime.IsZero() {
			a.Time = c.LastUpdateTime.DeepCopy()
		}
	}
	return a
}
