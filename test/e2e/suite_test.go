//go:build linux

package e2e_test

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
	// nodeIP is the address the kubelet reports and serves on.
	nodeIP net.IP
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
	nodeIP, err := hostIP()
	if err != nil {
		skipReason = err.Error()
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "nodetrust-e2e-apiserver-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cl, err := startCluster(dir, nodeIP)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if out, readErr := os.ReadFile(filepath.Join(dir, "kube-apiserver.log")); readErr == nil {
			fmt.Fprintf(os.Stderr, "kube-apiserver output:\n%s\n", out)
		}
		return 1
	}
	c = cl
	code := m.Run()
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
func startCluster(dir string, nodeIP net.IP) (*cluster, error) {
	cl := &cluster{dir: dir, nodeIP: nodeIP}
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

// hostIP returns an IPv4 address of this machine that is not a loopback or
// link-local address. The kubelet refuses loopback node IPs, and the API
// server reaches the kubelet through the address the Node reports.
func hostIP() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipNet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip := ipNet.IP.To4(); ip != nil && ip.IsGlobalUnicast() {
				return ip, nil
			}
		}
	}
	return nil, errors.New("no non-loopback IPv4 address on this machine: the kubelet refuses a loopback --node-ip, so the end-to-end suite cannot run")
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}
