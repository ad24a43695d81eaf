//go:build cgo

package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/nodetrust/nodetrust/pkg/signer"
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11/softhsmtest"
	"github.com/nodetrust/nodetrust/pkg/signer/signertest"
)

// keyTypes are the CA key types the backend supports: crypto11 has no
// Ed25519.
var keyTypes = []signertest.KeyType{signertest.ECDSAP256, signertest.ECDSAP384, signertest.RSA2048, signertest.RSA3072}

func TestConformance(t *testing.T) {
	needSoftHSM(t)
	var mu sync.Mutex
	refs := map[signer.Signer]keyRef{}
	refOf := func(s signer.Signer) keyRef {
		mu.Lock()
		defer mu.Unlock()
		return refs[s]
	}
	signertest.Run(t, signertest.Backend{
		KeyTypes: keyTypes,
		Chains:   true,
		New: func(t *testing.T, ca *signertest.CA) signer.Signer {
			ref := importCA(t, mainToken, ca)
			cfg := config(ref)
			cfg.Chain = ca.Chain
			s := newSigner(t, cfg)
			mu.Lock()
			refs[s] = ref
			mu.Unlock()
			return s
		},
		// The operator deletes the old key and certificate, then imports the
		// new ones under the same label and ID.
		Rotate: func(t *testing.T, s signer.Signer, ca *signertest.CA) {
			ref := refOf(s)
			deleteObjects(t, ref, true, true)
			importKey(t, ref, ca.KeyPEM, false)
			importCert(t, ref, ca.Cert)
		},
		Break: func(t *testing.T, s signer.Signer, _ *signertest.CA) {
			deleteObjects(t, refOf(s), true, false)
		},
	})
}

// template builds a serving template for a fresh key against ca.
func template(t *testing.T, ca *x509.Certificate) *x509.Certificate {
	t.Helper()
	tmpl, err := signer.Template(signer.Request{
		SignerName:    certificatesv1.KubeletServingSignerName,
		CommonName:    "system:node:pkcs11-test",
		Organizations: []string{"system:nodes"},
		DNSNames:      []string{"pkcs11-test.example.com"},
		PublicKey:     signertest.NewKey(t, signertest.ECDSAP256).Public(),
	}, ca, signer.Limits{SignerMax: time.Hour}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatalf("Template: %v", err)
	}
	return tmpl
}

// mustSign signs a fresh template for s's current CA and checks the
// certificate against want.
func mustSign(t *testing.T, s signer.Signer, want *signertest.CA) {
	t.Helper()
	if err := signFor(s, want, signertest.NewKey(t, signertest.ECDSAP256).Public()); err != nil {
		t.Fatal(err)
	}
}

// signFor signs a template for pub against s's current CA and checks that
// the CA is want and that the certificate verifies with it. Unlike
// mustSign it may run on any goroutine.
func signFor(s signer.Signer, want *signertest.CA, pub crypto.PublicKey) error {
	ctx := context.Background()
	ca, err := s.CA(ctx)
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if !ca.Certificate.Equal(want.Cert) {
		return fmt.Errorf("the CA is %q, want %q", ca.Certificate.Subject, want.Cert.Subject)
	}
	tmpl, err := signer.Template(signer.Request{
		SignerName:    certificatesv1.KubeletServingSignerName,
		CommonName:    "system:node:pkcs11-test",
		Organizations: []string{"system:nodes"},
		DNSNames:      []string{"pkcs11-test.example.com"},
		PublicKey:     pub,
	}, ca.Certificate, signer.Limits{SignerMax: time.Hour}, time.Now(), rand.Reader)
	if err != nil {
		return fmt.Errorf("Template: %w", err)
	}
	out, err := s.Sign(ctx, tmpl)
	if err != nil {
		return fmt.Errorf("Sign: %w", err)
	}
	certs, err := signer.ParseCertificatesPEM(out)
	if err != nil {
		return err
	}
	if err := certs[0].CheckSignatureFrom(want.Cert); err != nil {
		return fmt.Errorf("the certificate does not verify with %q: %w", want.Cert.Subject, err)
	}
	return nil
}

