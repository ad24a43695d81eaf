package controllers_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/internal/testenv"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/audit"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// TestAnApproverCannotPassForNodetrust has a user who may only approve
// kubelet client CSRs approve two in nodetrust's words: the exact text
// nodetrust writes, and the whole message of an approval nodetrust wrote on
// another CSR, proof included. Both are recorded as external approvals and
// reported by the audit; the CSR nodetrust approved is recorded as
// nodetrust's, with its policy.
func TestAnApproverCannotPassForNodetrust(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	checkApprovalKeySecret(t)

	// Renewals asking for two years: the default policy denies them, this
	// one leaves them for a human, and review wins over denial.
	testenv.CreateAndWait(ctx, t, env.Client, cache, &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "attest-long-renewals"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:             v1alpha1.RequestSelector{NodeNamePattern: "attest-[0-9]+"},
			ClientRenewal:        &v1alpha1.ClientRenewalRules{Action: v1alpha1.ActionReview},
			MaxExpirationSeconds: ptr.To[int32](3 * 365 * 24 * 3600),
		},
	})
	createNode(t, "attest-1", nil)
	createNode(t, "attest-2", nil)

	approvedCSR := createCSR(t, clientCSR("attest-by-nodetrust", "system:node:attest-1"), "system:node:attest-1", csrstate.NodesGroup)
	nodetrusts := waitForCondition(t, approvedCSR.Name, certificatesv1.CertificateApproved)
	twoYears := ptr.To[int32](2 * 365 * 24 * 3600)
	copied := clientCSR("attest-copied-proof", "system:node:attest-1")
	copied.expiration = twoYears
	createCSR(t, copied, "system:node:attest-1", csrstate.NodesGroup)
	words := clientCSR("attest-nodetrusts-words", "system:node:attest-2")
	words.expiration = twoYears
	createCSR(t, words, "system:node:attest-2", csrstate.NodesGroup)

	approver := approverOnly(t)
	forgeApproval(t, approver, copied.name, nodetrusts.Message)
	forgeApproval(t, approver, words.name, wire.ApprovedMessage(string(v1alpha1.KindClientRenewal), "attest-2", "default"))

	realLeaf, copiedLeaf, wordsLeaf := signExternally(t, approvedCSR.Name), signExternally(t, copied.name), signExternally(t, words.name)
	byNodetrust := waitForRecord(t, v1alpha1.CertificateClient, realLeaf).Spec.Approval
	if byNodetrust.By != v1alpha1.ActorNodetrust || byNodetrust.Policy != "default" || byNodetrust.Message != nodetrusts.Message {
		t.Errorf("the approval nodetrust wrote is recorded as %+v, want nodetrust's default policy", byNodetrust)
	}
	for name, leaf := range map[string]*x509.Certificate{copied.name: copiedLeaf, words.name: wordsLeaf} {
		a := waitForRecord(t, v1alpha1.CertificateClient, leaf).Spec.Approval
		if a.By != v1alpha1.ActorExternal || a.Policy != "" || a.Reason != wire.ReasonAutoApproved {
			t.Errorf("the approval forged on %s is recorded as %+v, want external with the forged reason", name, a)
		}
	}
	checkAuditFlags(t, map[*x509.Certificate]bool{realLeaf: false, copiedLeaf: true, wordsLeaf: true})
}

// checkApprovalKeySecret checks that the manager, with its shipped RBAC,
// created the approval key Secret and proves with its key.
func checkApprovalKeySecret(t *testing.T) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: signerNamespace, Name: controllers.DefaultApprovalKeySecret}, secret); err != nil {
		t.Fatalf("the approval key Secret: %v", err)
	}
	key, err := attest.NewKey(secret.Data[wire.ApprovalKeySecretKey])
	if err != nil || key.ID != approvalKeys.Current.ID {
		t.Fatalf("the approval key Secret holds key %q (%v), the manager proves with %q", key.ID, err, approvalKeys.Current.ID)
	}
}

// approverOnly is a user who may read kubelet client CSRs and approve them,
// and nothing else: what `kubectl certificate approve` needs.
func approverOnly(t *testing.T) *testenv.User {
	t.Helper()
	ctx := context.Background()
	const name = "approver-only"
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}, Verbs: []string{"update"}},
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, Verbs: []string{"approve"},
				ResourceNames: []string{certificatesv1.KubeAPIServerClientKubeletSignerName}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	u, err := env.AddUser(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// forgeApproval waits until nodetrust has queued the CSR for review, then
// approves it as approver with reason AutoApproved and message.
func forgeApproval(t *testing.T, approver *testenv.User, name, message string) {
	t.Helper()
	csr := &certificatesv1.CertificateSigningRequest{}
	testenv.WaitFor(t, testenv.DefaultTimeout, "CSR "+name+" to be queued for review", func(ctx context.Context) (bool, error) {
		if err := approver.Client.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
			return false, err
		}
		if csrstate.Decided(csr) {
			t.Fatalf("CSR %s was decided: %+v", name, csr.Status.Conditions)
		}
		_, inReview := wire.ReviewOf(csr)
		return inReview, nil
	})
	now := metav1.Now()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: wire.ReasonAutoApproved,
		Message: message, LastUpdateTime: now, LastTransitionTime: now,
	})
	if err := approver.Client.SubResource("approval").Update(context.Background(), csr); err != nil {
		t.Fatalf("approving %s as a user who may approve: %v", name, err)
	}
}

// checkAuditFlags runs the audit over the records and checks, for each
// certificate, whether it is reported as not approved by nodetrust.
func checkAuditFlags(t *testing.T, flagged map[*x509.Certificate]bool) {
	t.Helper()
	ctx := context.Background()
	var records v1alpha1.NodeCertificateList
	var nodes corev1.NodeList
	if err := env.Client.List(ctx, &records); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	report := audit.Analyze(records.Items, nodes.Items, time.Now(), audit.Options{})
	for leaf, want := range flagged {
		record := wire.RecordName(v1alpha1.CertificateClient, leaf)
		got := false
		for _, a := range report.Anomalies {
			if a.Code == audit.CodeNotApprovedByNodetrust && a.Certificate != nil && a.Certificate.Record == record {
				got = true
			}
		}
		if got != want {
			t.Errorf("record %s reported %s: %v, want %v", record, audit.CodeNotApprovedByNodetrust, got, want)
		}
	}
}
