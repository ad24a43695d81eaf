package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
)

// options are the manager's command-line settings.
type options struct {
	MetricsAddr             string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	ClusterDomain           string
	ServiceClusterIPRange   string
	serviceRanges           []*net.IPNet
	MaxPendingPerRequester  int
	SignerNamespace         string
	ApprovalKeySecret       string
	SignerFilesDir          string
	PKCS11Module            string
	RecordRetention         time.Duration
	PerNodeMetrics          bool
	zap                     zap.Options
}

// parseFlags parses the manager's flags. Unknown flags, stray arguments and
// malformed values are errors; usage goes to out.
func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(out)
	config.RegisterFlags(fs)
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443",
		"Address the HTTPS metrics endpoint binds to (authenticated and authorized by the API server); 0 disables it.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz endpoints bind to.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false,
		"Elect a leader through a Lease so that only one replica acts at a time. On in the shipped Deployment.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader-election Lease; defaults to the manager's own namespace in a cluster.")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 15*time.Second,
		"How long non-leaders wait before trying to take over the Lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew the Lease before giving up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 2*time.Second,
		"How long leader-election clients wait between attempts.")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local",
		"Cluster DNS domain; serving certificates may not claim kubernetes.default.svc.<domain>.")
	fs.StringVar(&o.ServiceClusterIPRange, "service-cluster-ip-range", "",
		"Comma-separated Service CIDRs (as given to kube-apiserver) that serving certificates may not claim when the cluster has no "+
			"ServiceCIDR objects; with ServiceCIDRs (Kubernetes 1.33 and later) those are read instead.")
	fs.IntVar(&o.MaxPendingPerRequester, "max-pending-per-requester", controllers.DefaultMaxPendingPerRequester,
		"Pending CSRs considered per requester; newer ones beyond it are denied. 0 disables the bound.")
	fs.StringVar(&o.SignerNamespace, "signer-namespace", "nodetrust-system",
		"Namespace of the Secrets NodeCertificateSigners read (CA, PIN) and of the CA bundle ConfigMaps they publish.")
	fs.StringVar(&o.ApprovalKeySecret, "approval-key-secret", controllers.DefaultApprovalKeySecret,
		"Secret in the signer namespace holding the key nodetrust proves its approvals with (data keys key and previous); created with a random key when missing.")
	fs.StringVar(&o.SignerFilesDir, "signer-files-dir", "",
		"Directory whose files NodeCertificateSigners may name (CA files, PIN files); empty disables the files backend.")
	fs.StringVar(&o.PKCS11Module, "pkcs11-module", "",
		"Absolute path of the PKCS#11 module for NodeCertificateSigners with keys in an HSM; empty disables the pkcs11 backend.")
	fs.DurationVar(&o.RecordRetention, "record-retention", controllers.DefaultRecordRetention,
		"How long a NodeCertificate record is kept after its certificate expired.")
	fs.BoolVar(&o.PerNodeMetrics, "per-node-metrics", true,
		"Export nodetrust_node_certificate_expiration_timestamp_seconds, two series per node; turn off for very large clusters.")
	o.zap.Development = false
	o.zap.BindFlags(fs)

	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("parsing flags: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) validate() error {
	for name, addr := range map[string]string{
		"--metrics-bind-address":      o.MetricsAddr,
		"--health-probe-bind-address": o.ProbeAddr,
	} {
		if addr == "0" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q is not host:port or 0", name, addr)
		}
	}
	if o.MaxPendingPerRequester < 0 {
		return fmt.Errorf("--max-pending-per-requester must not be negative, got %d", o.MaxPendingPerRequester)
	}
	if errs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(errs) > 0 {
		return fmt.Errorf("--cluster-domain %q is not a DNS domain: %s", o.ClusterDomain, strings.Join(errs, "; "))
	}
	for _, c := range strings.Split(o.ServiceClusterIPRange, ",") {
		if c == "" && o.ServiceClusterIPRange == "" {
			break
		}
		_, n, err := net.ParseCIDR(strings.TrimSpace(c))
		if err != nil {
			return fmt.Errorf("--service-cluster-ip-range %q: %q is not a CIDR", o.ServiceClusterIPRange, c)
		}
		o.serviceRanges = append(o.serviceRanges, n)
	}
	if err := o.validateSigning(); err != nil {
		return err
	}
	if o.LeaseDuration <= o.RenewDeadline {
		return fmt.Errorf("--leader-election-lease-duration (%s) must be longer than --leader-election-renew-deadline (%s)",
			o.LeaseDuration, o.RenewDeadline)
	}
	if o.RenewDeadline <= o.RetryPeriod || o.RetryPeriod <= 0 {
		return fmt.Errorf("--leader-election-renew-deadline (%s) must be longer than --leader-election-retry-period (%s), which must be positive",
			o.RenewDeadline, o.RetryPeriod)
	}
	return nil
}

// validateSigning checks the signer and record flags.
func (o *options) validateSigning() error {
	if errs := validation.IsDNS1123Label(o.SignerNamespace); len(errs) > 0 {
		return fmt.Errorf("--signer-namespace %q is not a namespace name: %s", o.SignerNamespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(o.ApprovalKeySecret); len(errs) > 0 {
		return fmt.Errorf("--approval-key-secret %q is not a Secret name: %s", o.ApprovalKeySecret, strings.Join(errs, "; "))
	}
	for name, path := range map[string]string{"--signer-files-dir": o.SignerFilesDir, "--pkcs11-module": o.PKCS11Module} {
		if path != "" && !filepath.IsAbs(path) {
			return fmt.Errorf("%s %q is not an absolute path", name, path)
		}
	}
	if o.RecordRetention < 0 {
		return fmt.Errorf("--record-retention must not be negative, got %s", o.RecordRetention)
	}
	if o.PKCS11Module != "" && !pkcs11.Supported {
		return errors.New("--pkcs11-module needs a manager built with cgo (CGO_ENABLED=1); see docs/signing.md")
	}
	return nil
}

func (o *options) logger() logr.Logger {
	return zap.New(zap.UseFlagOptions(&o.zap))
}
