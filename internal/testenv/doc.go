// Package testenv runs the real etcd and kube-apiserver that nodetrust's
// integration tests use, installs the CRDs from config/crd, and hands out
// admin, RBAC-limited and impersonating clients plus wait helpers that keep
// tests from flaking on cache lag.
//
// Binaries come from KUBEBUILDER_ASSETS when set, else from the cache that
// hack/control-plane-binaries.sh fills. The package is for tests only.
package testenv
