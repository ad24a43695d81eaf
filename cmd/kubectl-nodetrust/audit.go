package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/audit"
)

// auditFlags are the flags of the audit command.
type auditFlags struct {
	cluster        clusterFlags
	expiringWithin durationValue
	burstWindow    durationValue
	burstThreshold int
	failOn         string
	node           string
}

var auditCommand = command{
	name:    "audit",
	summary: "Report each node's current kubelet certificates and their anomalies",
	help: `Reads every NodeCertificate record (written by the nodetrust manager for every
kubelet certificate issued through a CSR) and every Node, and prints one row per
node and certificate kind, then the anomalies found. Anomaly codes:

  expired                    the node's current certificate expired and no valid one is on record
  expiring                   the node's current certificate expires within --expiring-within
  no-serving                 the Node has no valid serving certificate on record
  san-mismatch               the current serving certificate names an address the Node does not report
  unknown-node               a valid certificate is on record for a Node that does not exist
  not-approved-by-nodetrust  a valid certificate was approved by someone other than nodetrust
  burst                      more than --burst-threshold valid certificates of one kind for one
                             node were requested within --burst-window

With --fail-on, the command exits with code 3 when it finds an anomaly with one
of the given codes (after printing the report as usual).

Examples:
  kubectl nodetrust audit
  kubectl nodetrust audit --node worker-1 -o yaml
  kubectl nodetrust audit --expiring-within 14d --fail-on expired,expiring,no-serving
`,
	flags: func(fs *pflag.FlagSet) func(context.Context, streams) int {
		f := &auditFlags{
			expiringWithin: durationValue(audit.DefaultExpiringWithin),
			burstWindow:    durationValue(audit.DefaultBurstWindow),
		}
		f.cluster.register(fs)
		fs.Var(&f.expiringWithin, "expiring-within", "report current certificates expiring within this long (days like 30d, or Go durations like 12h)")
		fs.Var(&f.burstWindow, "burst-window", "the span within which too many certificates for one node are a burst")
		fs.IntVar(&f.burstThreshold, "burst-threshold", audit.DefaultBurstThreshold, "how many valid certificates of one kind for one node requested within --burst-window are still no burst")
		fs.StringVar(&f.failOn, "fail-on", "none", "exit with code 3 when an anomaly with one of these comma-separated codes is found; all or none")
		fs.StringVar(&f.node, "node", "", "report on this node only")
		return func(ctx context.Context, s streams) int { return f.run(ctx, s) }
	},
}

// options checks the flags and returns the analysis options and --fail-on codes.
func (f *auditFlags) options() (audit.Options, failOn, error) {
	if err := f.cluster.validate(); err != nil {
		return audit.Options{}, nil, err
	}
	if f.expiringWithin <= 0 {
		return audit.Options{}, nil, errors.New("--expiring-within must be more than 0")
	}
	if f.burstWindow <= 0 {
		return audit.Options{}, nil, errors.New("--burst-window must be more than 0")
	}
	if f.burstThreshold < 1 {
		return audit.Options{}, nil, errors.New("--burst-threshold must be at least 1")
	}
	codes, err := parseFailOn(f.failOn)
	if err != nil {
		return audit.Options{}, nil, err
	}
	return audit.Options{
		ExpiringWithin: time.Duration(f.expiringWithin),
		BurstWindow:    time.Duration(f.burstWindow),
		BurstThreshold: f.burstThreshold,
	}, codes, nil
}

func (f *auditFlags) run(ctx context.Context, s streams) int {
	opts, codes, err := f.options()
	if err != nil {
		return usageError(s, "audit", err)
	}
	c, err := newClient(&f.cluster, s.err)
	if err != nil {
		return fail(s, err)
	}
	records, err := listRecords(ctx, c)
	if err != nil {
		return fail(s, err)
	}
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return fail(s, err)
	}
	if f.node != "" {
		records, nodes = onlyNode(f.node, records, nodes)
	}
	report := audit.Analyze(records, nodes, time.Now().UTC().Truncate(time.Second), opts)
	if err := printReport(s.out, f.cluster.output, report, f.node); err != nil {
		return fail(s, err)
	}
	if hits := codes.matching(report.Anomalies); len(hits) > 0 {
		fmt.Fprintf(s.err, "%d anomal%s matched --fail-on=%s\n", len(hits), plural(len(hits), "y", "ies"), f.failOn)
		return exitAnomalies
	}
	return exitOK
}

