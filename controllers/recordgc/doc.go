// Package recordgc is the control loop that deletes NodeCertificate records
// a retention period after their certificate expired.
package recordgc