// nonCACert returns a self-signed end-entity certificate for ca's key.
func nonCACert(t *testing.T, ca *signertest.CA) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "not a CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte{1, 2, 3},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ca.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewExplainsWhatIsWrongInTheToken(t *testing.T) {
	needSoftHSM(t)
	tests := []struct {
		name string
		// setup provisions the token and returns the configuration to try.
		setup func(t *testing.T) pkcs11.Config
		want  string
	}{{
		name: "a wrong PIN is reported as such",
		setup: func(*testing.T) pkcs11.Config {
			cfg := config(newKeyRef(pinToken))
			cfg.PIN = "wrong-pin-1234"
			return cfg
		},
		want: `the PIN of PKCS#11 token "nodetrust-pin" is wrong`,
	}, {
		name:  "a token that does not exist is named",
		setup: func(*testing.T) pkcs11.Config { return config(newKeyRef("no-such-token")) },
		want:  `opening PKCS#11 token "no-such-token"`,
	}, {
		name:  "a missing key is named by label and ID",
		setup: func(*testing.T) pkcs11.Config { return config(newKeyRef(mainToken)) },
		want:  "no key pair with label",
	}, {
		name: "a key without a certificate is refused",
		setup: func(t *testing.T) pkcs11.Config {
			ref := newKeyRef(mainToken)
			importKey(t, ref, signertest.NewCA(t, signertest.ECDSAP256, "no cert").KeyPEM, false)
			t.Cleanup(func() { deleteObjects(t, ref, true, true) })
			return config(ref)
		},
		want: "no certificate with label",
	}, {
		name: "a certificate for another key is refused",
		setup: func(t *testing.T) pkcs11.Config {
			ref := newKeyRef(mainToken)
			importKey(t, ref, signertest.NewCA(t, signertest.ECDSAP256, "key").KeyPEM, false)
			importCert(t, ref, signertest.NewCA(t, signertest.ECDSAP256, "other").Cert)
			t.Cleanup(func() { deleteObjects(t, ref, true, true) })
			return config(ref)
		},
		want: "does not match CA certificate",
	}, {
		name: "a private key that does not sign for the certificate is refused even without a public key object",
		setup: func(t *testing.T) pkcs11.Config {
			// With no public key object crypto11 takes the public key from
			// the certificate, so only a test signature shows the mismatch.
			ref := newKeyRef(mainToken)
			importKey(t, ref, signertest.NewCA(t, signertest.ECDSAP256, "key").KeyPEM, true)
			importCert(t, ref, signertest.NewCA(t, signertest.ECDSAP256, "other").Cert)
			t.Cleanup(func() { deleteObjects(t, ref, true, true) })
			return config(ref)
		},
		want: "does not sign for CA certificate",
	}, {
		name: "a certificate that is not a CA certificate is refused",
		setup: func(t *testing.T) pkcs11.Config {
			ref := newKeyRef(mainToken)
			ca := signertest.NewCA(t, signertest.ECDSAP256, "leaf")
			importKey(t, ref, ca.KeyPEM, false)
			importCert(t, ref, nonCACert(t, ca))
			t.Cleanup(func() { deleteObjects(t, ref, true, true) })
			return config(ref)
		},
		want: "is not a CA certificate",
	}, {
		name: "two keys under the selected label are ambiguous",
		setup: func(t *testing.T) pkcs11.Config {
			first := importCA(t, mainToken, signertest.NewCA(t, signertest.ECDSAP256, "first"))
			second := newKeyRef(mainToken)
			second.label = first.label
			importKey(t, second, signertest.NewCA(t, signertest.ECDSAP256, "second").KeyPEM, false)
			t.Cleanup(func() { deleteObjects(t, second, true, true) })
			cfg := config(first)
			cfg.KeyID = nil
			return cfg
		},
		want: "2 private keys with label",
	}, {
		name: "an Ed25519 key is refused as unsupported",
		setup: func(t *testing.T) pkcs11.Config {
			// crypto11 cannot use or delete it: it stays in the token under
			// a label no other test uses.
			ref := newKeyRef(mainToken)
			ca := signertest.NewCA(t, signertest.Ed25519, "ed25519")
			importKey(t, ref, ca.KeyPEM, false)
			importCert(t, ref, ca.Cert)
			return config(ref)
		},
		want: "not Ed25519",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.setup(t)
			s, err := pkcs11.New(cfg)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v\nwant an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), cfg.PIN) {
				t.Fatalf("the error shows the PIN: %v", err)
			}
			t.Logf("New: %v", err)
		})
	}
}

