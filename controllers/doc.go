// Package controllers holds nodetrust's reconcilers. They are thin: fetch
// from the cache, return early when there is nothing to do, gather facts,
// call a pure decision in pkg/policy, make one write and emit an Event.
// Decision logic must not live here.
package controllers
