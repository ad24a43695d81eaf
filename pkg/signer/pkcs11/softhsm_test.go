//go:build cgo

package pkcs11_test

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"

	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11/softhsmtest"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// The tokens TestMain creates. SoftHSM2 only sees the tokens that exist when
// the module is initialised, so they are all created before any test runs.
const (
	// mainToken holds the keys of most tests, each under its own label.
	mainToken = "nodetrust-main"
	// otherToken is a second token of the same module.
	otherToken = "nodetrust-other"
	// pinToken is never logged in to but by the wrong-PIN test: PKCS#11
	// does not check the PIN of a token the process is logged in to.
	pinToken = "nodetrust-pin"

	userPIN = "user-pin-4711"
	soPIN   = "so-pin-0815"

	// reloadInterval is the tests' Config.ReloadInterval.
	reloadInterval = 100 * time.Millisecond
)

// softHSM is the package's SoftHSM2 set-up, done once by TestMain.
var softHSM struct {
	module string
	err    error
}

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if !testing.Short() {
		dir, softHSM.module, softHSM.err = setUpSoftHSM()
	}
	code := m.Run()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// setUpSoftHSM points SoftHSM2 at a fresh token directory and creates the
// tokens, before any test opens the module.
func setUpSoftHSM() (dir, module string, err error) {
	h, err := softhsmtest.Setup(filepath.Join("..", "..", "..", "hack", "softhsm.sh"))
	if err != nil {
		return "", "", err
	}
	for _, label := range []string{mainToken, otherToken, pinToken} {
		if err := initToken(label); err != nil {
			return h.Dir, "", err
		}
	}
	return h.Dir, h.Module, nil
}

// initToken creates a token. The module sees it once it is initialised
// next: at once when no Signer or other context has it open.
func initToken(label string) error {
	return softhsmtest.InitToken(label, userPIN, soPIN)
}

// newToken creates a token for t alone. It must be called while no Signer
// or other context has the module open, so that the module sees the token
// when it is initialised next.
func newToken(t testing.TB) string {
	t.Helper()
	label := fmt.Sprintf("nodetrust-%d", objectCounter.Add(1))
	if err := initToken(label); err != nil {
		t.Fatal(err)
	}
	return label
}

// needSoftHSM skips t in -short mode and fails it when SoftHSM2 is not set
// up; it returns the module path.
func needSoftHSM(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs SoftHSM2")
	}
	if softHSM.err != nil {
		t.Fatalf("this test needs SoftHSM2; run hack/softhsm.sh to install it: %v", softHSM.err)
	}
	return softHSM.module
}

// keyRef names the objects of one CA in a token.
type keyRef struct {
	token string
	label string
	id    []byte
}

var objectCounter atomic.Uint32

// newKeyRef returns a label and ID no other test uses.
func newKeyRef(token string) keyRef {
	n := objectCounter.Add(1)
	return keyRef{token: token, label: fmt.Sprintf("nodetrust-ca-%d", n), id: []byte{0x4e, 0x54, byte(n >> 8), byte(n)}}
}

// admin runs fn with a crypto11 context of its own on token, as an operator
// tool would.
func admin(t testing.TB, token string, fn func(*crypto11.Context) error) {
	t.Helper()
	ctx, err := crypto11.Configure(&crypto11.Config{Path: softHSM.module, TokenLabel: token, Pin: userPIN})
	if err != nil {
		t.Fatalf("opening token %s: %v", token, err)
	}
	defer ctx.Close()
	if err := fn(ctx); err != nil {
		t.Fatalf("token %s: %v", token, err)
	}
}

// importKey imports the PKCS#8 PEM key with softhsm2-util, which also
// creates its public key object unless noPublic.
func importKey(t testing.TB, ref keyRef, keyPEM []byte, noPublic bool) {
	t.Helper()
	var extra []string
	if noPublic {
		extra = append(extra, "--no-public-key")
	}
	softhsmtest.ImportKey(t, ref.token, userPIN, ref.label, ref.id, keyPEM, extra...)
}

