package main

import (
	"context"
	"crypto/rand"
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
	"github.com/nodetrust/nodetrust/controllers/signers"
	"github.com/nodetrust/nodetrust/pkg/attest"
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
// metrics and leader election, loads the approval keys, and wires every
// controller into it.
func newManager(ctx context.Context, cfg *rest.Config, o *options) (ctrl.Manager, error) {
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
	// Every replica loads the keys, leader or not: the API server is read
	// directly, since the cache starts with the manager.
	keys, err := controllers.LoadApprovalKeys(ctx, mgr.GetAPIReader(), mgr.GetClient(), o.SignerNamespace, o.ApprovalKeySecret, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("loading the approval keys: %w", err)
	}
	if err := setupControllers(mgr, o, keys); err != nil {
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

// setupControllers wires every control loop into mgr, with the signer
// backends this manager was started with and the approval keys.
func setupControllers(mgr ctrl.Manager, o *options, keys attest.Keys) error {
	err := controllers.Setup(mgr, controllers.Config{
		SignerNamespace:        o.SignerNamespace,
		Backends:               signerBackends(mgr, o),
		ClusterDomain:          o.ClusterDomain,
		ServiceClusterIPRanges: o.serviceRanges,
		MaxPendingPerRequester: &o.MaxPendingPerRequester,
		RecordRetention:        o.RecordRetention,
		Metrics:                metrics.Registry,
		PerNodeMetrics:         o.PerNodeMetrics,
		Resolver:               net.DefaultResolver,
		ApprovalKeys:           keys,
	})
	if err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	return nil
}

// signerBackends wires the signer backends this manager was started with:
// Secrets always, files with --signer-files-dir, PKCS#11 with --pkcs11-module.
func signerBackends(mgr ctrl.Manager, o *options) map[signers.BackendKind]signers.BackendFactory {
	backends := map[signers.BackendKind]signers.BackendFactory{
		signers.BackendSecret: &signers.SecretBackend{Reader: mgr.GetCache(), Namespace: o.SignerNamespace, Clock: clock.RealClock{}},
	}
	if o.SignerFilesDir != "" {
		backends[signers.BackendFiles] = &signers.FilesBackend{Dir: o.SignerFilesDir, Clock: clock.RealClock{}}
	}
	if o.PKCS11Module != "" {
		backends[signers.BackendPKCS11] = &signers.PKCS11Backend{Module: o.PKCS11Module, Reader: mgr.GetCache(),
			Namespace: o.SignerNamespace, FilesDir: o.SignerFilesDir, Clock: clock.RealClock{}}
	}
	return backends
}
