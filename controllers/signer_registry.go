package controllers

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
	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
)

// SignerRegistry holds the backend of every NodeCertificateSigner and says
// which of them sign now. The signer-status controller fills it; the approval
// and signing controllers read it. It is safe for concurrent use.
type SignerRegistry struct {
	mu          sync.RWMutex
	entries     map[string]*signerEntry
	subscribers []chan event.GenericEvent
}

type signerEntry struct {
	uid        types.UID
	generation int64
	key        string
	signerName string
	maxValid   time.Duration
	backend    signer.Signer
	buildErr   error
	ready      bool
}

// ActiveSigner is the signer that signs CSRs of one signer name.
type ActiveSigner struct {
	// Name is the NodeCertificateSigner's name.
	Name string
	// Signer issues the certificates.
	Signer signer.Signer
	// MaxValidity is the signer's maximum certificate validity.
	MaxValidity time.Duration
}

// NewSignerRegistry returns an empty registry.
func NewSignerRegistry() *SignerRegistry {
	return &SignerRegistry{entries: map[string]*signerEntry{}}
}

// ReadySigners maps the name of every ready signer to its signer name, the
// form policy.Facts wants.
func (r *SignerRegistry) ReadySigners() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]string{}
	for name, e := range r.entries {
		if e.ready {
			out[name] = e.signerName
		}
	}
	return out
}

// Active returns the ready signer for signerName, if there is exactly one.
func (r *SignerRegistry) Active(signerName string) (ActiveSigner, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var found []ActiveSigner
	for name, e := range r.entries {
		if e.ready && e.signerName == signerName {
			found = append(found, ActiveSigner{Name: name, Signer: e.backend, MaxValidity: e.maxValid})
		}
	}
	if len(found) != 1 {
		return ActiveSigner{}, false
	}
	return found[0], true
}

// backend returns the backend built for name at uid, generation and key
// (what else the backend depends on, e.g. a PIN), building it with build
// when there is none or any of them changed. The previous backend is closed
// first: an HSM login is shared by a process, so a new signer must not
// inherit the old one's. A build that failed is retried on every call,
// except when it failed for good (a refused PIN): then it waits for a new
// generation or key, so that an HSM does not lock the PIN.
func (r *SignerRegistry) backend(name string, uid types.UID, generation int64, key, signerName string, maxValid time.Duration,
	build func() (signer.Signer, error)) (signer.Signer, error) {
	r.mu.Lock()
	if e, ok := r.entries[name]; ok && e.uid == uid && e.generation == generation && e.key == key &&
		(e.buildErr == nil || errors.Is(e.buildErr, pkcs11.ErrPINRefused)) {
		r.mu.Unlock()
		return e.backend, e.buildErr
	}
	if old, ok := r.entries[name]; ok {
		closeBackend(old.backend)
		delete(r.entries, name)
	}
	r.mu.Unlock()

	// Build outside the lock: opening an HSM may take a while. The
	// controller never reconciles one name twice at once.
	backend, err := build()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[name] = &signerEntry{uid: uid, generation: generation, key: key, signerName: signerName, maxValid: maxValid,
		backend: backend, buildErr: err}
	return backend, err
}

// setReady records whether name signs now, and tells the subscribers when
// that changed.
func (r *SignerRegistry) setReady(name string, uid types.UID, ready bool) {
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

// remove forgets name and closes its backend.
func (r *SignerRegistry) remove(name string) {
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
func (r *SignerRegistry) Subscribe() <-chan event.GenericEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan event.GenericEvent, 16)
	r.subscribers = append(r.subscribers, ch)
	return ch
}

// notify tells the subscribers that name changed; the caller holds mu.
func (r *SignerRegistry) notify(name string) {
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

// issuerOf returns the name of the signer whose CA, current or still
// trusted, signed leaf.
func (r *SignerRegistry) issuerOf(ctx context.Context, leaf *x509.Certificate) (string, bool) {
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
