package policy

import "github.com/nodetrust/nodetrust/pkg/pkcs10"

// Violation is one rule a request breaks: a stable CamelCase reason code and
// a human message. It is pkcs10.Violation, the one violation type of
// nodetrust, so that what parsing finds and what the rules here find read
// the same and combine in one Violations list.
type Violation = pkcs10.Violation

// Violations is an ordered list of rule violations (pkcs10.Violations).
type Violations = pkcs10.Violations

// maxQuoted bounds a value a requester wrote (a name, a common name) quoted
// in a violation message: the longest DNS name.
const maxQuoted = 253
