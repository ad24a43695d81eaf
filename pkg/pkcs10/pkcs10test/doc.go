// Package pkcs10test holds what the tests of pkcs10 and of the packages that
// build on it share: test keys, generated once per test binary. It is for
// tests only.
package pkcs10test
