package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	nodetrustv1alpha1 "github.com/nodetrust/nodetrust/api/v1alpha1"
)

// Env is a running control plane: etcd plus kube-apiserver with RBAC on.
type Env struct {
	env *envtest.Environment

	// Config authenticates as a member of system:masters.
	Config *rest.Config
	// Client is an uncached admin client.
	Client client.Client
	// Scheme knows the built-in types and nodetrust.io/v1alpha1.
	Scheme *k8sruntime.Scheme
	// AssetsDir is the directory the control-plane binaries came from.
	AssetsDir string

	// certDir, when set, holds kube-apiserver's serving certificate
	// (Options.ServingIPs); Stop removes it.
	certDir string
}

// RepoRoot returns the absolute path of the repository checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns the directory holding etcd and kube-apiserver:
// KUBEBUILDER_ASSETS when set, else the control-plane cache. It fails when
// the binaries are missing, naming the command that builds them.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "control-plane-binaries.sh"), "--print-dir").Output()
		if err != nil {
			return "", fmt.Errorf("locating the control-plane cache: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("control-plane binary %s not found in %s: run 'make control-plane' (or set KUBEBUILDER_ASSETS): %w", b, dir, err)
		}
	}
	return dir, nil
}

// NewScheme returns a scheme with the built-in types and nodetrust's API.
func NewScheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(nodetrustv1alpha1.AddToScheme(s))
	return s
}

// Start starts etcd and kube-apiserver and installs the CRDs from
// config/crd/bases. Extra API-server flags may be given as "--name=value"
// pairs in apiServerArgs.
func Start(apiServerArgs ...string) (*Env, error) {
	return StartWith(Options{APIServerArgs: apiServerArgs})
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	err := e.env.Stop()
	removeDir(e.certDir)
	return err
}

// Run is the body of a TestMain: it starts the control plane unless -short is
// set, runs the tests and stops it. setup receives the running Env (nil under
// -short; tests then call Require, which skips them). teardown functions run
// after the tests and before the control plane stops, e.g. to stop managers
// whose open watches would otherwise delay the API server's shutdown.
func Run(m *testing.M, setup func(*Env), teardown ...func()) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		setup(nil)
		return m.Run()
	}
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	setup(env)
	code := m.Run()
	for _, f := range teardown {
		f()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stopping:", err)
	}
	return code
}

// Require skips t when no control plane is running (-short).
func Require(t testing.TB, e *Env) {
	t.Helper()
	if e == nil {
		t.Skip("needs a control plane; skipped under -short")
	}
}

// User is an authenticated client for one user, with that user's RBAC.
type User struct {
	Config *rest.Config
	Client client.Client
}

// AddUser creates a client-certificate user with the given groups. Its
// permissions are whatever RBAC grants it: nothing by default.
func (e *Env) AddUser(name string, groups ...string) (*User, error) {
	au, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, rest.CopyConfig(e.Config))
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", name, err)
	}
	return e.userFor(au.Config())
}

// Impersonate returns a client that acts as username with groups, through
// the admin's impersonation rights. The API server then records exactly
// that identity, e.g. in a CSR's spec.username and spec.groups.
func (e *Env) Impersonate(username string, groups ...string) (*User, error) {
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: username, Groups: groups}
	return e.userFor(cfg)
}

func (e *Env) userFor(cfg *rest.Config) (*User, error) {
	c, err := client.New(cfg, client.Options{Scheme: e.Scheme})
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return &User{Config: cfg, Client: c}, nil
}

// Kubeconfig writes a kubeconfig for cfg into dir and returns its path.
func Kubeconfig(dir string, cfg *rest.Config) (string, error) {
	data, err := kubeconfigBytes(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	return path, nil
}

// DefaultTimeout bounds the wait helpers.
const DefaultTimeout = 30 * time.Second

// WaitFor polls cond every 100ms until it returns true, returns an error,
// or timeout passes. It fails t on timeout, quoting the last error seen.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			last = err
			return false, nil //nolint:nilerr // keep polling; the last error is reported on timeout
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
	}
}

// CreateAndWait creates obj with c and waits until reader (typically a
// manager's cache) sees it, so that a test's next step does not race the cache.
func CreateAndWait(ctx context.Context, t testing.TB, c client.Client, reader client.Reader, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	key := client.ObjectKeyFromObject(obj)
	WaitFor(t, DefaultTimeout, fmt.Sprintf("%T %s in cache", obj, key), func(ctx context.Context) (bool, error) {
		got, ok := obj.DeepCopyObject().(client.Object)
		if !ok {
			return false, errors.New("object is not a client.Object")
		}
		if err := reader.Get(ctx, key, got); err != nil {
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	})
}
