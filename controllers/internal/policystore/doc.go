// Package policystore holds the compiled form of every
// NodeCertificatePolicy, so that the control loops that need policies
// compile each generation of each policy once.
package policystore
