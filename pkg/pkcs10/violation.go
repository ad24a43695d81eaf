package pkcs10

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxMessageBytes bounds the message of a list of violations: a request
// with a thousand bad SANs must not become a condition or Event a thousand
// times its size. It is the API server's limit on an Event note.
const MaxMessageBytes = 1024

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

// summaryBytes is the room Message keeps for the summary of the violations
// past the bound.
const summaryBytes = 256

// Message joins the messages of the violations with "; ", at most
// MaxMessageBytes of them: when the next would not fit, it and those after
// it are summed up as "and N more (Reason ×n, ...)". A single message
// longer than the bound is cut, on a rune boundary, with "…".
func (v Violations) Message() string {
	var b strings.Builder
	for i, x := range v {
		if i == 0 {
			b.WriteString(x.Message)
			continue
		}
		if b.Len()+len("; ")+len(x.Message) > MaxMessageBytes-summaryBytes && (i < len(v)-1 || b.Len()+len("; ")+len(x.Message) > MaxMessageBytes) {
			b.WriteString("; " + summary(v[i:]))
			break
		}
		b.WriteString("; " + x.Message)
	}
	return Truncate(b.String(), MaxMessageBytes)
}

// summary sums rest up by reason, in order of first appearance.
func summary(rest Violations) string {
	var reasons []string
	counts := map[string]int{}
	for _, x := range rest {
		if counts[x.Reason] == 0 {
			reasons = append(reasons, x.Reason)
		}
		counts[x.Reason]++
	}
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s ×%d", r, counts[r]))
	}
	return fmt.Sprintf("and %d more (%s)", len(rest), strings.Join(parts, ", "))
}

// Truncate returns s when it fits in limit bytes, else its longest prefix
// of whole runes that fits with "…" after it.
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + ellipsis
}
