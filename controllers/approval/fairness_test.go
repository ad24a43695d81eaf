package approval

import (
	"context"
	"fmt"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/nodetrust/nodetrust/controllers/internal/index"
	"github.com/nodetrust/nodetrust/pkg/csrstate"
)

// TestFloodDoesNotStarveOthers enqueues a flood from one bootstrap token,
// named so that it sorts first, then one request from a node, and checks
// that the node's request is worked first.
func TestFloodDoesNotStarveOthers(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	newCSR := func(name, user string, groups ...string) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName, Username: user, Groups: groups,
			},
		}
	}
	for i := range 50 {
		objs = append(objs, newCSR(fmt.Sprintf("a-flood-%02d", i), "system:bootstrap:abcdef", csrstate.BootstrappersGroup))
	}
	legit := newCSR("z-legit", "system:node:worker-1", csrstate.NodesGroup)
	objs = append(objs, legit)
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&certificatesv1.CertificateSigningRequest{}, index.Requester, index.RequesterOf).Build()

	q := priorityqueue.New[reconcile.Request]("fairness-test")
	defer q.ShutDown()
	h := fairCSRHandler{reader: reader}
	for _, o := range objs {
		h.Create(context.Background(), event.CreateEvent{Object: o}, q)
	}
	first, _ := q.Get()
	if first.Name != legit.Name {
		t.Fatalf("first item = %s, want %s ahead of the flood", first.Name, legit.Name)
	}
	second, _ := q.Get()
	if second.Name != "a-flood-00" {
		t.Errorf("second item = %s, want the flood in arrival order", second.Name)
	}
}
