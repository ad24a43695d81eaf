// Package e2e is nodetrust's end-to-end test: a real kubelet joins a real
// control plane with a bootstrap token, and kube-apiserver reaches it over
// TLS verified against nodetrust's kubelet-serving CA and nothing else.
//
// What runs, all from the control-plane cache (hack/control-plane-binaries.sh):
//
//   - etcd and kube-apiserver (through internal/testenv), with bootstrap-token
//     authentication, the Node authorizer and RBAC, NodeRestriction, a client
//     certificate for talking to kubelets, and
//     --kubelet-certificate-authority set to nodetrust's serving CA
//     certificate only. Its client CA is a CA the test holds (not envtest's),
//     so that kube-controller-manager can sign kubelet client certificates
//     kube-apiserver accepts;
//   - kube-controller-manager with the CSR signing controller only, and a CA
//     for the kubelet-client signer only: it signs kubelet client
//     certificates, signs no serving certificate and approves nothing;
//   - the nodetrust manager, built from cmd/manager and run as a user with
//     the shipped RBAC only;
//   - fakecri (a fake CRI runtime) and the kubelet.
//
// What the test checks, in order: nodetrust's NodeCertificateSigner is Ready
// and publishes a CA bundle holding the CA kube-apiserver trusts; the
// kubelet's bootstrap CSR is approved by nodetrust (AutoApproved) and issued
// by kube-controller-manager with the cluster CA; the Node registers; while
// the kubelet serves a certificate from a CA kube-apiserver does not trust,
// GET /api/v1/nodes/<node>/proxy/healthz fails with an x509 error; once a
// serving policy exists, nodetrust approves and signs the kubelet's serving
// CSR, for the node's name and address; the kubelet stores it as
// kubelet-server-current.pem and serves it (and refuses anonymous callers);
// and the same proxy request then answers 200 "ok", as does /configz.
//
// The untrusted certificate is seeded into the kubelet's --cert-dir before
// it starts. Its subject is not system:node:<name>, so the kubelet asks for
// a new one at once, but it keeps serving the seeded one until nodetrust
// signs, which cannot happen before the test creates the serving policy:
// the refusal is deterministic.
//
// Limits of this environment, and how the test works around them:
//
//   - The kubelet refuses a loopback --node-ip (validateNodeIP), and a Node
//     without an IP address gets no serving certificate. The test uses the
//     first non-loopback IPv4 address of the machine as the node's address
//     and skips when there is none; the kubelet listens on that address
//     only. The serving policy therefore needs no allowLoopback.
//   - The kubelet must run as root (the test skips otherwise), and on its
//     own would rewrite host sysctls (kernel.panic, kernel.panic_on_oops,
//     vm.overcommit_memory, ...) and create /var/lib/kubelet/device-plugins
//     whatever --root-dir says. The test binary re-executes itself as a
//     launcher that enters a private mount namespace, bind-mounts stand-in
//     files over those /proc/sys entries and a scratch directory over
//     /var/lib, then execs the kubelet with protectKernelDefaults on: the
//     host is left unchanged. The package is Linux-only.
//   - No container runtime: fakecri answers the CRI, so no pod runs, and the
//     kubelet logs that the eviction manager finds no image filesystem.
//     QoS cgroups, allocatable enforcement and local storage isolation are
//     off; cgroup v1 is allowed (failCgroupV1: false) and swap tolerated.
//   - Client certificate renewal (ClientRenewal) is allowed by the policy but
//     not exercised: the kubelet's client certificate lasts a year.
//
// Every component runs as a child process whose output goes to a file; a
// failed test prints the end of each file. Processes are stopped when the
// test ends, and killed if the test binary dies first. Under -short the
// suite is skipped, like the other integration suites. The whole package
// takes about 15 seconds on two cores.
package e2e
