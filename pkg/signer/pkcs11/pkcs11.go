//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
	"k8s.io/utils/clock"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// poolWaitTimeout bounds how long an operation waits for a free session
// when the token's session limit is reached.
const poolWaitTimeout = 30 * time.Second

// Signer is a signer.Signer whose CA key stays in a PKCS#11 token. It is
// safe for concurrent use. Build it with New and Close it when done.
type Signer struct {
	cfg Config

	// state is what the token held at the last look.
	state atomic.Pointer[state]
	// loadMu serialises the looks in the token, reopening it and Close.
	loadMu sync.Mutex
	// ctx is the open token. It is used and replaced under loadMu; keys
	// found through it keep working until it is closed.
	ctx *crypto11.Context
	// loginErr, under loadMu, is why the token refused to log in again.
	// The Signer then stops trying: HSMs lock a PIN after a few failures.
	loginErr error
	closed   atomic.Bool
	closeErr error
}

var _ signer.Signer = (*Signer)(nil)

// state is the outcome of one look in the token: a KeyPair, or why there
// is none.
type state struct {
	kp   *signer.KeyPair
	cert *x509.Certificate
	key  crypto11.Signer
	err  error
	at   time.Time
}

// New opens the token cfg names, logs in and finds the key and its
// certificate. It fails with a descriptive error when the configuration is
// incomplete, the module cannot be loaded, the token does not exist, the
// PIN is wrong, the key or certificate is missing or ambiguous, the key is
// of an unsupported type, the certificate is not a CA certificate for the
// key, or the key does not sign as the certificate says.
//
// Signers for the same module share the loaded, initialised module (also
// when their paths differ by symlinks) and Signers for the same token share
// its login, as PKCS#11 keeps one login per token and process: a Signer
// opened while another one is logged in to the token is not asked for the
// PIN again.
func New(cfg Config) (*Signer, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Signer{cfg: cfg}
	if s.ctx, err = s.open(); err != nil {
		return nil, err
	}
	st := s.lookup()
	if st.err == nil {
		st.err = s.probe(st)
	}
	if st.err != nil {
		_ = s.ctx.Close()
		return nil, st.err
	}
	s.state.Store(st)
	return s, nil
}

// open opens the token and logs in.
func (s *Signer) open() (*crypto11.Context, error) {
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:            s.cfg.ModulePath,
		TokenLabel:      s.cfg.TokenLabel,
		Pin:             s.cfg.PIN,
		MaxSessions:     s.cfg.MaxSessions,
		PoolWaitTimeout: poolWaitTimeout,
	})
	if err != nil {
		return nil, configureError(s.cfg, err)
	}
	return ctx, nil
}

// labelAndID returns the lookup attributes, nil when unset, as crypto11
// wants them.
func (c Config) labelAndID() (label, id []byte) {
	if c.KeyLabel != "" {
		label = []byte(c.KeyLabel)
	}
	if len(c.KeyID) > 0 {
		id = c.KeyID
	}
	return label, id
}

