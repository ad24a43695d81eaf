package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/controllers/approval"
	"github.com/nodetrust/nodetrust/controllers/internal/facts"
	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/controllers/internal/metrics"
	"github.com/nodetrust/nodetrust/controllers/internal/policystore"
	"github.com/nodetrust/nodetrust/controllers/internal/registry"
	"github.com/nodetrust/nodetrust/controllers/policies"
	"github.com/nodetrust/nodetrust/controllers/recordgc"
	"github.com/nodetrust/nodetrust/controllers/records"
	"github.com/nodetrust/nodetrust/controllers/signers"
	"github.com/nodetrust/nodetrust/controllers/signing"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// Loop names one control loop, as its controller is named in logs and
// metrics.
type Loop string

// The control loops.
const (
	LoopApproval Loop = "csr-approval"
	LoopSigning  Loop = "csr-signing"
	LoopSigners  Loop = "signer-status"
	LoopRecords  Loop = "certificate-records"
	LoopRecordGC Loop = "record-gc"
	LoopPolicies Loop = "policy-status"
)

// AllLoops are every control loop, the default of Config.Loops.
var AllLoops = []Loop{LoopApproval, LoopSigning, LoopSigners, LoopRecords, LoopRecordGC, LoopPolicies}

// Defaults of Config.
const (
	DefaultMaxPendingPerRequester = approval.DefaultMaxPendingPerRequester
	DefaultRecordRetention        = recordgc.DefaultRetention
	DefaultRecordYield            = records.DefaultYield
	DefaultClusterDomain          = "cluster.local"
)

// Config is what the control loops are set up with. The zero value of an
// optional field takes its default.
type Config struct {
	// Loops are the loops to run; nil runs AllLoops.
	Loops []Loop
	// SignerNamespace is where signers read Secrets and publish CA bundles.
	// Required.
	SignerNamespace string
	// Backends are the signer backends this manager has, by kind.
	Backends map[signers.BackendKind]signers.BackendFactory
	// ClusterDomain is the cluster DNS domain; default DefaultClusterDomain.
	ClusterDomain string
	// ServiceClusterIPRanges are the Service IP ranges assumed when the
	// cluster has no ServiceCIDR objects. Optional.
	ServiceClusterIPRanges []*net.IPNet
	// MaxPendingPerRequester bounds the pending CSRs considered per
	// requester; nil means DefaultMaxPendingPerRequester, 0 no bound.
	MaxPendingPerRequester *int
	// RecordRetention is how long records outlive their certificate;
	// default DefaultRecordRetention.
	RecordRetention time.Duration
	// RecordYield is how long records may wait for approvals in flight;
	// nil means DefaultRecordYield, 0 records at once.
	RecordYield *time.Duration
	// Metrics, when set, receives nodetrust's metrics; PerNodeMetrics adds
	// the per-node certificate expiry series.
	Metrics        prometheus.Registerer
	PerNodeMetrics bool
	// Clock is the time source; default the real clock.
	Clock clock.PassiveClock
	// Resolver resolves DNS names for policies that ask for it; nil makes
	// such policies fail to evaluate.
	Resolver policy.Resolver
	// Random is the source of certificate serial numbers; default crypto/rand.
	Random io.Reader
	// ApprovalKeys prove the approvals the approval loop writes and verify
	// them when the records loop attributes a certificate (see
	// LoadApprovalKeys). Required when either loop runs.
	ApprovalKeys attest.Keys
}

// CacheOptions restricts the manager's cache to what the loops read, which
// keeps memory small and RBAC narrow: bootstrap-token Secrets in
// kube-system, the Secrets of the signer namespace, the CA bundle
// ConfigMaps nodetrust manages there, and the default/kubernetes Service.
func CacheOptions(signerNamespace string) cache.Options {
	secrets := map[string]cache.Config{
		facts.BootstrapTokenNamespace: {FieldSelector: fields.OneTermEqualSelector("type", string(policy.BootstrapTokenSecretType))},
	}
	secrets[signerNamespace] = cache.Config{} // every Secret, when the signer namespace is kube-system too
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: secrets},
		&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{signerNamespace: {}},
			Label:      labels.SelectorFromSet(labels.Set{wire.LabelManagedBy: wire.ManagedByValue}),
		},
		&corev1.Service{}: {
			Namespaces: map[string]cache.Config{metav1.NamespaceDefault: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", "kubernetes"),
		},
	}}
}