func TestTheKeyIsFoundByLabelByIDOrByBoth(t *testing.T) {
	needSoftHSM(t)
	tests := []struct {
		name          string
		label, withID bool
	}{
		{name: "by label", label: true},
		{name: "by ID", withID: true},
		{name: "by label and ID", label: true, withID: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := signertest.NewCA(t, signertest.ECDSAP256, "selection "+tt.name)
			ref := importCA(t, mainToken, ca)
			cfg := config(ref)
			if !tt.label {
				cfg.KeyLabel = ""
			}
			if !tt.withID {
				cfg.KeyID = nil
			}
			mustSign(t, newSigner(t, cfg), ca)
		})
	}
}

func TestTheTokenIsLookedAtAgainOnlyAfterTheReloadInterval(t *testing.T) {
	needSoftHSM(t)
	oldCA := signertest.NewCA(t, signertest.ECDSAP256, "interval old")
	newCA := signertest.NewCA(t, signertest.ECDSAP256, "interval new")
	ref := importCA(t, mainToken, oldCA)
	clk := clocktesting.NewFakePassiveClock(time.Now())
	cfg := config(ref)
	cfg.Clock = clk
	cfg.ReloadInterval = time.Minute
	s := newSigner(t, cfg)

	deleteObjects(t, ref, true, true)
	importKey(t, ref, newCA.KeyPEM, false)
	importCert(t, ref, newCA.Cert)

	current := func() *x509.Certificate {
		t.Helper()
		ca, err := s.CA(context.Background())
		if err != nil {
			t.Fatalf("CA: %v", err)
		}
		return ca.Certificate
	}
	clk.SetTime(clk.Now().Add(time.Minute - time.Second))
	if !current().Equal(oldCA.Cert) {
		t.Fatal("the new CA was picked up before the reload interval passed")
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if !current().Equal(newCA.Cert) {
		t.Fatal("the new CA was not picked up once the reload interval passed")
	}
	mustSign(t, s, newCA)
}

func TestSigningWithAReplacedKeyLooksAgainAtOnce(t *testing.T) {
	needSoftHSM(t)
	for _, kt := range []signertest.KeyType{signertest.ECDSAP384, signertest.RSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			oldCA := signertest.NewCA(t, kt, "replaced old")
			newCA := signertest.NewCA(t, kt, "replaced new")
			ref := importCA(t, mainToken, oldCA)
			cfg := config(ref)
			cfg.Clock = clocktesting.NewFakePassiveClock(time.Now()) // never reaches the interval
			s := newSigner(t, cfg)
			stale := template(t, oldCA.Cert)

			deleteObjects(t, ref, true, true)
			importKey(t, ref, newCA.KeyPEM, false)
			importCert(t, ref, newCA.Cert)

			if _, err := s.Sign(context.Background(), stale); !errors.Is(err, signer.ErrCAChanged) {
				t.Fatalf("Sign with the deleted key: got %v, want ErrCAChanged", err)
			}
			mustSign(t, s, newCA)
		})
	}
}

func TestAMismatchedCertificateFailsCheckUntilTheOperatorFixesIt(t *testing.T) {
	needSoftHSM(t)
	ca := signertest.NewCA(t, signertest.RSA2048, "mismatch")
	ref := importCA(t, mainToken, ca)
	s := newSigner(t, config(ref))
	ctx := context.Background()

	deleteObjects(t, ref, false, true)
	importCert(t, ref, signertest.NewCA(t, signertest.RSA2048, "someone else").Cert)
	err := s.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Check with a certificate for another key: %v, want a mismatch", err)
	}
	if _, err := s.Sign(ctx, template(t, ca.Cert)); err == nil {
		t.Fatal("Sign succeeded with a certificate for another key")
	}

	deleteObjects(t, ref, false, true)
	importCert(t, ref, ca.Cert)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check once the certificate is back: %v", err)
	}
	mustSign(t, s, ca)
}

