// Package softhsmtest sets up SoftHSM2 for tests that need a real PKCS#11
// token: a fresh token directory for the test process, tokens in it, and
// keys imported with softhsm2-util as an operator would. It needs no cgo;
// the tests that open the module do.
package softhsmtest
