package softhsmtest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// HSM is SoftHSM2 set up for this process.
type HSM struct {
	// Dir holds softhsm2.conf and the token directory.
	Dir string
	// Module is the real path of the PKCS#11 module, symlinks resolved, so
	// that every user in the process loads the very same library.
	Module string
}

// Setup finds SoftHSM2 with script (hack/softhsm.sh, which installs it when
// missing) and points it, through SOFTHSM2_CONF, at a fresh token directory.
// SoftHSM2 reads SOFTHSM2_CONF and sees the tokens that exist when its
// module is initialised, so call Setup, and create the tokens, before
// anything in the process opens the module.
func Setup(script string) (*HSM, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script, "--print-module")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s --print-module: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	module, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("the PKCS#11 module: %w", err)
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return nil, fmt.Errorf("softhsm2-util: %w", err)
	}
	dir, err := os.MkdirTemp("", "nodetrust-softhsm-")
	if err != nil {
		return nil, fmt.Errorf("creating the token directory: %w", err)
	}
	h := &HSM{Dir: dir, Module: module}
	tokens := filepath.Join(dir, "tokens")
	conf := filepath.Join(dir, "softhsm2.conf")
	confText := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	switch {
	case os.Mkdir(tokens, 0o700) != nil, os.WriteFile(conf, []byte(confText), 0o600) != nil:
		_ = h.Close()
		return nil, fmt.Errorf("writing the SoftHSM2 configuration in %s", dir)
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("setting SOFTHSM2_CONF: %w", err)
	}
	return h, nil
}

// Close removes the token directory.
func (h *HSM) Close() error {
	if err := os.RemoveAll(h.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", h.Dir, err)
	}
	return nil
}

// InitToken creates a token. The module sees it once it is initialised next.
func InitToken(label, userPIN, soPIN string) error {
	return Util("--init-token", "--free", "--label", label, "--pin", userPIN, "--so-pin", soPIN)
}

// ImportKey imports a PKCS#8 PEM private key into token under label and
// id, with softhsm2-util, which also creates its public key object unless
// extraArgs hold --no-public-key.
func ImportKey(t testing.TB, token, userPIN, label string, id, keyPEM []byte, extraArgs ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--import", file, "--token", token, "--label", label, "--pin", userPIN}
	if len(id) > 0 {
		args = append(args, "--id", hex.EncodeToString(id))
	}
	args = append(args, extraArgs...)
	if err := Util(args...); err != nil {
		t.Fatal(err)
	}
}

// Util runs softhsm2-util with args.
func Util(args ...string) error {
	out, err := exec.Command("softhsm2-util", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("softhsm2-util %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}
