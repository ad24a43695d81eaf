package policy

import (
	"slices"

	"github.com/nodetrust/nodetrust/pkg/pkcs10"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// ReasonCodes returns every reason code a Decision can carry, each once, in
// the groups docs/policy.md lists them in: the decisions that are not rule
// violations, flood protection, malformed requests (pkcs10.ReasonCodes),
// the checks that hold whatever a policy says, and the policies' rules.
// Codes are stable: alerts and dashboards select on them.
func ReasonCodes() []string {
	return slices.Concat(
		[]string{
			wire.ReasonAutoApproved, ReasonPolicyRequiresReview, ReasonNoMatchingPolicy,
			ReasonAwaitingNode, ReasonAwaitingSigner,
		},
		[]string{ReasonSuperseded, ReasonTooManyPendingRequests},
		pkcs10.ReasonCodes(),
		[]string{
			ReasonInvalidOrganization, ReasonInvalidCommonName, ReasonEmptyNodeName, ReasonInvalidNodeName,
			ReasonCommonNameMismatch, ReasonInvalidUsages, ReasonSANsNotAllowed, ReasonMissingSANs,
			ReasonWildcardSAN, ReasonInvalidDNSName, ReasonClusterIdentitySAN, ReasonForbiddenIPSAN,
			ReasonLoopbackIPSAN, ReasonInClusterSAN, ReasonSANOfAnotherNode, ReasonSANTiedToAnotherNode,
		},
		[]string{
			ReasonKeyNotAllowed, ReasonExpirationTooLong, ReasonBootstrapTokenInvalid,
			ReasonNodeNameNotAllowed, ReasonNodeAlreadyExists, ReasonNodeNameReserved, ReasonRequestTooOld, ReasonNodeNotFound,
			ReasonTooManyDNSNames, ReasonTooManyIPAddresses, ReasonSANNotOwnedByNode,
			ReasonDNSNameDoesNotResolve, ReasonDNSNameResolvesElsewhere, ReasonAddressChanged,
		},
	)
}