// importCert stores cert in the token under ref's label and ID.
func importCert(t testing.TB, ref keyRef, cert *x509.Certificate) {
	t.Helper()
	admin(t, ref.token, func(ctx *crypto11.Context) error {
		return ctx.ImportCertificateWithLabel(ref.id, []byte(ref.label), cert)
	})
}

// importCA imports ca's key and certificate under a new label and ID and
// deletes them when t ends.
func importCA(t testing.TB, token string, ca *signertest.CA) keyRef {
	t.Helper()
	ref := newKeyRef(token)
	importKey(t, ref, ca.KeyPEM, false)
	importCert(t, ref, ca.Cert)
	t.Cleanup(func() {
		if !t.Failed() {
			deleteObjects(t, ref, true, true)
		}
	})
	return ref
}

// deleteObjects deletes the key pairs and/or certificates under ref's label
// and ID.
func deleteObjects(t testing.TB, ref keyRef, keys, certs bool) {
	t.Helper()
	admin(t, ref.token, func(ctx *crypto11.Context) error {
		if keys {
			found, err := ctx.FindKeyPairs(ref.id, []byte(ref.label))
			if err != nil {
				return err
			}
			for _, k := range found {
				// A key imported without its public key object has
				// none to delete.
				if err := k.Delete(); err != nil && !strings.Contains(err.Error(), "destroy public key") {
					return err
				}
			}
		}
		for certs {
			c, err := ctx.FindCertificate(ref.id, []byte(ref.label), nil)
			if err != nil || c == nil {
				return err
			}
			if err := ctx.DeleteCertificate(ref.id, []byte(ref.label), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// withModule runs fn with the module and the slot of token, used directly:
// crypto11 has no call for what the tests do there. The module is loaded
// and initialised already (by the Signers), so this handle neither
// initialises nor finalises it.
func withModule(t testing.TB, fn func(mod *p11.Ctx, slot uint), token string) {
	t.Helper()
	mod := p11.New(softHSM.module)
	if mod == nil {
		t.Fatalf("loading %s failed", softHSM.module)
	}
	defer mod.Destroy()
	slots, err := mod.GetSlotList(true)
	if err != nil {
		t.Fatalf("listing the slots: %v", err)
	}
	for _, slot := range slots {
		info, err := mod.GetTokenInfo(slot)
		if err != nil {
			t.Fatalf("token info of slot %d: %v", slot, err)
		}
		if info.Label == token {
			fn(mod, slot)
			return
		}
	}
	t.Fatalf("no token %s", token)
}

// dropSessions closes every session this process has with token, which
// also logs it out, as a network HSM that restarted forgets them.
func dropSessions(t testing.TB, token string) {
	t.Helper()
	withModule(t, func(mod *p11.Ctx, slot uint) {
		if err := mod.CloseAllSessions(slot); err != nil {
			t.Fatalf("closing the sessions of token %s: %v", token, err)
		}
	}, token)
}

// changePIN sets a new user PIN on token through the module directly, as
// an HSM administrator would with the vendor's tools.
func changePIN(t testing.TB, token, oldPIN, newPIN string) {
	t.Helper()
	withModule(t, func(mod *p11.Ctx, slot uint) {
		session, err := mod.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
		if err != nil {
			t.Fatalf("opening a session: %v", err)
		}
		defer mod.CloseSession(session)
		if err := mod.Login(session, p11.CKU_USER, oldPIN); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
			t.Fatalf("logging in: %v", err)
		}
		if err := mod.SetPIN(session, oldPIN, newPIN); err != nil {
			t.Fatalf("changing the PIN: %v", err)
		}
	}, token)
}

// config returns the Config for ref with the tests' PIN and reload
// interval.
func config(ref keyRef) pkcs11.Config {
	return pkcs11.Config{
		ModulePath:     softHSM.module,
		TokenLabel:     ref.token,
		KeyLabel:       ref.label,
		KeyID:          ref.id,
		PIN:            userPIN,
		ReloadInterval: reloadInterval,
	}
}

// newSigner builds a Signer for cfg and closes it when t ends.
func newSigner(t testing.TB, cfg pkcs11.Config) *pkcs11.Signer {
	t.Helper()
	s, err := pkcs11.New(cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