func TestATokenThatForgotTheSignersSessionsIsOpenedAgain(t *testing.T) {
	needSoftHSM(t)
	ca := signertest.NewCA(t, signertest.ECDSAP256, "reconnect")
	other := signertest.NewCA(t, signertest.ECDSAP256, "reconnect other token")
	cfg := config(importCA(t, mainToken, ca))
	cfg.Clock = clocktesting.NewFakePassiveClock(time.Now()) // no help from the reload interval
	s := newSigner(t, cfg)
	untouched := newSigner(t, config(importCA(t, otherToken, other)))

	dropSessions(t, mainToken)
	mustSign(t, s, ca)
	mustSign(t, untouched, other)

	dropSessions(t, mainToken)
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check after the sessions were dropped: %v", err)
	}
	mustSign(t, s, ca)
}

func TestAfterTheTokenRefusesThePINTheSignerStopsLoggingIn(t *testing.T) {
	needSoftHSM(t)
	token := newToken(t)
	ca := signertest.NewCA(t, signertest.ECDSAP256, "pin changed")
	ref := newKeyRef(token)
	importKey(t, ref, ca.KeyPEM, false)
	importCert(t, ref, ca.Cert)
	s := newSigner(t, config(ref))

	changePIN(t, token, userPIN, "a-new-pin-2024")
	dropSessions(t, token)
	ctx := context.Background()
	err := s.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "is wrong") {
		t.Fatalf("Check after the PIN changed: %v, want the PIN refused", err)
	}
	err = s.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "not logging in again") {
		t.Fatalf("Check again: %v, want no second login", err)
	}
}

func TestADeletedTokenFailsCheck(t *testing.T) {
	needSoftHSM(t)
	doomed := newToken(t)
	ca := signertest.NewCA(t, signertest.ECDSAP256, "doomed")
	ref := newKeyRef(doomed)
	importKey(t, ref, ca.KeyPEM, false)
	importCert(t, ref, ca.Cert)
	s := newSigner(t, config(ref))
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := softhsmtest.Util("--delete-token", "--token", doomed); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err == nil {
		t.Fatal("Check passed after the token was deleted")
	}
	if _, err := s.Sign(ctx, template(t, ca.Cert)); err == nil {
		t.Fatal("Sign succeeded after the token was deleted")
	}
}

