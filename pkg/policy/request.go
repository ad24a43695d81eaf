package policy

import (
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// Request is one kubelet CSR, classified and parsed once. Everything
// downstream reads this value.
type Request struct {
	// Name and UID identify the CSR object.
	Name string
	UID  string
	// Kind is the kind of kubelet request.
	Kind v1alpha1.RequestKind
	// SignerName is spec.signerName.
	SignerName string
	// Username, Groups and Extra are the requester as the API server recorded it.
	Username string
	Groups   []string
	Extra    map[string]certificatesv1.ExtraValue
	// TokenID is the bootstrap token ID of a ClientBootstrap requester.
	TokenID string
	// NodeName is the node the request is for: the requester's node name for
	// node requesters, the CN's for bootstrap requesters.
	NodeName string
	// Usages is spec.usages.
	Usages []certificatesv1.KeyUsage
	// ExpirationSeconds is spec.expirationSeconds, nil when unset.
	ExpirationSeconds *int32
	// Created is the CSR's creation time.
	Created time.Time
	// CSR is the parsed PKCS#10 request; nil when parsing found violations.
	CSR *pkcs10.Request
	// ParseViolations are what parsing spec.request found wrong.
	ParseViolations Violations
}

// NewRequest classifies and parses csr. It returns false for requests that
// are not kubelet requests (see csrstate.Kind). A malformed spec.request is not an
// error: it is recorded in ParseViolations and leads to a denial.
func NewRequest(csr *certificatesv1.CertificateSigningRequest) (*Request, bool) {
	kind, ok := csrstate.Kind(csr)
	if !ok {
		return nil, false
	}
	r := &Request{
		Name:              csr.Name,
		UID:               string(csr.UID),
		Kind:              kind,
		SignerName:        csr.Spec.SignerName,
		Username:          csr.Spec.Username,
		Groups:            csr.Spec.Groups,
		Extra:             csr.Spec.Extra,
		Usages:            csr.Spec.Usages,
		ExpirationSeconds: csr.Spec.ExpirationSeconds,
		Created:           csr.CreationTimestamp.Time,
	}
	r.CSR, r.ParseViolations = pkcs10.Parse(csr.Spec.Request)
	switch kind {
	case v1alpha1.KindClientBootstrap:
		r.TokenID = strings.TrimPrefix(r.Username, csrstate.BootstrapUserPrefix)
		if r.CSR != nil {
			r.NodeName = strings.TrimPrefix(r.CSR.CommonName, csrstate.NodeUserPrefix)
		}
	default:
		r.NodeName = strings.TrimPrefix(r.Username, csrstate.NodeUserPrefix)
	}
	return r, true
}

// InGroup reports whether the requester is a member of group.
func (r *Request) InGroup(group string) bool {
	return slices.Contains(r.Groups, group)
}
