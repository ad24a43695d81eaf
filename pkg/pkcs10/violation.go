package pkcs10

import "strings"

// Violation is one rule a request breaks: a CamelCase reason code that is
// stable for alerting and a human message that names the exact violation.
// Messages never carry internal error text. Parse reports violations, and
// the packages that decide on a request report their own rules' violations
// with this same type.
type Violation struct {
	Reason  string
	Message string
}

// Violations is an ordered list of rule violations.
type Violations []Violation

// Reason returns the reason of the first violation, or "" when there is none.
func (v Violations) Reason() string {
	if len(v) == 0 {
		return ""
	}
	return v[0].Reason
}

// Message joins the messages of all violations with "; ".
func (v Violations) Message() string {
	msgs := make([]string, 0, len(v))
	for _, x := range v {
		msgs = append(msgs, x.Message)
	}
	return strings.Join(msgs, "; ")
}
