//go:build linux

package e2e_test

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/nodetrust/nodetrust/internal/testenv"
)

// cluster is what TestMain sets up once: kube-apiserver, and the CAs and
// files the other components share.
type cluster struct {
	env *testenv.Env
	// clientCA is the API server's client CA (--client-ca-file). It signs
	// the test's users, kube-apiserver's own client certificate for
	// kubelets, and, through kube-controller-manager, kubelet client
	// certificates; kubelets trust it for client certificates.
	clientCA                          *testenv.CA
	clientCACertFile, clientCAKeyFile string
	// servingCA is nodetrust's kubelet-serving CA, the only CA kube-apiserver
	// trusts for kubelet serving certificates (--kubelet-certificate-authority).
	servingCA     *testenv.CA
	servingCAFile string
	// network is the kubelet's network namespace and its veth pair.
	network *nodeNetwork
	// nodeIP is the address the kubelet reports and serves on: its end of
	// the veth pair.
	nodeIP net.IP
	// apiServerFromNode is kube-apiserver's URL from the kubelet's network
	// namespace: the host's end of the veth pair, where the test forwards to
	// kube-apiserver on 127.0.0.1.
	apiServerFromNode string
	// dir holds the CA files and kube-apiserver's output.
	dir string
}

var (
	// c is nil under -short.
	c *cluster
	// skipReason explains why the suite cannot run on this machine.
	skipReason string
)

func TestMain(m *testing.M) {
	runSandboxed() // returns unless this process launches the kubelet
	ctrl.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	if os.Geteuid() != 0 {
		skipReason = "the kubelet must run as root"
		return m.Run()
	}
	for _, tool := range []struct{ name, pkg string }{{"ip", "iproute2"}, {"nsenter", "util-linux"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			skipReason = fmt.Sprintf("%s (package %s) is missing: the kubelet runs in a network namespace the test creates with it", tool.name, tool.pkg)
			return m.Run()
		}
	}
	network, err := setupNodeNetwork()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: creating the kubelet's network namespace:", err)
		return 1
	}
	defer func() {
		if err := network.teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: removing the kubelet's network namespace:", err)
		}
	}()
	// An interrupt ends the binary without running deferred calls: remove
	// the network and stop the control plane (whose processes outlive this
	// one otherwise) first.
	var started atomic.Pointer[testenv.Env]
	stopSignals := onSignal(func() {
		if err := network.teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: removing the kubelet's network namespace:", err)
		}
		if env := started.Load(); env != nil {
			_ = env.Stop()
		}
	})
	defer stopSignals()
	dir, err := os.MkdirTemp("", "nodetrust-e2e-apiserver-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cl, err := startCluster(dir, network)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if out, readErr := os.ReadFile(filepath.Join(dir, "kube-apiserver.log")); readErr == nil {
			fmt.Fprintf(os.Stderr, "kube-apiserver output:\n%s\n", out)
		}
		return 1
	}
	c = cl
	started.Store(cl.env)
	forwarder, err := forwardAPIServer(network.hostIP, cl.env.Config.Host)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		_ = c.env.Stop()
		return 1
	}
	c.apiServerFromNode = "https://" + forwarder.addr()
	code := m.Run()
	forwarder.close()
	started.Store(nil)
	if err := c.env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the control plane:", err)
	}
	if code != 0 {
		if out, err := os.ReadFile(filepath.Join(dir, "kube-apiserver.log")); err == nil {
			fmt.Fprintf(os.Stderr, "kube-apiserver output (last 32 KiB):\n%s\n", tail(out, 32<<10))
		}
	}
	return code
}

// startCluster makes the CAs and starts etcd and kube-apiserver configured
// for kubelets: bootstrap tokens, the Node authorizer and NodeRestriction,
// a client certificate to reach kubelets with, and nodetrust's serving CA as
// the only CA it trusts for kubelet serving certificates.
func startCluster(dir string, network *nodeNetwork) (*cluster, error) {
	cl := &cluster{dir: dir, network: network, nodeIP: network.nodeIP}
	var err error
	if cl.clientCA, err = testenv.NewCA("nodetrust e2e cluster CA"); err != nil {
		return nil, err
	}
	if cl.servingCA, err = testenv.NewCA("nodetrust e2e kubelet-serving CA"); err != nil {
		return nil, err
	}
	if cl.clientCACertFile, cl.clientCAKeyFile, err = cl.clientCA.WriteFiles(dir, "cluster-ca"); err != nil {
		return nil, err
	}
	// kube-apiserver gets only the certificate: nodetrust holds the key.
	cl.servingCAFile = filepath.Join(dir, "kubelet-serving-ca.crt")
	if err := os.WriteFile(cl.servingCAFile, cl.servingCA.CertPEM, 0o600); err != nil {
		return nil, err
	}
	// kube-apiserver's client certificate for kubelets, as kubeadm's
	// apiserver-kubelet-client: the kubelet authenticates it with the
	// cluster CA and authorizes it with a SubjectAccessReview.
	certPEM, keyPEM, err := cl.clientCA.IssueClientCert("kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return nil, err
	}
	kubeletClientCert, kubeletClientKey := filepath.Join(dir, "apiserver-kubelet-client.crt"), filepath.Join(dir, "apiserver-kubelet-client.key")
	if err := os.WriteFile(kubeletClientCert, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(kubeletClientKey, keyPEM, 0o600); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	cl.env, err = testenv.StartWith(testenv.Options{
		ClientCA:        cl.clientCA,
		APIServerOutput: log,
		// The kubelet dials the host's end of the veth pair.
		ServingIPs: []net.IP{network.hostIP},
		APIServerArgs: []string{
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--enable-bootstrap-token-auth=true",
			"--kubelet-certificate-authority=" + cl.servingCAFile,
			"--kubelet-client-certificate=" + kubeletClientCert,
			"--kubelet-client-key=" + kubeletClientKey,
			"--kubelet-preferred-address-types=InternalIP,Hostname",
		},
	})
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	return cl, nil
}

// require skips t under -short or when this machine cannot run a kubelet
// the API server can reach, and returns the cluster.
func require(t *testing.T) *cluster {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if c == nil {
		testenv.Require(t, nil)
	}
	return c
}

// onSignal runs cleanup and exits when the test binary gets SIGINT or
// SIGTERM, until stop is called. A second signal exits at once.
func onSignal(cleanup func()) (stop func()) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-signals:
			fmt.Fprintf(os.Stderr, "e2e: %v: removing the kubelet's network namespace and stopping the control plane (up to a minute; signal again to exit now)\n", sig)
			cleaned := make(chan struct{})
			go func() {
				cleanup()
				close(cleaned)
			}()
			select {
			case <-cleaned:
			case <-signals:
			}
			os.Exit(1)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(signals)
		close(done)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}
