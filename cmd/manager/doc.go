// Command manager is the nodetrust controller manager. It parses flags,
// chooses the signer backends the flags enable, and sets the control loops
// up with controllers.Setup (no init() registration); it
// serves /healthz and /readyz, serves metrics over HTTPS behind API-server
// authentication and authorization, and elects a leader through the Lease
// "nodetrust.io" when --leader-elect is set.
package main