// Setup sets the loops of cfg up in mgr, whose cache must have been built
// with CacheOptions(cfg.SignerNamespace).
func Setup(mgr ctrl.Manager, cfg Config) error {
	if cfg.SignerNamespace == "" {
		return errors.New("setting up the controllers: no signer namespace")
	}
	loops := cfg.Loops
	if loops == nil {
		loops = AllLoops
	}
	for _, loop := range loops {
		if !slices.Contains(AllLoops, loop) {
			return fmt.Errorf("setting up the controllers: no loop %q", loop)
		}
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	domain := cfg.ClusterDomain
	if domain == "" {
		domain = DefaultClusterDomain
	}
	retention := cfg.RecordRetention
	if retention == 0 {
		retention = DefaultRecordRetention
	}
	prover, verifier, err := approvalAttestation(cfg.ApprovalKeys, loops)
	if err != nil {
		return err
	}
	if err := index.Add(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	reg, store := registry.New(), &policystore.Store{}
	gatherer := &facts.Gatherer{Reader: mgr.GetClient(), Clock: clk, ClusterDomain: domain, ServiceRanges: cfg.ServiceClusterIPRanges,
		Verifier: verifier, Policies: store, Signers: reg}
	c := mgr.GetClient()
	reconcilers := map[Loop]interface{ SetupWithManager(ctrl.Manager) error }{
		LoopApproval: &approval.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("nodetrust-approver"), Clock: clk, Facts: gatherer,
			Evaluator: &policy.Evaluator{Resolver: cfg.Resolver}, Signers: reg, Prover: prover,
			MaxPendingPerRequester: derefOr(cfg.MaxPendingPerRequester, DefaultMaxPendingPerRequester)},
		LoopSigning: &signing.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("nodetrust-signer"), Clock: clk, Signers: reg,
			Facts: gatherer, Random: cfg.Random},
		LoopSigners: &signers.Reconciler{Client: c, Clock: clk, Recorder: mgr.GetEventRecorder("nodetrust-signer"), Registry: reg, Backends: cfg.Backends, Namespace: cfg.SignerNamespace},
		LoopRecords: &records.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("nodetrust-audit"), Signers: reg, Verifier: verifier, Clock: clk,
			Retention: retention, YieldFor: derefOr(cfg.RecordYield, DefaultRecordYield)},
		LoopRecordGC: &recordgc.Reconciler{Client: c, Clock: clk, Retention: retention},
		LoopPolicies: &policies.Reconciler{Client: c, Policies: store},
	}
	for _, loop := range AllLoops {
		if !slices.Contains(loops, loop) {
			continue
		}
		if err := reconcilers[loop].SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up %s: %w", loop, err)
		}
	}
	if cfg.Metrics != nil {
		if err := metrics.Register(cfg.Metrics, mgr.GetCache(), cfg.PerNodeMetrics); err != nil {
			return err
		}
	}
	return nil
}

// approvalAttestation is the prover and verifier of keys, which are
// required when the approval or the records loop runs.
func approvalAttestation(keys attest.Keys, loops []Loop) (*attest.Prover, *attest.Verifier, error) {
	if !slices.Contains(loops, LoopApproval) && !slices.Contains(loops, LoopRecords) {
		return nil, nil, nil
	}
	prover, err := attest.NewProver(keys.Current)
	if err != nil {
		return nil, nil, fmt.Errorf("setting up the controllers: the approval keys: %w", err)
	}
	verifier, err := attest.NewVerifier(keys)
	if err != nil {
		return nil, nil, fmt.Errorf("setting up the controllers: the approval keys: %w", err)
	}
	return prover, verifier, nil
}

func derefOr[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}
