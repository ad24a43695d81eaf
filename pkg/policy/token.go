package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/pkcs10"
)

// BootstrapTokenSecretType is the type of bootstrap-token Secrets (k8s.io/cluster-bootstrap).
const BootstrapTokenSecretType corev1.SecretType = "bootstrap.kubernetes.io/token" //nolint:gosec // a Secret type, not a credential

// BootstrapTokenSecretPrefix prefixes the token ID in a bootstrap-token Secret's name.
const BootstrapTokenSecretPrefix = "bootstrap-token-"

// Keys of a bootstrap-token Secret's data.
const (
	bootstrapTokenIDKey         = "token-id"
	bootstrapTokenExpirationKey = "expiration"
	bootstrapTokenUsageAuthKey  = "usage-bootstrap-authentication"
	// bootstrapTokenExtraGroupsKey holds the token's extra groups, comma-separated.
	bootstrapTokenExtraGroupsKey = "auth-extra-groups" //nolint:gosec // a data key, not a credential
)

var bootstrapTokenIDPattern = regexp.MustCompile(`^[a-z0-9]{6}$`)

// ReasonBootstrapTokenInvalid is the violation of a bootstrap request whose
// token is no longer valid.
const ReasonBootstrapTokenInvalid = "BootstrapTokenInvalid"

// CheckBootstrapToken reports why the bootstrap token tokenID, whose Secret
// (in kube-system, named bootstrap-token-<id>) is secret or nil when absent,
// would not authenticate at now. It returns nil for a valid token.
func CheckBootstrapToken(tokenID string, secret *corev1.Secret, now time.Time) *Violation {
	invalid := func(format string, args ...any) *Violation {
		return &Violation{Reason: ReasonBootstrapTokenInvalid,
			Message: fmt.Sprintf("bootstrap token %q ", tokenID) + fmt.Sprintf(format, args...)}
	}
	switch {
	case !bootstrapTokenIDPattern.MatchString(tokenID):
		return invalid("is not a well-formed token ID")
	case secret == nil:
		return invalid("has no Secret: it was deleted or never existed")
	case secret.Type != BootstrapTokenSecretType:
		return invalid("Secret has type %q, not %q", secret.Type, BootstrapTokenSecretType)
	case secret.DeletionTimestamp != nil:
		return invalid("Secret is being deleted")
	case string(secret.Data[bootstrapTokenIDKey]) != tokenID:
		return invalid("Secret holds a different token-id")
	case string(secret.Data[bootstrapTokenUsageAuthKey]) != "true":
		return invalid("does not allow authentication (%s is not \"true\")", bootstrapTokenUsageAuthKey)
	}
	// As the authenticator reads it: an empty expiration never expires, an
	// unreadable one has expired.
	if exp := secret.Data[bootstrapTokenExpirationKey]; len(exp) > 0 {
		t, err := time.Parse(time.RFC3339, string(exp))
		if err != nil {
			return invalid("has an unreadable expiration %q", exp)
		}
		if !now.Before(t) {
			return invalid("expired at %s", t.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// bootstrapGroupPattern is what every extra group must match
// (k8s.io/cluster-bootstrap's BootstrapGroupPattern, anchored).
var bootstrapGroupPattern = regexp.MustCompile(`\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z`)

// CheckBootstrapGroups reports why the groups of a bootstrap request do not
// match its token Secret as the API server's bootstrap authenticator reads
// it now. The authenticator splits auth-extra-groups on commas, trims
// nothing, and refuses the whole token when an entry does not match
// system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]; nodetrust refuses it too.
// A system:bootstrappers:* group the request was made in but the token no
// longer grants means the token was re-scoped since: its old pool's
// policies must not apply, so that is refused as well. secret must be a
// token CheckBootstrapToken accepts; it returns nil when the groups match.
func CheckBootstrapGroups(tokenID string, secret *corev1.Secret, requestGroups []string) *Violation {
	invalid := func(format string, args ...any) *Violation {
		return &Violation{Reason: ReasonBootstrapTokenInvalid,
			Message: fmt.Sprintf("bootstrap token %q ", tokenID) + fmt.Sprintf(format, args...)}
	}
	granted := map[string]bool{}
	if extra := string(secret.Data[bootstrapTokenExtraGroupsKey]); extra != "" {
		for _, g := range strings.Split(extra, ",") {
			if !bootstrapGroupPattern.MatchString(g) {
				return invalid("has an auth-extra-groups entry %q the API server refuses", pkcs10.Truncate(g, 64))
			}
			granted[g] = true
		}
	}
	for _, g := range requestGroups {
		if strings.HasPrefix(g, csrstate.BootstrappersGroup+":") && !granted[g] {
			return invalid("no longer grants group %q, which the request was made in", g)
		}
	}
	return nil
}
