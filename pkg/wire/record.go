package wire

import (
	"crypto/x509"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
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
// signer. Approval is read from csr (see ApprovalOf); Issuance says
// external, for the caller to set when nodetrust signed leaf.
func NewRecord(csr *certificatesv1.CertificateSigningRequest, leaf *x509.Certificate) *v1alpha1.NodeCertificate {
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
			Approval: ApprovalOf(csr),
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

// ApprovalOf reads who approved csr from its Approved condition: nodetrust,
// with the policy, when the condition is one nodetrust writes (see
// ApprovingPolicy), external otherwise.
func ApprovalOf(csr *certificatesv1.CertificateSigningRequest) v1alpha1.Approval {
	a := v1alpha1.Approval{By: v1alpha1.ActorExternal}
	if c, ok := csrstate.Condition(csr, certificatesv1.CertificateApproved); ok {
		a.Reason, a.Message = c.Reason, c.Message
		if !c.LastUpdateTime.IsZero() {
			a.Time = c.LastUpdateTime.DeepCopy()
		}
	}
	if name, ok := ApprovingPolicy(a.Reason, a.Message); ok {
		a.By, a.Policy = v1alpha1.ActorNodetrust, name
	}
	return a
}