// validate checks cfg and returns it with defaults applied and ModulePath
// resolved to the module file itself, so that every spelling of one module's
// path (such as a distribution's compatibility symlink) names the same
// loaded library.
func (c Config) validate() (Config, error) {
	if err := c.checkFields(); err != nil {
		return c, err
	}
	resolved, err := filepath.EvalSymlinks(c.ModulePath)
	if err != nil {
		return c, fmt.Errorf("PKCS#11 module: %w", err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return c, fmt.Errorf("PKCS#11 module: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return c, fmt.Errorf("PKCS#11 module %s is not a regular file", c.ModulePath)
	}
	c.ModulePath = resolved
	// The caller keeps its slices; the Signer keeps copies.
	c.KeyID = slices.Clone(c.KeyID)
	c.Chain = slices.Clone(c.Chain)
	c.ExtraTrusted = slices.Clone(c.ExtraTrusted)
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return c, nil
}

// checkFields checks the fields that need no look at the file system.
func (c Config) checkFields() error {
	switch {
	case c.ModulePath == "":
		return errors.New("no PKCS#11 module path")
	case !filepath.IsAbs(c.ModulePath):
		return fmt.Errorf("PKCS#11 module path %q is not absolute", c.ModulePath)
	case c.TokenLabel == "":
		return errors.New("no PKCS#11 token label")
	case c.KeyLabel == "" && len(c.KeyID) == 0:
		return errors.New("neither a key label nor a key ID selects the CA key in the PKCS#11 token")
	case c.PIN == "":
		return fmt.Errorf("no user PIN for PKCS#11 token %q", c.TokenLabel)
	case c.ReloadInterval < 0:
		return fmt.Errorf("PKCS#11 reload interval %v is negative", c.ReloadInterval)
	case c.MaxSessions < 0 || c.MaxSessions == 1:
		return fmt.Errorf("PKCS#11 session limit %d is not 0 or at least 2", c.MaxSessions)
	}
	return nil
}

// configureError explains why crypto11 could not open the token.
func configureError(cfg Config, err error) error {
	var p11 pkcs11.Error
	if errors.As(err, &p11) {
		switch p11 {
		case pkcs11.CKR_PIN_INCORRECT:
			return fmt.Errorf("the PIN of PKCS#11 token %q is wrong: %w: %w", cfg.TokenLabel, ErrPINRefused, err)
		case pkcs11.CKR_PIN_LOCKED:
			return fmt.Errorf("the user PIN of PKCS#11 token %q is locked: %w: %w", cfg.TokenLabel, ErrPINRefused, err)
		case pkcs11.CKR_PIN_EXPIRED:
			return fmt.Errorf("the user PIN of PKCS#11 token %q has expired: %w: %w", cfg.TokenLabel, ErrPINRefused, err)
		case pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED:
			return fmt.Errorf("PKCS#11 module %s was initialised by other code in this process, "+
				"which nodetrust cannot share it with: %w", cfg.ModulePath, err)
		}
	}
	if pinRefused(err) {
		return fmt.Errorf("PKCS#11 token %q: %w: %w", cfg.TokenLabel, ErrPINRefused, err)
	}
	return fmt.Errorf("opening PKCS#11 token %q with module %s: %w", cfg.TokenLabel, cfg.ModulePath, err)
}

// pinRefused reports whether err says the token refused the PIN.
func pinRefused(err error) bool {
	var p11 pkcs11.Error
	if !errors.As(err, &p11) {
		return false
	}
	switch p11 {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE,
		pkcs11.CKR_PIN_EXPIRED, pkcs11.CKR_PIN_LOCKED:
		return true
	}
	return false
}

// lookup looks for the key and certificate in the token and builds a
// KeyPair.
func (s *Signer) lookup() *state {
	st := &state{at: s.cfg.Clock.Now()}
	st.err = s.find(st)
	return st
}

// load is lookup, once more through a fresh login when the first look
// fails: the token may have forgotten this Signer's sessions or login (a
// network HSM that restarted, a token that was reinserted), which PKCS#11
// modules report in many ways, down to private objects that are simply
// not found. The caller holds loadMu.
func (s *Signer) load() *state {
	st := s.lookup()
	if st.err == nil {
		return st
	}
	if s.loginErr != nil {
		st.err = fmt.Errorf("%w; not logging in again after %w", st.err, s.loginErr)
		return st
	}
	ctx, err := s.open()
	if err != nil {
		if pinRefused(err) {
			s.loginErr = err
		}
		st.err = fmt.Errorf("%w; opening the token again: %w", st.err, err)
		return st
	}
	old := s.ctx
	s.ctx = ctx
	_ = old.Close() // waits for operations that still use its keys
	return s.lookup()
}

// find fills st with the key, certificate and KeyPair the token holds.
func (s *Signer) find(st *state) error {
	label, id := s.cfg.labelAndID()
	where := fmt.Sprintf("PKCS#11 token %q", s.cfg.TokenLabel)
	keys, err := s.ctx.FindKeyPairs(id, label)
	if err != nil {
		if strings.Contains(err.Error(), "unsupported key type") {
			return fmt.Errorf("the key with %s in %s is of a type this backend does not support "+
				"(only RSA and ECDSA; not Ed25519): %w", s.cfg.keyDescription(), where, err)
		}
		return fmt.Errorf("looking for the key with %s in %s: %w", s.cfg.keyDescription(), where, err)
	}
	switch len(keys) {
	case 0:
		return fmt.Errorf("no key pair with %s in %s (a private key needs its public key, "+
			"or a certificate with the same ID, next to it)", s.cfg.keyDescription(), where)
	case 1:
	default:
		return fmt.Errorf("%d private keys with %s in %s; exactly one may match "+
			"(delete the old key, or select the key by both label and ID)", len(keys), s.cfg.keyDescription(), where)
	}
	cert, err := s.ctx.FindCertificate(id, label, nil)
	if err != nil {
		return fmt.Errorf("looking for the certificate with %s in %s: %w", s.cfg.keyDescription(), where, err)
	}
	if cert == nil {
		return fmt.Errorf("no certificate with %s in %s", s.cfg.keyDescription(), where)
	}
	certs := append([]*x509.Certificate{cert}, s.cfg.Chain...)
	kp, err := signer.NewKeyPair(certs, keys[0], s.cfg.ExtraTrusted, s.cfg.Clock)
	if err != nil {
		return fmt.Errorf("the key and certificate with %s in %s: %w", s.cfg.keyDescription(), where, err)
	}
	st.kp, st.cert, st.key = kp, cert, keys[0]
	return nil
}

// probe signs a random digest with the loaded key and verifies the
// signature with the certificate: it proves the token answers and that the
// private key, not just the public key object, belongs to the certificate.
func (s *Signer) probe(st *state) error {
	digest := make([]byte, sha256.Size)
	if _, err := rand.Read(digest); err != nil {
		return fmt.Errorf("reading a random digest: %w", err)
	}
	cert := st.cert
	sig, err := st.key.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("test signature with the key with %s in PKCS#11 token %q: %w",
			s.cfg.keyDescription(), s.cfg.TokenLabel, err)
	}
	ok := false
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, digest, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	}
	if !ok {
		return fmt.Errorf("the private key with %s in PKCS#11 token %q does not sign for CA certificate %q",
			s.cfg.keyDescription(), s.cfg.TokenLabel, cert.Subject)
	}
	return nil
}

