// Package policies is the control loop that reports whether each
// NodeCertificatePolicy compiles, in its Ready condition. It compiles
// through the same store the approval and signing loops decide with, so a
// policy is Ready exactly when they use it.
package policies
