//go:build linux

package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The kubelet runs as root and would change the machine it runs on: with
// protectKernelDefaults off it rewrites kernel sysctls (kernel.panic,
// kernel.panic_on_oops, vm.overcommit_memory, ...), and its device-plugin
// manager keeps a socket under /var/lib/kubelet whatever --root-dir says.
// So the test runs it in a mount namespace of its own, where the sysctl
// files it checks are bind-mounted from files that hold the values it
// wants, and /var/lib is a scratch directory. protectKernelDefaults is on:
// the kubelet only reads those files, and should a kubelet release check
// another sysctl it fails instead of changing the host.
//
// The test binary is its own launcher: started with sandboxDirEnv set,
// TestMain sets up the mounts and execs the kubelet (runSandboxed).
//
// The launcher is started through nsenter --net, so the kubelet also runs
// in the network namespace the test made for it (netns_test.go), and in no
// other namespace of it: ip netns exec would also remount /sys, hiding the
// cgroup mounts the kubelet needs.

const (
	sandboxDirEnv  = "NODETRUST_E2E_SANDBOX_DIR"
	sandboxExecEnv = "NODETRUST_E2E_SANDBOX_EXEC"
)

// kernelDefaults are the sysctls the kubelet requires and their values
// (setupKernelTunables in k8s.io/kubernetes/pkg/kubelet/cm), as paths under
// /proc/sys.
var kernelDefaults = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// command returns a command for bin that is killed if the test binary dies
// before its cleanups run (e.g. on a -timeout panic).
func command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// sandboxedCommand returns a command that runs bin with args in a mount
// namespace of its own and in the network namespace at netnsPath, keeping
// its scratch files under dir.
func sandboxedCommand(dir, netnsPath, bin string, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the test binary: %w", err)
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("locating nsenter: %w", err)
	}
	// nsenter enters the network namespace and execs the launcher, which
	// keeps its PID (no --fork), and so its parent-death signal.
	cmd := command(nsenter, append([]string{"--net=" + netnsPath, "--", self}, args...)...)
	cmd.Env = append(os.Environ(), sandboxDirEnv+"="+dir, sandboxExecEnv+"="+bin)
	// Go also makes every mount private in the new namespace, so that
	// nothing mounted there shows outside.
	cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	return cmd, nil
}

// runSandboxed, called first thing by TestMain, returns when this process
// is the test binary; as the launcher it sets up the mounts and becomes the
// kubelet, or exits.
func runSandboxed() {
	dir := os.Getenv(sandboxDirEnv)
	if dir == "" {
		return
	}
	if err := enterSandbox(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e sandbox:", err)
		os.Exit(1)
	}
	bin := os.Getenv(sandboxExecEnv)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, sandboxDirEnv+"=") || strings.HasPrefix(kv, sandboxExecEnv+"=")
	})
	err := syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env)
	fmt.Fprintf(os.Stderr, "e2e sandbox: executing %s: %v\n", bin, err)
	os.Exit(1)
}

func enterSandbox(dir string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	for name, value := range kernelDefaults {
		file := filepath.Join(dir, "sysctl-"+strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
			return err
		}
		if err := syscall.Mount(file, "/proc/sys/"+name, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting %s over /proc/sys/%s: %w", file, name, err)
		}
	}
	varLib := filepath.Join(dir, "var-lib")
	if err := os.MkdirAll(filepath.Join(varLib, "kubelet"), 0o700); err != nil {
		return err
	}
	if err := syscall.Mount(varLib, "/var/lib", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("mounting %s over /var/lib: %w", varLib, err)
	}
	return nil
}