func TestSignersShareTheModuleAndClosingOneLeavesTheOthersWorking(t *testing.T) {
	module := needSoftHSM(t)
	// Another spelling of the module's path, as a distribution's
	// compatibility symlink would be: it must name the same loaded module.
	link := filepath.Join(t.TempDir(), "libpkcs11-link.so")
	if err := os.Symlink(module, link); err != nil {
		t.Fatal(err)
	}
	newOn := func(token, modulePath, name string) (*pkcs11.Signer, *signertest.CA) {
		ca := signertest.NewCA(t, signertest.ECDSAP256, name)
		cfg := config(importCA(t, token, ca))
		cfg.ModulePath = modulePath
		s, err := pkcs11.New(cfg)
		if err != nil {
			t.Fatalf("New %s: %v", name, err)
		}
		return s, ca
	}
	a, caA := newOn(mainToken, module, "shared a")
	b, caB := newOn(mainToken, link, "shared b") // same token: shares the login
	c, caC := newOn(otherToken, link, "shared c")
	defer b.Close()
	defer c.Close()

	// signAll signs with every signer from several goroutines at once.
	signAll := func(t *testing.T, pairs map[*pkcs11.Signer]*signertest.CA) {
		t.Helper()
		pub := signertest.NewKey(t, signertest.ECDSAP256).Public()
		var wg sync.WaitGroup
		errs := make(chan error, 4*len(pairs))
		for s, ca := range pairs {
			for range 4 {
				wg.Go(func() {
					if err := signFor(s, ca, pub); err != nil {
						errs <- err
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	signAll(t, map[*pkcs11.Signer]*signertest.CA{a: caA, b: caB, c: caC})

	for range 2 {
		if err := a.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, err := a.CA(context.Background()); !errors.Is(err, pkcs11.ErrClosed) {
		t.Fatalf("CA after Close: %v, want ErrClosed", err)
	}
	signAll(t, map[*pkcs11.Signer]*signertest.CA{b: caB, c: caC})
	for _, s := range []*pkcs11.Signer{b, c} {
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("Check after another signer closed: %v", err)
		}
	}

	// Once every signer is closed the module is finalised; a new signer
	// initialises it again.
	_ = b.Close()
	_ = c.Close()
	d, caD := newOn(mainToken, link, "shared d")
	defer d.Close()
	signAll(t, map[*pkcs11.Signer]*signertest.CA{d: caD})
}

func TestAClosedSignerRefusesEverything(t *testing.T) {
	needSoftHSM(t)
	ca := signertest.NewCA(t, signertest.ECDSAP256, "closed")
	s := newSigner(t, config(importCA(t, mainToken, ca)))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.CA(ctx); !errors.Is(err, pkcs11.ErrClosed) {
		t.Errorf("CA: %v, want ErrClosed", err)
	}
	if _, err := s.Sign(ctx, template(t, ca.Cert)); !errors.Is(err, pkcs11.ErrClosed) {
		t.Errorf("Sign: %v, want ErrClosed", err)
	}
	if err := s.Check(ctx); !errors.Is(err, pkcs11.ErrClosed) {
		t.Errorf("Check: %v, want ErrClosed", err)
	}
}

func TestCheckHonoursACanceledContext(t *testing.T) {
	needSoftHSM(t)
	s := newSigner(t, config(importCA(t, mainToken, signertest.NewCA(t, signertest.ECDSAP256, "canceled"))))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Check(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check: %v, want context.Canceled", err)
	}
}

func TestNewRefusesAnIncompleteConfiguration(t *testing.T) {
	dir := t.TempDir()
	notALibrary := filepath.Join(dir, "not-a-library.so")
	if err := os.WriteFile(notALibrary, []byte("not an ELF file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pin = "secret-pin-1234"
	valid := func() pkcs11.Config {
		return pkcs11.Config{
			ModulePath: notALibrary, TokenLabel: "token", KeyLabel: "ca", PIN: pin,
		}
	}
	tests := []struct {
		name   string
		mutate func(*pkcs11.Config)
		want   string
	}{
		{"no module path", func(c *pkcs11.Config) { c.ModulePath = "" }, "no PKCS#11 module path"},
		{"a relative module path", func(c *pkcs11.Config) { c.ModulePath = "lib/softhsm2.so" }, "is not absolute"},
		{"a module that does not exist", func(c *pkcs11.Config) { c.ModulePath = filepath.Join(dir, "missing.so") }, "no such file"},
		{"a module that is a directory", func(c *pkcs11.Config) { c.ModulePath = dir }, "not a regular file"},
		{"a module that is not a library", func(*pkcs11.Config) {}, "failed to open module"},
		{"no token label", func(c *pkcs11.Config) { c.TokenLabel = "" }, "no PKCS#11 token label"},
		{"neither key label nor key ID", func(c *pkcs11.Config) { c.KeyLabel, c.KeyID = "", []byte{} }, "neither a key label nor a key ID"},
		{"no PIN", func(c *pkcs11.Config) { c.PIN = "" }, `no user PIN for PKCS#11 token "token"`},
		{"a negative reload interval", func(c *pkcs11.Config) { c.ReloadInterval = -time.Second }, "is negative"},
		{"a session limit of one", func(c *pkcs11.Config) { c.MaxSessions = 1 }, "session limit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			s, err := pkcs11.New(cfg)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v\nwant an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), pin) {
				t.Fatalf("the error shows the PIN: %v", err)
			}
		})
	}
}
