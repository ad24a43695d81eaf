//go:build linux

package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nodetrust/nodetrust/internal/testenv"
)

// startupTimeout bounds how long a component may take to become ready.
const startupTimeout = time.Minute

// writeKubeconfig writes a kubeconfig for the API server into path,
// authenticating with the given client certificate or bearer token.
func writeKubeconfig(t *testing.T, cfg *rest.Config, path string, certFile, keyFile, token string) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile, Token: token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	kc.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// writeUserKubeconfig writes a kubeconfig into dir/<name>.kubeconfig for a
// client-certificate user of the cluster CA.
func writeUserKubeconfig(t *testing.T, cl *cluster, dir, name, user string, groups ...string) string {
	t.Helper()
	certPEM, keyPEM, err := cl.clientCA.IssueClientCert(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".kubeconfig")
	writeKubeconfig(t, cl.env.Config, path, certFile, keyFile, "")
	return path
}

// startKubeControllerManager runs kube-controller-manager with the CSR
// signing controller only. Only the kubelet-client signer gets a CA (the
// API server's client CA), so it signs kubelet client certificates and
// leaves kubelet serving certificates to nodetrust. It approves nothing:
// the CSR approving controller is not started.
func startKubeControllerManager(t *testing.T, cl *cluster, dir string) *testenv.Process {
	t.Helper()
	kubeconfig := writeUserKubeconfig(t, cl, dir, "kube-controller-manager", "system:kube-controller-manager", "system:masters")
	return testenv.StartCommand(t, dir, "kube-controller-manager", command(filepath.Join(cl.env.AssetsDir, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--controllers=certificatesigningrequest-signing-controller",
		"--cluster-signing-kubelet-client-cert-file="+cl.clientCACertFile,
		"--cluster-signing-kubelet-client-key-file="+cl.clientCAKeyFile,
		"--leader-elect=false",
		"--secure-port=0",
	))
}

// startManager builds cmd/manager and runs it with the shipped RBAC only,
// and waits until it reports ready.
func startManager(t *testing.T, cl *cluster, dir string) *testenv.Process {
	t.Helper()
	ctx := context.Background()
	const user = "nodetrust-manager"
	if err := cl.env.GrantManagerRBAC(ctx, user, signerNamespace); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeUserKubeconfig(t, cl, dir, "manager", user)
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	probe := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	manager := testenv.StartCommand(t, dir, "nodetrust-manager", command(bin,
		"--kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address="+probe,
		"--signer-namespace="+signerNamespace,
	))
	httpClient := &http.Client{Timeout: 5 * time.Second}
	testenv.WaitFor(t, startupTimeout, "the nodetrust manager to report ready", func(ctx context.Context) (bool, error) {
		manager.CheckRunning(t)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probe+"/readyz", nil)
		if err != nil {
			return false, err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return manager
}

// kubelet is a running kubelet and the files it works with.
type kubelet struct {
	proc    *testenv.Process
	certDir string
	port    int
}

// startKubelet starts fakecri and a kubelet that joins with the bootstrap
// token, asks for a serving certificate (serverTLSBootstrap) and serves its
// API with webhook authentication and authorization. Before it starts, its
// certificate directory is seeded with a serving certificate for the right
// names from a CA nobody trusts, which the kubelet serves until it gets one
// from its CSR: the API server must refuse it.
func startKubelet(t *testing.T, cl *cluster, token string, untrusted *testenv.CA) *kubelet {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep them short.
	dir, err := os.MkdirTemp("", "e2e-kubelet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	k := &kubelet{certDir: filepath.Join(dir, "pki"), port: testenv.FreePort(t)}
	for _, d := range []string{k.certDir, filepath.Join(dir, "root"), filepath.Join(dir, "pod-logs"), filepath.Join(dir, "sandbox")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	seedServingCertificate(t, cl, k.certDir, untrusted)

	socket := filepath.Join(dir, "cri.sock")
	fakecri := testenv.StartCommand(t, dir, "fakecri", command(filepath.Join(cl.env.AssetsDir, "fakecri"), "--listen", socket))
	testenv.WaitFor(t, startupTimeout, "fakecri to listen", func(context.Context) (bool, error) {
		fakecri.CheckRunning(t)
		_, err := os.Stat(socket)
		return err == nil, nil
	})

	// The kubelet reaches kube-apiserver from its network namespace, at
	// the host's end of the veth pair; the kubeconfig it writes once it has
	// a client certificate keeps that address.
	bootstrapKubeconfig := filepath.Join(dir, "bootstrap-kubelet.conf")
	fromNode := rest.CopyConfig(cl.env.Config)
	fromNode.Host = cl.apiServerFromNode
	writeKubeconfig(t, fromNode, bootstrapKubeconfig, "", "", token)
	config := filepath.Join(dir, "kubelet-config.yaml")
	if err := os.WriteFile(config, []byte(kubeletConfig(cl, k.port, testenv.FreePort(t), socket, filepath.Join(dir, "pod-logs"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, err := sandboxedCommand(filepath.Join(dir, "sandbox"), cl.network.netnsPath(), filepath.Join(cl.env.AssetsDir, "kubelet"),
		"--config="+config,
		"--bootstrap-kubeconfig="+bootstrapKubeconfig,
		"--kubeconfig="+filepath.Join(dir, "kubelet.conf"),
		"--cert-dir="+k.certDir,
		"--root-dir="+filepath.Join(dir, "root"),
		"--hostname-override="+nodeName,
		"--node-ip="+cl.nodeIP.String(),
		"--v=2",
	)
	if err != nil {
		t.Fatal(err)
	}
	k.proc = testenv.StartCommand(t, dir, "kubelet", cmd)
	t.Logf("the kubelet runs in network namespace %s (%s) at %s; it reaches kube-apiserver at %s",
		cl.network.netns, cl.network.subnet, cl.nodeIP, cl.apiServerFromNode)
	return k
}

// kubeletConfig is the KubeletConfiguration of the test's kubelet. Beyond
// the certificate settings under test, it turns off what needs a real
// container runtime or would change the host's cgroups and sysctls.
func kubeletConfig(cl *cluster, port, healthzPort int, criSocket, podLogsDir string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API: on the node's address, TLS only, callers authenticated by client
# certificate (kube-apiserver's) or token and authorized by kube-apiserver.
# Health checks on the loopback of the kubelet's network namespace.
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[4]s
authorization:
  mode: Webhook
# Under test: the client certificate from the bootstrap token, renewed by
# CSR, and the serving certificate requested by CSR.
rotateCertificates: true
serverTLSBootstrap: true
# No real runtime: fakecri answers the CRI.
containerRuntimeEndpoint: unix://%[5]s
podLogsDir: %[6]s
staticPodPath: ""
# Leave the host alone: no QoS cgroups, no allocatable enforcement, sysctls
# checked (in the sandbox, against stand-in files), not rewritten.
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
protectKernelDefaults: true
# What the machine may lack: cgroup v2, no swap, a runtime that reports
# filesystem stats.
failCgroupV1: false
failSwapOn: false
localStorageCapacityIsolation: false
`, cl.nodeIP, port, healthzPort, cl.clientCACertFile, criSocket, podLogsDir)
}

// seedServingCertificate puts a serving certificate for the node's names,
// issued by untrusted, where the kubelet keeps its current serving
// certificate. Its subject is not the one the kubelet asks for
// (system:node:<name>), so the kubelet requests a new one at once.
func seedServingCertificate(t *testing.T, cl *cluster, certDir string, untrusted *testenv.CA) {
	t.Helper()
	certPEM, keyPEM, err := untrusted.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: fmt.Sprintf("%s@%d", nodeName, time.Now().Unix())},
		DNSNames:    []string{nodeName},
		IPAddresses: []net.IP{cl.nodeIP},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The kubelet's certificate store: a timestamped file and a
	// kubelet-server-current.pem symlink to it.
	file := filepath.Join(certDir, "kubelet-server-"+time.Now().Format("2006-01-02-15-04-05")+".pem")
	if err := os.WriteFile(file, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, filepath.Join(certDir, servingCertFile)); err != nil {
		t.Fatal(err)
	}
}

// newBootstrapToken returns a random bootstrap token id and secret
// ([a-z0-9]{6} and [a-z0-9]{16}).
func newBootstrapToken(t *testing.T) (id, secret string) {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	for _, v := range b {
		s.WriteByte(alphabet[int(v)%len(alphabet)])
	}
	return s.String()[:6], s.String()[6:]
}
