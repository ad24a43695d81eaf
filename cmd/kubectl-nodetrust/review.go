package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The review label and annotations, as controllers/approval.go writes them.
// They are repeated here so that the plugin does not link the manager's
// controllers and signers; a test keeps the two in step.
const (
	labelReview             = "nodetrust.io/review"
	labelReviewRequired     = "required"
	annotationReviewReason  = "nodetrust.io/review-reason"
	annotationReviewMessage = "nodetrust.io/review-message"
	annotationReviewPolicy  = "nodetrust.io/review-policy"
)

// nodeUserPrefix starts the username, and the certificate CN, of a kubelet.
const nodeUserPrefix = "system:node:"

// messageWidth bounds the MESSAGE column of the review table.
const messageWidth = 60

var reviewCommand = command{
	name:    "review",
	summary: "List the certificate requests waiting for manual review",
	help: `Lists the CSRs that nodetrust left for a person to decide (label
nodetrust.io/review=required) and that are still pending: CSRs approved, denied
or failed since, or already issued, keep the label but are not listed. The table
truncates the message; -o json and -o yaml print it in full. docs/review.md says
how to check and decide a request.

Examples:
  kubectl nodetrust review
  kubectl nodetrust review -o yaml
  kubectl certificate approve <name>     # or deny
`,
	flags: func(fs *pflag.FlagSet) func(context.Context, streams) int {
		f := &clusterFlags{}
		f.register(fs)
		return func(ctx context.Context, s streams) int { return runReview(ctx, s, f) }
	},
}

// reviewItem is one CSR waiting for review, as -o json and -o yaml print it.
type reviewItem struct {
	// Name of the CSR.
	Name string `json:"name"`
	// Node the request is for, from the requester or the request's CN;
	// empty when neither names one.
	Node string `json:"node,omitempty"`
	// Requester is the CSR's spec.username.
	Requester string `json:"requester"`
	// SignerName is the CSR's spec.signerName.
	SignerName string `json:"signerName"`
	// Kind is Client or Serving for the kubelet signers, else the signer name.
	Kind string `json:"kind"`
	// Created is the CSR's creation time.
	Created time.Time `json:"created"`
	// Reason, Policy and Message are the review annotations.
	Reason  string `json:"reason"`
	Policy  string `json:"policy"`
	Message string `json:"message"`
}

// reviewList is what -o json and -o yaml print.
type reviewList struct {
	Items []reviewItem `json:"items"`
}

func runReview(ctx context.Context, s streams, f *clusterFlags) int {
	if err := f.validate(); err != nil {
		return usageError(s, "review", err)
	}
	c, err := newClient(f, s.err)
	if err != nil {
		return fail(s, err)
	}
	csrs, err := listCSRs(ctx, c, client.MatchingLabels{labelReview: labelReviewRequired})
	if err != nil {
		return fail(s, err)
	}
	list := pendingReviews(csrs)
	switch f.output {
	case outputJSON:
		err = writeJSON(s.out, list)
	case outputYAML:
		err = writeYAML(s.out, list)
	default:
		err = printReviewTable(s.out, list, time.Now())
	}
	if err != nil {
		return fail(s, err)
	}
	return exitOK
}

// pendingReviews returns the CSRs still pending, oldest first.
func pendingReviews(csrs []certificatesv1.CertificateSigningRequest) reviewList {
	list := reviewList{Items: []reviewItem{}}
	for i := range csrs {
		csr := &csrs[i]
		if !pending(csr) {
			continue
		}
		list.Items = append(list.Items, reviewItem{
			Name:       csr.Name,
			Node:       nodeOf(csr),
			Requester:  csr.Spec.Username,
			SignerName: csr.Spec.SignerName,
			Kind:       kindOf(csr.Spec.SignerName),
			Created:    csr.CreationTimestamp.Time,
			Reason:     csr.Annotations[annotationReviewReason],
			Policy:     csr.Annotations[annotationReviewPolicy],
			Message:    csr.Annotations[annotationReviewMessage],
		})
	}
	slices.SortFunc(list.Items, func(a, b reviewItem) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Name, b.Name))
	})
	return list
}

// pending reports whether nobody has decided csr yet: no Approved, Denied or
// Failed condition and no certificate.
func pending(csr *certificatesv1.CertificateSigningRequest) bool {
	if len(csr.Status.Certificate) > 0 {
		return false
	}
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			// The API server defaults an empty status to True.
			if c.Status == corev1.ConditionTrue || c.Status == "" {
				return false
			}
		}
	}
	return true
}

// nodeOf is the node a kubelet CSR is for: the requester's node name, else
// the node named by the request's common name (bootstrap requests).
func nodeOf(csr *certificatesv1.CertificateSigningRequest) string {
	if node, ok := strings.CutPrefix(csr.Spec.Username, nodeUserPrefix); ok {
		return node
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		return ""
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return ""
	}
	node, _ := strings.CutPrefix(req.Subject.CommonName, nodeUserPrefix)
	if node == req.Subject.CommonName {
		return ""
	}
	return node
}

func kindOf(signer string) string {
	switch signer {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		return "Client"
	case certificatesv1.KubeletServingSignerName:
		return "Serving"
	default:
		return signer
	}
}

// requesterText is the node when the node asked itself, else the node and
// who asked for it, else who asked.
func requesterText(it reviewItem) string {
	switch {
	case it.Node == "":
		return orDash(it.Requester)
	case it.Requester == nodeUserPrefix+it.Node:
		return it.Node
	default:
		return it.Node + " (" + it.Requester + ")"
	}
}

func printReviewTable(w io.Writer, list reviewList, now time.Time) error {
	if len(list.Items) == 0 {
		_, err := fmt.Fprintln(w, "No CSRs are waiting for review.")
		return wrapWrite(err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNODE/REQUESTER\tKIND\tAGE\tREASON\tPOLICY\tMESSAGE")
	for _, it := range list.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, requesterText(it), it.Kind,
			duration.HumanDuration(now.Sub(it.Created)), orDash(it.Reason), orDash(it.Policy),
			orDash(truncate(it.Message, messageWidth)))
	}
	return wrapWrite(tw.Flush())
}

// truncate folds runs of white space into one space and cuts s to width
// runes, ending with "…" when it cut.
func truncate(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return strings.TrimRight(string(r[:width-1]), " ") + "…"
}
