package policystore

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// Store memoizes policy.Compile per policy UID and generation. It is safe
// for concurrent use; the zero value is ready.
type Store struct {
	mu      sync.Mutex
	entries map[types.UID]entry
}

type entry struct {
	generation int64
	compiled   *policy.Compiled
	err        error
}

// Compile returns the compiled form of p, or the error that makes p invalid.
func (s *Store) Compile(p *v1alpha1.NodeCertificatePolicy) (*policy.Compiled, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[p.UID]; ok && e.generation == p.Generation {
		return e.compiled, e.err
	}
	compiled, err := policy.Compile(p)
	if s.entries == nil {
		s.entries = map[types.UID]entry{}
	}
	s.entries[p.UID] = entry{generation: p.Generation, compiled: compiled, err: err}
	return compiled, err
}

// Valid compiles items and returns those that are valid, forgetting the
// policies that are not among items any more: items must be every policy.
func (s *Store) Valid(items []v1alpha1.NodeCertificatePolicy) []*policy.Compiled {
	out := make([]*policy.Compiled, 0, len(items))
	seen := make(map[types.UID]bool, len(items))
	for i := range items {
		seen[items[i].UID] = true
		if compiled, err := s.Compile(&items[i]); err == nil {
			out = append(out, compiled)
		}
	}
	s.mu.Lock()
	for uid := range s.entries {
		if !seen[uid] {
			delete(s.entries, uid)
		}
	}
	s.mu.Unlock()
	return out
}
