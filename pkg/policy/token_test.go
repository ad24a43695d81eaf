package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/pkg/csrstate"
)

func TestCheckBootstrapToken(t *testing.T) {
	expiring := func(at time.Time) *corev1.Secret {
		return buildTokenSecret(bTokenID, withTokenData(bootstrapTokenExpirationKey, at.Format(time.RFC3339)))
	}
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	tests := map[string]struct {
		tokenID string
		secret  *corev1.Secret
		// wantMessage is "" for a valid token, else a substring of the violation's message.
		wantMessage string
	}{
		"a valid token": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID),
		},
		"a valid token without an expiration": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withoutTokenData(bootstrapTokenExpirationKey)),
		},
		"a token expiring one second after now": {
			tokenID: bTokenID, secret: expiring(bNow.Add(time.Second)),
		},
		"a token expiring in the future, written with a time zone offset": {
			tokenID: bTokenID, secret: expiring(bNow.Add(time.Minute).In(plus2)),
		},
		"a missing Secret": {
			tokenID: bTokenID, secret: nil, wantMessage: "has no Secret",
		},
		"a Secret of the wrong type": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withSecretType(corev1.SecretTypeOpaque)), wantMessage: `type "Opaque"`,
		},
		"a Secret being deleted": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withDeletionTimestamp()), wantMessage: "being deleted",
		},
		"a Secret holding another token-id": {
			tokenID: bTokenID, secret: buildTokenSecret("zyxwvu"), wantMessage: "different token-id",
		},
		"a Secret without token-id": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withoutTokenData(bootstrapTokenIDKey)), wantMessage: "different token-id",
		},
		"a token without the authentication usage flag": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withoutTokenData(bootstrapTokenUsageAuthKey)),
			wantMessage: "does not allow authentication",
		},
		`a token whose authentication usage is "false"`: {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenUsageAuthKey, "false")),
			wantMessage: "does not allow authentication",
		},
		`a token whose authentication usage is "TRUE"`: {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenUsageAuthKey, "TRUE")),
			wantMessage: "does not allow authentication",
		},
		`a token whose authentication usage is "true\n"`: {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenUsageAuthKey, "true\n")),
			wantMessage: "does not allow authentication",
		},
		"a token that expired a second ago": {
			tokenID: bTokenID, secret: expiring(bNow.Add(-time.Second)), wantMessage: "expired at 2026-03-01T11:59:59Z",
		},
		"a token whose expiration is exactly now": {
			tokenID: bTokenID, secret: expiring(bNow), wantMessage: "expired at 2026-03-01T12:00:00Z",
		},
		"a token that expired, written with a time zone offset, is reported in UTC": {
			tokenID: bTokenID, secret: expiring(bNow.Add(-time.Hour).In(plus2)), wantMessage: "expired at 2026-03-01T11:00:00Z",
		},
		"a token with an unreadable expiration": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenExpirationKey, "tomorrow")),
			wantMessage: "unreadable expiration",
		},
		"a token with an empty expiration never expires, as the authenticator reads it": {
			tokenID: bTokenID, secret: buildTokenSecret(bTokenID, withTokenData(bootstrapTokenExpirationKey, "")),
		},
		"a token ID in capitals is malformed": {
			tokenID: "ABCDEF", secret: buildTokenSecret("ABCDEF"), wantMessage: "not a well-formed token ID",
		},
		"a token ID of five characters is malformed": {
			tokenID: "abcde", secret: buildTokenSecret("abcde"), wantMessage: "not a well-formed token ID",
		},
		"a token ID of seven characters is malformed": {
			tokenID: "abcdefg", secret: buildTokenSecret("abcdefg"), wantMessage: "not a well-formed token ID",
		},
		"an empty token ID is malformed": {
			tokenID: "", secret: nil, wantMessage: "not a well-formed token ID",
		},
		"a whole token (id.secret) is not a token ID": {
			tokenID: "abcdef.0123456789abcdef", secret: nil, wantMessage: "not a well-formed token ID",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := CheckBootstrapToken(tc.tokenID, tc.secret, bNow)
			if tc.wantMessage == "" {
				if got != nil {
					t.Fatalf("CheckBootstrapToken() = %+v, want nil", *got)
				}
				return
			}
			if got == nil {
				t.Fatalf("CheckBootstrapToken() = nil, want a violation containing %q", tc.wantMessage)
			}
			if got.Reason != ReasonBootstrapTokenInvalid {
				t.Errorf("Reason = %q, want %q", got.Reason, ReasonBootstrapTokenInvalid)
			}
			if !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("Message = %q, want it to contain %q", got.Message, tc.wantMessage)
			}
			if !strings.HasPrefix(got.Message, `bootstrap token "`+tc.tokenID+`" `) {
				t.Errorf("Message = %q, want it to name the token %q", got.Message, tc.tokenID)
			}
		})
	}
}

func TestCheckBootstrapGroups(t *testing.T) {
	withGroups := func(groups string) *corev1.Secret {
		return buildTokenSecret(bTokenID, withTokenData(bootstrapTokenExtraGroupsKey, groups))
	}
	tests := map[string]struct {
		secret      *corev1.Secret
		groups      []string
		wantMessage string // "" for groups that match
	}{
		"a token without extra groups and a request in none": {
			secret: buildTokenSecret(bTokenID, withoutTokenData(bootstrapTokenExtraGroupsKey)), groups: []string{csrstate.BootstrappersGroup}},
		"a request in the groups its token grants": {
			secret: withGroups(bPoolA + "," + bPoolB), groups: []string{csrstate.BootstrappersGroup, bPoolA, bPoolB}},
		"an extra group with an upper-case letter is refused, as the API server refuses the token": {
			secret: withGroups("system:bootstrappers:Pool-a"), wantMessage: `auth-extra-groups entry "system:bootstrappers:Pool-a"`},
		"an extra group outside system:bootstrappers is refused": {
			secret: withGroups("system:masters"), wantMessage: `"system:masters"`},
		"an extra group with a space after the comma is refused: nothing is trimmed": {
			secret: withGroups(bPoolA + ", " + bPoolB), wantMessage: `" system:bootstrappers:pool-b"`},
		"an extra group ending in a dash is refused": {
			secret: withGroups("system:bootstrappers:pool-"), wantMessage: "refuses"},
		"an empty entry between commas is refused": {
			secret: withGroups(bPoolA + ",," + bPoolB), wantMessage: `entry ""`},
		"a request in a pool the token no longer grants is refused": {
			secret: withGroups(bPoolB), groups: []string{csrstate.BootstrappersGroup, bPoolA}, wantMessage: `no longer grants group "system:bootstrappers:pool-a"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := CheckBootstrapGroups(bTokenID, tc.secret, tc.groups)
			switch {
			case tc.wantMessage == "" && got != nil:
				t.Fatalf("CheckBootstrapGroups() = %+v, want nil", *got)
			case tc.wantMessage != "" && (got == nil || got.Reason != ReasonBootstrapTokenInvalid || !strings.Contains(got.Message, tc.wantMessage)):
				t.Fatalf("CheckBootstrapGroups() = %+v, want BootstrapTokenInvalid containing %q", got, tc.wantMessage)
			}
		})
	}
}
