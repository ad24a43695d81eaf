// Package controllers wires nodetrust's control loops into a manager. Each
// loop lives in a package of its own below this one (approval, signing,
// signers, records, recordgc, policies) and none imports another; what they
// share (the signer registry, the compiled-policy store, the facts
// gatherer, cache indexes, metrics and the write rule) is in
// controllers/internal. Setup is the one place the loops are put together:
// cmd/manager and every test suite call it.
//
// The loops are thin: fetch from the cache, return early when there is
// nothing to do, gather facts, call a pure decision (pkg/policy, or a pure
// function of the loop), make one write and emit an Event.
package controllers
