package signing_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11/softhsmtest"
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
	h, err := softhsmtest.Setup(filepath.Join(testenv.RepoRoot(), "hack", "softhsm.sh"))
	if err != nil {
		return "", "", err
	}
	if err := softhsmtest.InitToken(hsmToken, hsmUserPIN, hsmSOPIN); err != nil {
		return h.Dir, "", err
	}
	return h.Dir, h.Module, nil
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

// importKey imports the PKCS#8 PEM key into the token with softhsm2-util,
// which also creates its public key object, as an operator would.
func importKey(t testing.TB, label string, id, keyPEM []byte) {
	t.Helper()
	softhsmtest.ImportKey(t, hsmToken, hsmUserPIN, label, id, keyPEM)
}
