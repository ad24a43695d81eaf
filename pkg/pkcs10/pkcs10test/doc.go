// Package pkcs10test holds what the tests of pkcs10 and of the packages that
// build on it share: test keys generated once per test binary, a minimal
// request with a given common name, and the check that keeps a catalogue of
// reason codes equal to the Reason* constants it catalogues. It is for tests
// only.
package pkcs10test
