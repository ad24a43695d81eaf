// Package files is the signer backend that reads the CA from a certificate
// file and a key file, the layout kube-controller-manager's
// --cluster-signing-cert-file and --cluster-signing-key-file use (the
// certificate file may hold the chain after the issuing CA). Both files are
// checked before every use and reloaded when either changes, including the
// atomic symlink swap of a mounted Secret or ConfigMap volume.
package files
