package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/signer"
)

// Registry holds the backends of the NodeCertificateSigners. It is safe for
// concurrent use.
type Registry struct {
	mu          sync.RWMutex
	entries     map[string]*entry
	subscribers []chan event.GenericEvent
}

type entry struct {
	uid      types.UID
	build    BuildKey
	backend  signer.Signer
	buildErr error
	ready    bool
}

// BuildKey is everything a backend was built from. A backend is rebuilt
// when any of it changes.
type BuildKey struct {
	// UID and Generation identify the NodeCertificateSigner's spec.
	UID        types.UID
	Generation int64
	// Extra is what else the backend depends on, e.g. a hash of a PIN.
	Extra string
	// SignerName is the Kubernetes signer name the backend signs for.
	SignerName string
	// MaxValidity caps the validity of the certificates it issues.
	MaxValidity time.Duration
}

// Active is the signer that signs CSRs of one signer name.
type Active struct {
	// Name is the NodeCertificateSigner's name.
	Name string
	// Signer issues the certificates.
	Signer signer.Signer
	// MaxValidity is the signer's maximum certificate validity.
	MaxValidity time.Duration
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{entries: map[string]*entry{}}
}

// ReadySigners maps the name of every ready signer to its signer name, the
// form policy.Facts wants.
func (r *Registry) ReadySigners() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]string{}
	for name, e := range r.entries {
		if e.ready {
			out[name] = e.build.SignerName
		}
	}
	return out
}

// Active returns the ready signer for signerName, if there is exactly one.
func (r *Registry) Active(signerName string) (Active, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var found []Active
	for name, e := range r.entries {
		if e.ready && e.build.SignerName == signerName {
			found = append(found, Active{Name: name, Signer: e.backend, MaxValidity: e.build.MaxValidity})
		}
	}
	if len(found) != 1 {
		return Active{}, false
	}
	return found[0], true
}

// Backend returns the backend built for name with key, building it with
// build when there is none or the key changed. The previous backend is
// closed first: an HSM login is shared by a process, so a new signer must
// not inherit the old one's. A build that failed is retried on every call,
// except when its error wraps signer.ErrDoNotRebuild: then it waits for a
// new key. The caller must not call Backend for one name concurrently.
func (r *Registry) Backend(name string, key BuildKey, build func() (signer.Signer, error)) (signer.Signer, error) {
	r.mu.Lock()
	if e, ok := r.entries[name]; ok && e.build == key && (e.buildErr == nil || errors.Is(e.buildErr, signer.ErrDoNotRebuild)) {
		r.mu.Unlock()
		return e.backend, e.buildErr
	}
	if old, ok := r.entries[name]; ok {
		closeBackend(old.backend)
		delete(r.entries, name)
	}
	r.mu.Unlock()

	// Build outside the lock: opening an HSM may take a while.
	backend, err := build()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[name] = &entry{uid: key.UID, build: key, backend: backend, buildErr: err}
	return backend, err
}

// SetReady records whether name, at uid, signs now, and tells the
// subscribers when that changed.
func (r *Registry) SetReady(name string, uid types.UID, ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[name]; ok && e.uid == uid {
		was := e.ready
		e.ready = ready && e.buildErr == nil && e.backend != nil
		if e.ready != was {
			r.notify(name)
		}
	}
}

// Remove forgets name and closes its backend.
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[name]; ok {
		closeBackend(e.backend)
		delete(r.entries, name)
		if e.ready {
			r.notify(name)
		}
	}
}

// Subscribe returns a channel that receives an event, about the
// NodeCertificateSigner concerned, whenever a signer starts or stops
// signing; use it with source.Channel. The status change of the signer
// object is not enough: after a restart the registry starts empty while the
// objects already say Ready. Events are dropped while the channel is full,
// since receivers re-read the whole registry anyway.
func (r *Registry) Subscribe() <-chan event.GenericEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan event.GenericEvent, 16)
	r.subscribers = append(r.subscribers, ch)
	return ch
}

// notify tells the subscribers that name changed; the caller holds mu.
func (r *Registry) notify(name string) {
	ev := event.GenericEvent{Object: &v1alpha1.NodeCertificateSigner{ObjectMeta: metav1.ObjectMeta{Name: name}}}
	for _, ch := range r.subscribers {
		select {
		case ch <- ev:
		default:
		}
	}
}

func closeBackend(s signer.Signer) {
	if c, ok := s.(io.Closer); ok && c != nil {
		_ = c.Close()
	}
}

// IssuerOf returns the name of the signer whose CA, current or still
// trusted, signed leaf.
func (r *Registry) IssuerOf(ctx context.Context, leaf *x509.Certificate) (string, bool) {
	r.mu.RLock()
	backends := make(map[string]signer.Signer, len(r.entries))
	for name, e := range r.entries {
		if e.backend != nil {
			backends[name] = e.backend
		}
	}
	r.mu.RUnlock()
	for name, b := range backends {
		ca, err := b.CA(ctx)
		if err != nil {
			continue
		}
		for _, c := range append([]*x509.Certificate{ca.Certificate}, ca.Trusted...) {
			if leaf.CheckSignatureFrom(c) == nil {
				return name, true
			}
		}
	}
	return "", false
}
