package signing_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodetrust/nodetrust/internal/testenv"
)

// The SoftHSM2 token TestMain creates for the PKCS#11 signer test. SoftHSM2
// only sees the tokens that exist when its module is initialised, so the
// token is created before anything in this process loads the module; keys are
// imported into it later, by the test.
const (
	hsmToken   = "nodetrust-integration"
	hsmUserPIN = "it-user-pin-2718"
	hsmSOPIN   = "it-so-pin-3141"
)

// softHSM is the SoftHSM2 set-up of this test binary, made by TestMain.
var softHSM struct {
	// dir holds softhsm2.conf and the token directory.
	dir string
	// module is the real path of the PKCS#11 module, symlinks resolved,
	// so that the manager's signers and the test's own crypto11 context
	// load the very same library.
	module string
	// err says why SoftHSM2 could not be set up.
	err error
}

// setUpSoftHSM finds SoftHSM2, points it at a fresh token directory through
// SOFTHSM2_CONF (read when the module is initialised, so before any signer
// opens it) and creates the token. A failure is kept in softHSM.err for the
// PKCS#11 test to report; the other tests do not need SoftHSM2.
func setUpSoftHSM() {
	softHSM.dir, softHSM.module, softHSM.err = setUpSoftHSMDir()
}

// tearDownSoftHSM removes the token directory.
func tearDownSoftHSM() {
	if softHSM.dir != "" {
		_ = os.RemoveAll(softHSM.dir)
	}
}

func setUpSoftHSMDir() (dir, module string, err error) {
	script := filepath.Join(testenv.RepoRoot(), "hack", "softhsm.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script, "--print-module")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("%s --print-module: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	if module, err = filepath.EvalSymlinks(strings.TrimSpace(string(out))); err != nil {
		return "", "", err
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return "", "", fmt.Errorf("softhsm2-util: %w", err)
	}
	if dir, err = os.MkdirTemp("", "nodetrust-it-softhsm-"); err != nil {
		return "", "", err
	}
	tokens := filepath.Join(dir, "tokens")
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return dir, "", err
	}
	confText := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		return dir, "", err
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return dir, "", err
	}
	if err := softhsm2Util("--init-token", "--free", "--label", hsmToken, "--pin", hsmUserPIN, "--so-pin", hsmSOPIN); err != nil {
		return dir, "", err
	}
	return dir, module, nil
}

// needSoftHSM fails t when SoftHSM2 is not set up, pointing at the script
// that installs it, and returns the module path. It never skips: `make test`
// installs SoftHSM2 first, so a missing one is a broken set-up.
func needSoftHSM(t testing.TB) string {
	t.Helper()
	if softHSM.err != nil {
		t.Fatalf("this test needs SoftHSM2; run hack/softhsm.sh to install it: %v", softHSM.err)
	}
	if softHSM.module == "" {
		t.Fatal("SoftHSM2 was not set up by TestMain; run hack/softhsm.sh to install it")
	}
	return softHSM.module
}

func softhsm2Util(args ...string) error {
	out, err := exec.Command("softhsm2-util", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("softhsm2-util %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// importKey imports the PKCS#8 PEM key into the token with softhsm2-util,
// which also creates its public key object, as an operator would.
func importKey(t testing.TB, label string, id, keyPEM []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := softhsm2Util("--import", file, "--token", hsmToken, "--label", label, "--id", hex.EncodeToString(id),
		"--pin", hsmUserPIN); err != nil {
		t.Fatal(err)
	}
}
