package testenv

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options configure StartWith.
type Options struct {
	// APIServerArgs are extra kube-apiserver flags as "--name=value". A flag
	// given here replaces envtest's default for it (e.g.
	// --authorization-mode); a flag given twice is passed twice.
	APIServerArgs []string
	// ClientCA, when set, is the CA kube-apiserver trusts for client
	// certificates (--client-ca-file), and it signs the admin's and
	// AddUser's certificates. Tests that run components which must issue
	// client certificates the API server accepts (kube-controller-manager's
	// kubelet-client signer) need it; otherwise envtest makes a CA whose key
	// it keeps to itself.
	ClientCA *CA
	// APIServerOutput, when set, receives kube-apiserver's stdout and stderr.
	APIServerOutput io.Writer
	// ServingIPs are addresses kube-apiserver's serving certificate is valid
	// for besides localhost and 127.0.0.1: addresses a test forwards to it
	// from elsewhere, such as a network namespace of its own. kube-apiserver
	// still listens on 127.0.0.1 only. When set, the serving certificate
	// comes from a CA made here rather than envtest's, and Config trusts it.
	ServingIPs []net.IP
}

// StartWith is Start with more control over kube-apiserver.
func StartWith(o Options) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	scheme := NewScheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	apiServer := env.ControlPlane.GetAPIServer()
	seen := map[string]bool{}
	for _, a := range o.APIServerArgs {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if seen[name] {
			apiServer.Configure().Append(name, value)
		} else {
			// Set, not Append: Append adds to envtest's default values.
			apiServer.Configure().Set(name, value)
			seen[name] = true
		}
	}
	if o.ClientCA != nil {
		apiServer.Authn = &caAuthn{ca: o.ClientCA}
	}
	if o.APIServerOutput != nil {
		apiServer.Out, apiServer.Err = o.APIServerOutput, o.APIServerOutput
	}
	var certDir string
	if len(o.ServingIPs) > 0 {
		var caPEM []byte
		if certDir, caPEM, err = writeServingCerts(o.ServingIPs); err != nil {
			return nil, err
		}
		// envtest keeps the serving certificate it finds in CertDir
		// (apiserver.crt) instead of making its own, and gives clients
		// SecureServing.CA (apiServer.CA) to verify it.
		apiServer.CertDir = certDir
		apiServer.CA = caPEM
	}
	cfg, err := env.Start()
	if err != nil {
		removeDir(certDir)
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		removeDir(certDir)
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	return &Env{env: env, Config: cfg, Client: c, Scheme: scheme, AssetsDir: assets, certDir: certDir}, nil
}

// writeServingCerts writes into a new directory what envtest would
// otherwise generate in kube-apiserver's CertDir: a serving certificate,
// here for localhost, 127.0.0.1 and ips, and a service-account signing key.
// It returns the directory and the CA that signed the serving certificate.
func writeServingCerts(ips []net.IP) (dir string, caPEM []byte, err error) {
	ca, err := NewCA("testenv kube-apiserver serving CA")
	if err != nil {
		return "", nil, err
	}
	certPEM, keyPEM, err := ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost"},
		IPAddresses: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotAfter:    time.Now().Add(7 * 24 * time.Hour),
	})
	if err != nil {
		return "", nil, err
	}
	sa, err := NewCA("testenv service-account signer")
	if err != nil {
		return "", nil, err
	}
	if dir, err = os.MkdirTemp("", "testenv-apiserver-certs-"); err != nil {
		return "", nil, fmt.Errorf("creating kube-apiserver's certificate directory: %w", err)
	}
	// The names envtest's kube-apiserver flags point at.
	for name, data := range map[string][]byte{
		"apiserver.crt": certPEM, "apiserver.key": keyPEM,
		"sa-signer.crt": sa.CertPEM, "sa-signer.key": sa.KeyPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			removeDir(dir)
			return "", nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return dir, ca.CertPEM, nil
}

func removeDir(dir string) {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// caAuthn is an envtest.Authn that authenticates users with client
// certificates issued by a CA the test holds.
type caAuthn struct {
	ca   *CA
	path string
}

var _ envtest.Authn = (*caAuthn)(nil)

func (a *caAuthn) Configure(workDir string, args *envtest.Arguments) error {
	a.path = filepath.Join(workDir, "client-ca.crt")
	args.Set("client-ca-file", a.path)
	return nil
}

func (a *caAuthn) Start() error {
	if a.path == "" {
		return errors.New("client CA authenticator started before it was configured")
	}
	if err := os.WriteFile(a.path, a.ca.CertPEM, 0o600); err != nil {
		return fmt.Errorf("writing the client CA: %w", err)
	}
	return nil
}

func (a *caAuthn) AddUser(user envtest.User, baseCfg *rest.Config) (*rest.Config, error) {
	certPEM, keyPEM, err := a.ca.IssueClientCert(user.Name, user.Groups...)
	if err != nil {
		return nil, fmt.Errorf("issuing a client certificate for %s: %w", user.Name, err)
	}
	cfg := rest.CopyConfig(baseCfg)
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cfg, nil
}

func (a *caAuthn) Stop() error { return nil }
