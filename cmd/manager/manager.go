package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"k8s.io/utils/clock"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	nodetrustv1alpha1 "github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// leaderElectionID names the Lease that replicas compete for.
const leaderElectionID = "nodetrust.io"

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(nodetrustv1alpha1.AddToScheme(s))
	return s
}

// newManager builds the controller-runtime manager with probes, secured
// metrics and leader election, and wires every controller into it.
func newManager(cfg *rest.Config, o *options) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: newScheme(),
		Cache:  controllers.CacheOptions(o.SignerNamespace),
		Metrics: metricsserver.Options{
			BindAddress:    o.MetricsAddr,
			SecureServing:  true,
			FilterProvider: filters.WithAuthenticationAndAuthorization,
		},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := setupControllers(mgr, o); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("adding ready check: %w", err)
	}
	return mgr, nil
}

// setupControllers wires every controller into mgr.
func setupControllers(mgr ctrl.Manager, o *options) error {
	if err := controllers.AddIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	registry := controllers.NewSignerRegistry()
	approval := &controllers.ApprovalReconciler{
		Client:                 mgr.GetClient(),
		Recorder:               mgr.GetEventRecorder("nodetrust-approver"),
		Clock:                  clock.RealClock{},
		Evaluator:              &policy.Evaluator{Resolver: net.DefaultResolver},
		ClusterDomain:          o.ClusterDomain,
		MaxPendingPerRequester: o.MaxPendingPerRequester,
		Signers:                registry,
	}
	if err := approval.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the approval controller: %w", err)
	}
	signerStatus := &controllers.SignerReconciler{
		Client:    mgr.GetClient(),
		Clock:     clock.RealClock{},
		Registry:  registry,
		Backends:  signerBackends(mgr, o),
		Namespace: o.SignerNamespace,
	}
	if err := signerStatus.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the signer status controller: %w", err)
	}
	signing := &controllers.SigningReconciler{
		Client:        mgr.GetClient(),
		Recorder:      mgr.GetEventRecorder("nodetrust-signer"),
		Clock:         clock.RealClock{},
		Signers:       registry,
		ClusterDomain: o.ClusterDomain,
	}
	if err := signing.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the signing controller: %w", err)
	}
	records := &controllers.RecordReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("nodetrust-audit"), Signers: registry,
		Clock: clock.RealClock{}, Retention: o.RecordRetention, YieldFor: controllers.DefaultRecordYield}
	if err := records.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the record controller: %w", err)
	}
	recordGC := &controllers.RecordGCReconciler{Client: mgr.GetClient(), Clock: clock.RealClock{}, Retention: o.RecordRetention}
	if err := recordGC.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the record garbage collector: %w", err)
	}
	if err := controllers.RegisterMetrics(metrics.Registry, mgr.GetCache(), o.PerNodeMetrics); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := (&controllers.PolicyReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the policy status controller: %w", err)
	}
	return nil
}

// signerBackends wires the signer backends this manager was started with:
// Secrets always, files with --signer-files-dir, PKCS#11 with --pkcs11-module.
func signerBackends(mgr ctrl.Manager, o *options) map[controllers.BackendKind]controllers.BackendFactory {
	backends := map[controllers.BackendKind]controllers.BackendFactory{
		controllers.BackendSecret: &controllers.SecretBackend{Reader: mgr.GetCache(), Namespace: o.SignerNamespace, Clock: clock.RealClock{}},
	}
	if o.SignerFilesDir != "" {
		backends[controllers.BackendFiles] = &controllers.FilesBackend{Dir: o.SignerFilesDir, Clock: clock.RealClock{}}
	}
	if o.PKCS11Module != "" {
		backends[controllers.BackendPKCS11] = &controllers.PKCS11Backend{Module: o.PKCS11Module, Reader: mgr.GetCache(),
			Namespace: o.SignerNamespace, FilesDir: o.SignerFilesDir, Clock: clock.RealClock{}}
	}
	return backends
}
