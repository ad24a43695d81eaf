package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/pkg/signer"
)

// closingSigner records Close calls.
type closingSigner struct{ closed int }

func (c *closingSigner) Close() error { c.closed++; return nil }

func (c *closingSigner) CA(context.Context) (*signer.CA, error) { return &signer.CA{}, nil }

func (c *closingSigner) Sign(context.Context, *x509.Certificate) ([]byte, error) { return nil, nil }

func (c *closingSigner) Check(context.Context) error { return nil }

// errPINRefused stands for a backend's "do not rebuild" error, such as a
// PKCS#11 token's refused PIN.
var errPINRefused = fmt.Errorf("the token refused the PIN: %w", signer.ErrDoNotRebuild)

// key is the build key of a serving signer valid for an hour.
func key(uid types.UID, generation int64, extra string) BuildKey {
	return BuildKey{UID: uid, Generation: generation, Extra: extra, SignerName: certificatesv1.KubeletServingSignerName, MaxValidity: time.Hour}
}

func TestRegistry(t *testing.T) {
	serving := certificatesv1.KubeletServingSignerName
	build := func(s *closingSigner) func() (signer.Signer, error) {
		return func() (signer.Signer, error) { return s, nil }
	}

	t.Run("a built but not ready signer does not sign", func(t *testing.T) {
		r := New()
		if _, err := r.Backend("a", key("uid-a", 1, ""), build(&closingSigner{})); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Active(serving); ok || len(r.ReadySigners()) != 0 {
			t.Fatal("a signer that is not ready is active")
		}
	})
	t.Run("a ready signer is the active one for its signer name only", func(t *testing.T) {
		r := New()
		_, _ = r.Backend("a", key("uid-a", 1, ""), build(&closingSigner{}))
		r.SetReady("a", "uid-a", true)
		if got, ok := r.Active(serving); !ok || got.Name != "a" || got.MaxValidity != time.Hour {
			t.Fatalf("Active = %+v, %v", got, ok)
		}
		if _, ok := r.Active(certificatesv1.KubeAPIServerClientKubeletSignerName); ok {
			t.Fatal("the serving signer is active for the client signer name")
		}
		if got := r.ReadySigners(); got["a"] != serving || len(got) != 1 {
			t.Fatalf("ReadySigners = %v", got)
		}
	})
	t.Run("two ready signers for one signer name leave none active", func(t *testing.T) {
		r := New()
		for _, name := range []string{"a", "b"} {
			_, _ = r.Backend(name, key(types.UID("uid-"+name), 1, ""), build(&closingSigner{}))
			r.SetReady(name, types.UID("uid-"+name), true)
		}
		if _, ok := r.Active(serving); ok {
			t.Fatal("one of two signers for one name is active")
		}
	})
	t.Run("a new generation rebuilds the backend and closes the old one", func(t *testing.T) {
		r := New()
		old, next := &closingSigner{}, &closingSigner{}
		_, _ = r.Backend("a", key("uid-a", 1, ""), build(old))
		if s, _ := r.Backend("a", key("uid-a", 1, ""), build(next)); s != old {
			t.Fatal("the same generation was rebuilt")
		}
		if s, _ := r.Backend("a", key("uid-a", 2, ""), build(next)); s != next || old.closed != 1 {
			t.Fatalf("rebuild gave %v and closed the old backend %d times", s, old.closed)
		}
		r.Remove("a")
		if next.closed != 1 {
			t.Fatal("remove did not close the backend")
		}
	})
	t.Run("a failed build is retried and never ready", func(t *testing.T) {
		r := New()
		_, err := r.Backend("a", key("uid-a", 1, ""), func() (signer.Signer, error) { return nil, errors.New("token gone") })
		if err == nil {
			t.Fatal("the build error was lost")
		}
		r.SetReady("a", "uid-a", true)
		if _, ok := r.Active(serving); ok {
			t.Fatal("a signer whose build failed is active")
		}
		good := &closingSigner{}
		if s, err := r.Backend("a", key("uid-a", 1, ""), build(good)); err != nil || s != good {
			t.Fatalf("the failed build was not retried: %v, %v", s, err)
		}
	})
	t.Run("readiness of a replaced object does not leak to its successor", func(t *testing.T) {
		r := New()
		_, _ = r.Backend("a", key("uid-new", 1, ""), build(&closingSigner{}))
		r.SetReady("a", "uid-old", true)
		if _, ok := r.Active(serving); ok {
			t.Fatal("readiness recorded for another UID made the signer active")
		}
	})
}

func TestRegistryRebuilds(t *testing.T) {
	t.Run("a new key rebuilds the backend, closing the old one before building", func(t *testing.T) {
		r := New()
		old := &closingSigner{}
		_, _ = r.Backend("a", key("uid-a", 1, "pin-1"), func() (signer.Signer, error) { return old, nil })
		next := &closingSigner{}
		s, err := r.Backend("a", key("uid-a", 1, "pin-2"), func() (signer.Signer, error) {
			if old.closed != 1 {
				t.Error("the old backend was still open while the new one was built")
			}
			return next, nil
		})
		if err != nil || s != next {
			t.Fatalf("backend() = %v, %v; want the rebuilt one", s, err)
		}
	})
	t.Run("a refused PIN is not tried again until the key changes", func(t *testing.T) {
		r := New()
		builds := 0
		refused := func() (signer.Signer, error) {
			builds++
			return nil, fmt.Errorf("opening: %w", errPINRefused)
		}
		for range 3 {
			if _, err := r.Backend("a", key("uid-a", 1, "bad-pin"), refused); !errors.Is(err, errPINRefused) {
				t.Fatalf("backend() error %v, want the refused PIN", err)
			}
		}
		if builds != 1 {
			t.Fatalf("a refused PIN was tried %d times", builds)
		}
		if _, err := r.Backend("a", key("uid-a", 1, "new-pin"), refused); err == nil || builds != 2 {
			t.Fatalf("a new PIN was not tried: %d builds", builds)
		}
	})
}
