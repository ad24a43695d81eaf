// Command manager is the nodetrust controller manager. It wires the
// controllers and the signer backends explicitly (no init() registration),
// serves /healthz and /readyz, serves metrics over HTTPS behind API-server
// authentication and authorization, and elects a leader through the Lease
// "nodetrust.io" when --leader-elect is set.
package main
