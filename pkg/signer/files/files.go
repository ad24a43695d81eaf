package files

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"k8s.io/utils/clock"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Config names the files.
type Config struct {
	// CertFile holds the issuing CA certificate, then its chain, PEM-encoded.
	CertFile string
	// KeyFile holds the CA's private key, PEM-encoded (PKCS#8, PKCS#1 or SEC 1).
	KeyFile string
	// TrustedFile optionally holds further CA certificates to trust.
	TrustedFile string
	// Clock is used by Check; nil means the real clock.
	Clock clock.PassiveClock
}

// New returns a Signer over the files cfg names. It does not read them yet:
// problems show up in Check, CA and Sign.
func New(cfg Config) *signer.Reloading {
	return signer.NewReloading(&source{cfg: cfg})
}

type source struct{ cfg Config }

func (s *source) paths() []string {
	p := []string{s.cfg.CertFile, s.cfg.KeyFile}
	if s.cfg.TrustedFile != "" {
		p = append(p, s.cfg.TrustedFile)
	}
	return p
}

// Version implements signer.Source: the device, inode, size and modification
// time of every file, following symlinks.
func (s *source) Version(context.Context) (string, error) {
	var v string
	for _, p := range s.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("CA file: %w", err)
		}
		v += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			v += fmt.Sprintf("%d:%d;", st.Dev, st.Ino)
		}
	}
	return v, nil
}

// Load implements signer.Source.
func (s *source) Load(context.Context) (*signer.KeyPair, error) {
	certPEM, err := os.ReadFile(s.cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("CA key file: %w", err)
	}
	var trustedPEM []byte
	if s.cfg.TrustedFile != "" {
		if trustedPEM, err = os.ReadFile(s.cfg.TrustedFile); err != nil {
			return nil, fmt.Errorf("trusted CA file: %w", err)
		}
	}
	kp, err := signer.LoadKeyPairPEM(certPEM, keyPEM, trustedPEM, s.cfg.Clock)
	if err != nil {
		return nil, fmt.Errorf("files %s, %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	return kp, nil
}
