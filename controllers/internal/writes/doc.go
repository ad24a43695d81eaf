// Package writes owns how nodetrust's control loops turn the outcome of
// their one write into a reconcile result: a conflict means the cache was
// stale, so the object is looked at again shortly; any other error is
// retried with backoff.
package writes
