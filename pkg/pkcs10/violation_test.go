package pkcs10

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestViolationsMessage(t *testing.T) {
	many := func(n int, reason string) Violations {
		v := make(Violations, 0, n)
		for i := range n {
			v = append(v, Violation{Reason: reason, Message: fmt.Sprintf("DNS SAN %q is not an address of the Node", fmt.Sprintf("name-%04d.example.com", i))})
		}
		return v
	}
	tests := map[string]struct {
		v        Violations
		want     string // exact, when set
		contains []string
	}{
		"no violations give no message": {v: nil, want: ""},
		"a short list is joined whole":  {v: Violations{{"A", "first"}, {"B", "second"}}, want: "first; second"},
		"a thousand violations are summed up past the bound": {
			v:        append(many(999, "SANNotOwnedByNode"), Violation{"TooManyDNSNames", "1000 DNS SANs exceed the policy's maximum of 20"}),
			contains: []string{`"name-0000.example.com"`, "more (SANNotOwnedByNode ×", ", TooManyDNSNames ×1)"}},
		"one huge message is cut with an ellipsis": {
			v: Violations{{"InvalidDNSName", strings.Repeat("é", 2000)}}, contains: []string{"é…"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.v.Message()
			if tc.want != "" || len(tc.contains) == 0 {
				if got != tc.want {
					t.Fatalf("Message() = %q, want %q", got, tc.want)
				}
			}
			for _, c := range tc.contains {
				if !strings.Contains(got, c) {
					t.Errorf("Message() = %q, want it to contain %q", got, c)
				}
			}
			if len(got) > MaxMessageBytes || !utf8.ValidString(got) {
				t.Fatalf("Message() is %d bytes (valid UTF-8: %v), want at most %d", len(got), utf8.ValidString(got), MaxMessageBytes)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := map[string]struct {
		s     string
		limit int
		want  string
	}{
		"a string that fits is unchanged":            {"abc", 3, "abc"},
		"a long string is cut with an ellipsis":      {"abcdef", 5, "ab…"},
		"a cut never splits a rune":                  {"aéé", 4, "a…"},
		"a limit smaller than the ellipsis cuts all": {"abcdef", 2, "…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Truncate(tc.s, tc.limit); got != tc.want {
				t.Fatalf("Truncate(%q, %d) = %q, want %q", tc.s, tc.limit, got, tc.want)
			}
		})
	}
}
