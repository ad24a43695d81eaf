package approval

import (
	"context"
	"slices"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/controllers/internal/fixtures"
)

// TestWatchesRequeueThePendingCSRsConcerned checks the map functions that
// turn a change of a Node, a bootstrap-token Secret or a policy into the
// pending CSRs whose decision it may change.
func TestWatchesRequeueThePendingCSRsConcerned(t *testing.T) {
	token := fixtures.BootstrapToken("abcdef", fixtures.Now.Add(time.Hour))
	objects := []client.Object{
		fixtures.CSR(t, "renewal"),
		fixtures.CSR(t, "bootstrap", fixtures.AsBootstrap("abcdef")),
		fixtures.CSR(t, "other-token", fixtures.AsBootstrap("zzzzzz"), fixtures.WithCommonName("system:node:worker-2")),
		fixtures.CSR(t, "other-node", fixtures.WithRequester("system:node:worker-2", "system:nodes"), fixtures.WithCommonName("system:node:worker-2")),
		fixtures.CSR(t, "decided", fixtures.WithCondition(certificatesv1.CertificateApproved, "KubectlApprove", "by hand")),
		fixtures.CSR(t, "foreign", fixtures.WithSigner("example.com/signer")),
	}
	r, _ := newReconciler(t, fixtures.NewClient(&fixtures.Writes{}, objects...), nil)
	ctx := context.Background()
	notAToken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "abcdef"}}

	tests := map[string]struct {
		got  []reconcile.Request
		want []string
	}{
		"a Node requeues the pending CSRs for it, renewals and bootstraps alike": {
			got: r.csrsForNode(ctx, fixtures.Node(fixtures.NodeName)), want: []string{"bootstrap", "renewal"}},
		"a bootstrap-token Secret requeues the pending CSRs of its token": {
			got: r.csrsForToken(ctx, token), want: []string{"bootstrap"}},
		"a Secret not named as a bootstrap token requeues nothing": {
			got: r.csrsForToken(ctx, notAToken)},
		"a policy requeues every pending kubelet CSR": {
			got: r.allPendingCSRs(ctx, nil), want: []string{"bootstrap", "other-node", "other-token", "renewal"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := fixtures.Names(tc.got); !slices.Equal(got, tc.want) {
				t.Errorf("requeued %q, want %q", got, tc.want)
			}
		})
	}
	if !isBootstrapTokenSecret(token) || isBootstrapTokenSecret(notAToken) {
		t.Error("isBootstrapTokenSecret does not tell bootstrap-token Secrets from others")
	}
}