// current returns what the token held at the last look, looking again
// when that is ReloadInterval old.
func (s *Signer) current() (*state, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	st := s.state.Load()
	if s.cfg.Clock.Since(st.at) >= s.cfg.ReloadInterval {
		st = s.reload(st)
	}
	return st, st.err
}

// reload looks in the token again unless another caller already replaced
// stale while this one waited, and returns the new state.
func (s *Signer) reload(stale *state) *state {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if st := s.state.Load(); st != stale {
		return st
	}
	if s.closed.Load() {
		return &state{err: ErrClosed, at: stale.at}
	}
	st := s.load()
	s.state.Store(st)
	return st
}

// CA implements signer.Signer.
func (s *Signer) CA(ctx context.Context) (*signer.CA, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	return st.kp.CA(ctx)
}

// Sign implements signer.Signer. When signing fails for a reason other
// than the template, as it does when the operator replaced the key since
// the last look, Sign looks in the token again at once and retries with
// what it finds there: a template for the replaced CA then fails with
// signer.ErrCAChanged.
func (s *Signer) Sign(ctx context.Context, tmpl *x509.Certificate) ([]byte, error) {
	st, err := s.current()
	if err != nil {
		return nil, err
	}
	out, err := st.kp.Sign(ctx, tmpl)
	if _, permanent := signer.IsPermanent(err); err == nil || permanent || errors.Is(err, signer.ErrCAChanged) {
		return out, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	again := s.reload(st)
	if again.err != nil {
		return nil, errors.Join(err, again.err)
	}
	return again.kp.Sign(ctx, tmpl)
}

// Check implements signer.Signer. It always looks in the token again, makes
// a test signature with the key and checks the certificate's validity, so
// it fails when the token cannot be reached, the key or certificate was
// deleted or replaced by a mismatching one, or the CA has expired.
func (s *Signer) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checking the PKCS#11 signer: %w", err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	st := s.reload(s.state.Load())
	if st.err != nil {
		return st.err
	}
	if err := s.probe(st); err != nil {
		return err
	}
	return st.kp.Check(ctx)
}

// Close logs out of the token (unless another Signer of this process still
// uses it) and unloads the module when no other Signer uses it. It waits
// for running operations. Calling Close again does nothing.
func (s *Signer) Close() error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.closed.Swap(true) {
		return s.closeErr
	}
	if err := s.ctx.Close(); err != nil {
		s.closeErr = fmt.Errorf("closing PKCS#11 token %q: %w", s.cfg.TokenLabel, err)
	}
	return s.closeErr
}

// Supported reports whether this binary can load PKCS#11 modules: it was
// built with cgo, so it can.
const Supported = true
