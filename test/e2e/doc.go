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
//   - fakecri (a fake CRI runtime) and the kubelet, the kubelet in a network
//     namespace of its own.
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
//     without an IP address gets no serving certificate; but the test sends
//     traffic only to loopback and to addresses inside network namespaces it
//     creates, never to the machine's own addresses. So it creates a network
//     namespace for the kubelet (ip netns add nodetrust-e2e-<pid>) joined to
//     the host by a veth pair (nte2e-h<pid> outside, nte2e-n<pid> inside) on
//     a /30 in 10.213.0.0/16 that overlaps no route of the machine. The
//     namespace's end is the node's address (--node-ip, where the kubelet
//     listens and kube-apiserver dials it); the namespace has its own
//     loopback up and no default route. The serving policy therefore needs
//     no allowLoopback. The launcher (below) is started through
//     nsenter --net, which enters that namespace only: ip netns exec would
//     remount /sys and hide the cgroup mounts the kubelet needs.
//   - kube-apiserver, kube-controller-manager, the manager and the test's
//     own clients stay on 127.0.0.1. The kubelet reaches kube-apiserver at
//     the host's end of the veth pair, where the test relays TCP to
//     kube-apiserver on 127.0.0.1; TLS is end to end, and kube-apiserver's
//     serving certificate also names that address (testenv's ServingIPs).
//   - The namespace and the veth pair are deleted by name when the suite
//     ends or is interrupted (SIGINT, SIGTERM). A test binary killed
//     otherwise (SIGKILL, a -timeout panic) cannot clean up: the next run
//     deletes the namespaces of test binaries no longer running. The suite
//     needs ip (iproute2) and nsenter (util-linux), and skips without them.
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