// onlyNode keeps the records and the Node of one node. The analysis is per
// node, so filtering its input filters its output.
func onlyNode(name string, records []v1alpha1.NodeCertificate, nodes []corev1.Node) ([]v1alpha1.NodeCertificate, []corev1.Node) {
	records = slices.DeleteFunc(records, func(r v1alpha1.NodeCertificate) bool { return r.Spec.NodeName != name })
	nodes = slices.DeleteFunc(nodes, func(n corev1.Node) bool { return n.Name != name })
	return records, nodes
}

// printReport writes report in format; node is the --node filter, for the
// message of an empty report.
func printReport(w io.Writer, format string, report audit.Report, node string) error {
	switch format {
	case outputJSON:
		return writeJSON(w, report)
	case outputYAML:
		return writeYAML(w, report)
	default:
		return printAuditTable(w, report, node)
	}
}

func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", data); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

func writeYAML(w io.Writer, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding YAML: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

var certificateKinds = []v1alpha1.CertificateKind{v1alpha1.CertificateClient, v1alpha1.CertificateServing}

// printAuditTable writes one row per node and certificate kind, then the
// anomalies. A Node that exists gets both rows; a node known only from its
// records gets a row per kind it has records of.
func printAuditTable(w io.Writer, report audit.Report, node string) error {
	if len(report.Nodes) == 0 {
		if node != "" {
			_, err := fmt.Fprintf(w, "No Node and no NodeCertificate records named %q.\n", node)
			return wrapWrite(err)
		}
		_, err := fmt.Fprintln(w, "No Nodes and no NodeCertificate records.")
		return wrapWrite(err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tSERIAL\tEXPIRES\tAPPROVED BY\tANOMALIES")
	for _, n := range report.Nodes {
		for _, kind := range certificateKinds {
			cert := n.Current(kind)
			codes := codesOf(report.Anomalies, n.Name, kind)
			if cert == nil && !n.Exists && len(codes) == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, kind, serialText(cert),
				expiresText(cert, report.GeneratedAt), approvedByText(cert), orDash(strings.Join(codes, ",")))
		}
	}
	if err := tw.Flush(); err != nil {
		return wrapWrite(err)
	}
	if len(report.Anomalies) == 0 {
		_, err := fmt.Fprintln(w, "\nNo anomalies.")
		return wrapWrite(err)
	}
	fmt.Fprintf(tw, "\n%d anomal%s:\n", len(report.Anomalies), plural(len(report.Anomalies), "y", "ies"))
	for _, a := range report.Anomalies {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Node, a.Code, a.Message)
	}
	return wrapWrite(tw.Flush())
}

func wrapWrite(err error) error {
	if err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// codesOf returns the distinct codes of node's anomalies about kind, in report order.
func codesOf(anomalies []audit.Anomaly, node string, kind v1alpha1.CertificateKind) []string {
	var codes []string
	for _, a := range anomalies {
		if a.Node == node && a.CertificateKind == kind && !slices.Contains(codes, string(a.Code)) {
			codes = append(codes, string(a.Code))
		}
	}
	return codes
}

func serialText(c *audit.Certificate) string {
	if c == nil {
		return "<none>"
	}
	return orDash(c.SerialNumber)
}

// expiresText is the date of notAfter and how far it is: "2026-05-01 (in 12d)",
// "2026-04-01 (expired 3d ago)".
func expiresText(c *audit.Certificate, now time.Time) string {
	if c == nil {
		return "-"
	}
	date := c.NotAfter.UTC().Format(time.DateOnly)
	if c.Expired {
		return date + " (expired " + audit.Relative(c.NotAfter, now) + ")"
	}
	return date + " (" + audit.Relative(c.NotAfter, now) + ")"
}

// approvedByText is "policy <name>" for nodetrust's approvals, "external" for others'.
func approvedByText(c *audit.Certificate) string {
	switch {
	case c == nil:
		return "-"
	case c.Approval.By == v1alpha1.ActorNodetrust && c.Approval.Policy != "":
		return "policy " + c.Approval.Policy
	default:
		return orDash(string(c.Approval.By))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
