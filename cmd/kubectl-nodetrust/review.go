package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// messageWidth bounds the MESSAGE column of the review table.
const messageWidth = 60

var reviewCommand = command{
	name:    "review",
	summary: "List the certificate requests waiting for manual review",
	help: `Lists the CSRs that nodetrust left for a person to decide and that are still
pending: those carrying nodetrust's nodetrust.io/ReviewRequired condition, which
only nodetrust writes (the label nodetrust.io/review=required selects them, but a
requester can set a label itself, so a label alone is not listed). CSRs approved,
denied or failed since, or already issued, are not listed. The table
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
	// Reason, Policy and Message are from nodetrust's review condition.
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
	csrs, err := listCSRs(ctx, c, client.MatchingLabels{wire.LabelReview: wire.ReviewRequired})
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
		review, ok := wire.ReviewOf(csr)
		if !ok {
			continue // decided, or labelled by someone other than nodetrust
		}
		list.Items = append(list.Items, reviewItem{
			Name:       csr.Name,
			Node:       csrstate.NodeOf(csr),
			Requester:  csr.Spec.Username,
			SignerName: csr.Spec.SignerName,
			Kind:       kindOf(csr.Spec.SignerName),
			Created:    csr.CreationTimestamp.Time,
			Reason:     review.Reason,
			Policy:     review.Policy,
			Message:    review.Message,
		})
	}
	slices.SortFunc(list.Items, func(a, b reviewItem) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Name, b.Name))
	})
	return list
}

// kindOf is Client or Serving for the kubelet signers, else the signer name.
func kindOf(signerName string) string {
	if kind, ok := csrstate.CertificateKind(signerName); ok {
		return string(kind)
	}
	return signerName
}

// requesterText is the node when the node asked itself, else the node and
// who asked for it, else who asked.
func requesterText(it reviewItem) string {
	switch {
	case it.Node == "":
		return orDash(it.Requester)
	case it.Requester == csrstate.NodeUserPrefix+it.Node:
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
