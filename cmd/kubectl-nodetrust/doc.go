// Command kubectl-nodetrust is a kubectl plugin for nodetrust: kubectl runs
// it as `kubectl nodetrust` when the binary is on PATH, and `go run
// ./cmd/kubectl-nodetrust` runs it directly.
//
// `kubectl nodetrust audit` reads every NodeCertificate record and every Node
// and reports, per node, the current kubelet client and serving certificates
// and their anomalies (see package pkg/audit); `--fail-on` turns chosen
// anomalies into exit code 3 for cron jobs and CI. `kubectl nodetrust review`
// lists the CSRs nodetrust left for a person to decide. docs/audit.md is the
// user guide.
//
// The cluster is found the way kubectl finds it: --kubeconfig, else
// KUBECONFIG, else ~/.kube/config, else the in-cluster service account;
// --context picks a context. Exit codes: 0 success, 1 an error talking to the
// cluster, 2 a usage error, 3 anomalies selected by --fail-on were found.
package main
