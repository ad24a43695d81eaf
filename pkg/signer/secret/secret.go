package secret

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// TrustedCAsKey is the optional Secret key holding further CA certificates
// to trust.
const TrustedCAsKey = "ca.crt"

// Reader reads one Secret. It returns an error wrapping ErrNotFound when
// the Secret does not exist.
type Reader interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// ErrNotFound is wrapped by Reader errors for a missing Secret.
var ErrNotFound = errors.New("secret not found")

// Config names the Secret.
type Config struct {
	// Namespace and Name locate the Secret.
	Namespace, Name string
	// Clock is used by Check; nil means the real clock.
	Clock clock.PassiveClock
}

// New returns a Signer over the Secret cfg names. It does not read the
// Secret yet: problems show up in Check, CA and Sign.
func New(reader Reader, cfg Config) *signer.Reloading {
	return signer.NewReloading(&source{reader: reader, cfg: cfg})
}

type source struct {
	reader Reader
	cfg    Config
}

func (s *source) get(ctx context.Context) (*corev1.Secret, error) {
	sec, err := s.reader.GetSecret(ctx, s.cfg.Namespace, s.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", s.cfg.Namespace, s.cfg.Name, err)
	}
	return sec, nil
}

// Version implements signer.Source.
func (s *source) Version(ctx context.Context) (string, error) {
	sec, err := s.get(ctx)
	if err != nil {
		return "", err
	}
	return string(sec.UID) + "/" + sec.ResourceVersion, nil
}

// Load implements signer.Source.
func (s *source) Load(ctx context.Context) (*signer.KeyPair, error) {
	sec, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	if sec.Type != corev1.SecretTypeTLS {
		return nil, fmt.Errorf("secret %s/%s has type %q, want %q", sec.Namespace, sec.Name, sec.Type, corev1.SecretTypeTLS)
	}
	kp, err := signer.LoadKeyPairPEM(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey], sec.Data[TrustedCAsKey], s.cfg.Clock)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	return kp, nil
}
