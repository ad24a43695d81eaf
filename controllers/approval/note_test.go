package approval

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nodetrust/nodetrust/pkg/policy"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func TestEventNote(t *testing.T) {
	tests := map[string]struct {
		d    policy.Decision
		want string // exact, when set
	}{
		"a short decision reads whole": {
			d: policy.Decision{Reason: "Denied", Message: "no", Policy: "p"}, want: "Denied: no (policy p)"},
		"a decision without a policy has no suffix": {d: policy.Decision{Reason: "NoMatchingPolicy", Message: "none"}, want: "NoMatchingPolicy: none"},
		"a huge message is cut to the API server's limit, keeping the policy": {
			d: policy.Decision{Reason: "SANNotOwnedByNode", Message: strings.Repeat("ü", 5000), Policy: "pool-a"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := eventNote(tc.d)
			if tc.want != "" && got != tc.want {
				t.Fatalf("eventNote() = %q, want %q", got, tc.want)
			}
			if len(got) > wire.MaxEventNoteBytes || !utf8.ValidString(got) {
				t.Fatalf("eventNote() is %d bytes, valid UTF-8 %v; want at most %d", len(got), utf8.ValidString(got), wire.MaxEventNoteBytes)
			}
			if tc.d.Policy != "" && !strings.HasSuffix(got, "(policy "+tc.d.Policy+")") {
				t.Fatalf("eventNote() = %q lost the policy", got)
			}
		})
	}
}
