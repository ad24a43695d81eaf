package signers

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

// observation is what the loop found out about one signer, in the order it
// looks: the backend, the additional trusted CAs, the CA (and every CA it
// trusts, for the bundle), the CA's health and rival signers for the same
// signer name. A step that failed ends the observation; the fields after it
// are zero. readErr is a failure to read the cache: nothing can be decided.
type observation struct {
	signerName string
	buildErr   error
	trustErr   error
	caErr      error
	ca         *x509.Certificate
	trusted    []*x509.Certificate
	checkErr   error
	rivals     []string
	readErr    error
}

// readiness is the Ready condition's status, reason and message a signer
// deserves from what was observed. Error texts in messages are flattened
// to one line.
func readiness(o observation) (metav1.ConditionStatus, string, string) {
	notReady := func(reason, message string) (metav1.ConditionStatus, string, string) {
		return metav1.ConditionFalse, reason, message
	}
	switch {
	case errors.Is(o.buildErr, ErrBackendUnavailable):
		return notReady(v1alpha1.ReasonBackendUnavailable, o.buildErr.Error())
	case errors.Is(o.buildErr, errInvalidSpec):
		return notReady(v1alpha1.ReasonInvalidSpec, o.buildErr.Error())
	case o.buildErr != nil:
		return notReady(v1alpha1.ReasonCANotLoaded, "the signer backend could not be opened: "+oneLine(o.buildErr))
	case o.trustErr != nil:
		return notReady(v1alpha1.ReasonInvalidSpec, "additionalTrustedCAs: "+oneLine(o.trustErr))
	case o.caErr != nil:
		return notReady(v1alpha1.ReasonCANotLoaded, "the CA could not be loaded: "+oneLine(o.caErr))
	case o.checkErr != nil:
		return notReady(v1alpha1.ReasonCANotLoaded, "the CA cannot sign: "+oneLine(o.checkErr))
	case len(o.rivals) > 0:
		return notReady(v1alpha1.ReasonSignerNameConflict, fmt.Sprintf(
			"NodeCertificateSigners %s also sign %s; none of them signs until only one is left", strings.Join(o.rivals, ", "), o.signerName))
	}
	return metav1.ConditionTrue, v1alpha1.ReasonSignerReady, fmt.Sprintf("signing %s with CA %q", o.signerName, o.ca.Subject)
}

// oneLine flattens an error for a condition message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
