package approval_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/controllers/signers"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

const signerNamespace = "nodetrust-system"

var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	// Only benchmarks live here: without -bench there is nothing to run, so
	// no control plane is started.
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	ctrl.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, func(e *testenv.Env) { env = e }))
}

var setupOnce sync.Once

// setup creates what every manager needs: RBAC, a policy approving the
// benchmark's renewals, and a Secret-backed signer of kubelet client
// certificates, so that every approval is followed by an issuance (and,
// with records on, a record).
func setup(b *testing.B) {
	b.Helper()
	setupOnce.Do(func() {
		ctx := context.Background()
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: signerNamespace}}); err != nil {
			b.Fatal(err)
		}
		if err := env.AllowCSRCreation(ctx); err != nil {
			b.Fatal(err)
		}
		if err := env.GrantManagerRBAC(ctx, "nodetrust-manager", signerNamespace); err != nil {
			b.Fatal(err)
		}
		ca := signertest.NewCA(b, signertest.ECDSAP256, "benchmark client CA")
		objects := []client.Object{
			&v1alpha1.NodeCertificatePolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: v1alpha1.NodeCertificatePolicySpec{
				Selector:      v1alpha1.RequestSelector{NodeNamePattern: "bench-.*"},
				ClientRenewal: &v1alpha1.ClientRenewalRules{Action: v1alpha1.ActionApprove},
			}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: "client-ca"}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM}},
			&v1alpha1.NodeCertificateSigner{ObjectMeta: metav1.ObjectMeta{Name: "client-ca"}, Spec: v1alpha1.NodeCertificateSignerSpec{
				SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Secret: &v1alpha1.SecretSignerSource{Name: "client-ca"}}},
		}
		for _, o := range objects {
			if err := env.Client.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// startManager runs the manager's controllers as cmd/manager wires them,
// with or without the record controllers, and returns a stop function.
func startManager(b *testing.B, records bool) func() {
	b.Helper()
	user, err := env.AddUser("nodetrust-manager")
	if err != nil {
		b.Fatal(err)
	}
	mgr, err := ctrl.NewManager(user.Config, ctrl.Options{
		Scheme: env.Scheme, Cache: controllers.CacheOptions(signerNamespace),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	loops := []controllers.Loop{controllers.LoopApproval, controllers.LoopPolicies, controllers.LoopSigners, controllers.LoopSigning}
	if records {
		loops = append(loops, controllers.LoopRecords, controllers.LoopRecordGC)
	}
	key, err := attest.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	if err := controllers.Setup(mgr, controllers.Config{
		ApprovalKeys:    attest.Keys{Current: key},
		Loops:           loops,
		SignerNamespace: signerNamespace,
		Backends: map[signers.BackendKind]signers.BackendFactory{
			signers.BackendSecret: &signers.SecretBackend{Reader: mgr.GetCache(), Namespace: signerNamespace}},
		RecordRetention: time.Hour,
	}); err != nil {
		b.Fatal(err)
	}
	mgrCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Start(mgrCtx)
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}
	return func() { cancel(); <-done }
}

// BenchmarkApprovalLatency creates kubelet client renewals one at a time
// and measures the time from creation to the Approved condition, with the
// certificate-record controllers off and on. Each approval is followed by
// an issuance and, with records on, a record and a Node Event, which run
// while the next renewal is being approved.
func BenchmarkApprovalLatency(b *testing.B) {
	testenv.Require(b, env)
	setup(b)
	run := 0
	// Settings alternate, round after round, so that drift in the
	// control plane (etcd growing, caches warming) hits both alike; compare
	// with `benchstat -col /records -ignore /round`.
	for round := 1; round <= benchRounds; round++ {
		for _, records := range []bool{false, true} {
			benchApprovalLatency(b, fmt.Sprintf("records=%v/round=%d", records, round), records, &run)
		}
	}
}

// benchRounds is how many times each setting runs, alternating.
const benchRounds = 3

// warmups is how many renewals settle a new manager before timing.
const warmups = 5

func benchApprovalLatency(b *testing.B, name string, records bool, run *int) {
	b.Run(name, func(b *testing.B) {
		*run++
		// A clean slate: the CSRs of earlier runs would otherwise be
		// recorded by this run's manager while it is being measured.
		if err := env.Client.DeleteAllOf(context.Background(), &certificatesv1.CertificateSigningRequest{}); err != nil {
			b.Fatal(err)
		}
		stop := startManager(b, records)
		defer stop()
		wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
		if err != nil {
			b.Fatal(err)
		}
		w, err := wc.Watch(context.Background(), &certificatesv1.CertificateSigningRequestList{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		approved := map[string]chan struct{}{}
		var mu sync.Mutex
		go func() {
			for ev := range w.ResultChan() {
				csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
				if !ok || ev.Type == watch.Deleted {
					continue
				}
				for _, c := range csr.Status.Conditions {
					if c.Type == certificatesv1.CertificateApproved {
						mu.Lock()
						if ch, ok := approved[csr.Name]; ok {
							close(ch)
							delete(approved, csr.Name)
						}
						mu.Unlock()
					}
				}
			}
		}()
		approve := func(name string) time.Duration {
			ch := make(chan struct{})
			mu.Lock()
			approved[name] = ch
			mu.Unlock()
			start := time.Now()
			env.CreateCSR(b, testenv.CSR{Name: name, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
				CommonName: csrstate.NodeUserPrefix + name, Orgs: []string{csrstate.NodesGroup},
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}},
				csrstate.NodeUserPrefix+name, csrstate.NodesGroup)
			select {
			case <-ch:
			case <-time.After(30 * time.Second):
				b.Fatalf("CSR %s was not approved within 30s", name)
			}
			return time.Since(start)
		}
		// Warm up: the new manager settles (caches, the signer, the
		// previous run's CSRs) before the clock runs.
		for i := range warmups {
			approve(fmt.Sprintf("bench-%d-warm-%d", *run, i))
		}
		var latencies []time.Duration
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			latencies = append(latencies, approve(fmt.Sprintf("bench-%d-%d", *run, i)))
		}
		b.StopTimer()
		if records {
			// Records wait for the approvals: report how long after the
			// last one they are all written.
			end := time.Now()
			want := len(latencies) + warmups
			testenv.WaitFor(b, time.Minute, fmt.Sprintf("%d records", want), func(ctx context.Context) (bool, error) {
				var list v1alpha1.NodeCertificateList
				if err := env.Client.List(ctx, &list); err != nil {
					return false, err
				}
				return len(list.Items) >= want, nil
			})
			b.ReportMetric(time.Since(end).Seconds(), "records-lag-s")
			if err := env.Client.DeleteAllOf(context.Background(), &v1alpha1.NodeCertificate{}); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(latencies)
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*95/100].Microseconds())/1000, "p95-ms")
	})
}
