// Package records is the control loop that writes a NodeCertificate record
// for every kubelet certificate that appears in a CSR's status, whoever
// approved and signed it, and emits an Event on the Node. Records are named
// and built by pkg/wire; this loop decides only when to write them and
// whether nodetrust signed the certificate.
package records
