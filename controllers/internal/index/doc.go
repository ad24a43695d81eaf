// Package index owns the cache indexes nodetrust's control loops look CSRs
// up by, and the map helper that turns a lookup into reconcile requests.
package index
