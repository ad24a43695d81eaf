package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/pkg/policy"
)

// compiledPolicies memoizes policy.Compile per policy UID and generation, so
// that regular expressions are not compiled on every reconcile.
type compiledPolicies struct {
	mu      sync.Mutex
	entries map[types.UID]compiledEntry
}

type compiledEntry struct {
	generation int64
	compiled   *policy.Compiled
	err        error
}

// compile returns the compiled form of p, or the error that makes p invalid.
func (c *compiledPolicies) compile(p *v1alpha1.NodeCertificatePolicy) (*policy.Compiled, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[p.UID]; ok && e.generation == p.Generation {
		return e.compiled, e.err
	}
	compiled, err := policy.Compile(p)
	if c.entries == nil {
		c.entries = map[types.UID]compiledEntry{}
	}
	c.entries[p.UID] = compiledEntry{generation: p.Generation, compiled: compiled, err: err}
	return compiled, err
}

// valid compiles every policy and returns those that are valid, dropping
// cache entries of policies that no longer exist.
func (c *compiledPolicies) valid(items []v1alpha1.NodeCertificatePolicy) []*policy.Compiled {
	out := make([]*policy.Compiled, 0, len(items))
	seen := make(map[types.UID]bool, len(items))
	for i := range items {
		seen[items[i].UID] = true
		if compiled, err := c.compile(&items[i]); err == nil {
			out = append(out, compiled)
		}
	}
	c.mu.Lock()
	for uid := range c.entries {
		if !seen[uid] {
			delete(c.entries, uid)
		}
	}
	c.mu.Unlock()
	return out
}
