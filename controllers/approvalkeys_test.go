package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/nodetrust/nodetrust/controllers"
	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

func keySecret(data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: signerNamespace, Name: controllers.DefaultApprovalKeySecret}, Data: data}
}

func TestLoadApprovalKeys(t *testing.T) {
	ours := bytes.Repeat([]byte{'o'}, attest.GeneratedSecretBytes)
	theirs := bytes.Repeat([]byte{'t'}, 48)
	previous := bytes.Repeat([]byte{'p'}, 32)
	key := func(secret []byte) attest.Key {
		k, err := attest.NewKey(secret)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// anotherReplica creates the Secret with its own key just before our
	// create, as a second replica starting at the same time would.
	anotherReplica := interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if err := c.Create(ctx, keySecret(map[string][]byte{wire.ApprovalKeySecretKey: theirs})); err != nil {
			return err
		}
		return c.Create(ctx, obj, opts...)
	}}
	readFails := interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, controllers.DefaultApprovalKeySecret, errors.New("no"))
	}}
	tests := map[string]struct {
		existing    *corev1.Secret
		funcs       interceptor.Funcs
		random      []byte
		want        attest.Keys
		wantCreated bool
		wantErr     string
	}{
		"a missing Secret is created with a random key": {
			random: ours, want: attest.Keys{Current: key(ours)}, wantCreated: true},
		"an existing Secret's current and previous keys are read, and nothing written": {
			existing: keySecret(map[string][]byte{wire.ApprovalKeySecretKey: theirs, wire.ApprovalPreviousKeySecretKey: previous}),
			want:     attest.Keys{Current: key(theirs), Previous: []attest.Key{key(previous)}}},
		"a Secret another replica created first is read, not overwritten": {
			funcs: anotherReplica, random: ours, want: attest.Keys{Current: key(theirs)}},
		"a Secret without a current key is an error, left alone": {
			existing: keySecret(map[string][]byte{wire.ApprovalPreviousKeySecretKey: previous}), wantErr: `no data key "key"`},
		"a current key shorter than 32 bytes is an error": {
			existing: keySecret(map[string][]byte{wire.ApprovalKeySecretKey: []byte("short")}), wantErr: "fewer than 32"},
		"a previous key shorter than 32 bytes is an error": {
			existing: keySecret(map[string][]byte{wire.ApprovalKeySecretKey: theirs, wire.ApprovalPreviousKeySecretKey: []byte("short")}),
			wantErr:  `data key "previous"`},
		"a random source that runs dry is an error": {random: []byte("too few"), wantErr: "generating an approval key"},
		"a read the API server refuses is an error": {funcs: readFails, wantErr: "forbidden"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithInterceptorFuncs(tc.funcs)
			if tc.existing != nil {
				b = b.WithObjects(tc.existing)
			}
			c := b.Build()
			got, err := controllers.LoadApprovalKeys(context.Background(), c, c, signerNamespace, controllers.DefaultApprovalKeySecret,
				bytes.NewReader(tc.random))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadApprovalKeys() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameKeys(got, tc.want) {
				t.Fatalf("keys = %s, want %s", keyIDs(got), keyIDs(tc.want))
			}
			stored := &corev1.Secret{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: signerNamespace, Name: controllers.DefaultApprovalKeySecret}, stored); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stored.Data[wire.ApprovalKeySecretKey], got.Current.Secret) {
				t.Fatal("the stored key is not the one loaded")
			}
			if created := stored.Labels[wire.LabelManagedBy] == wire.ManagedByValue; created != tc.wantCreated {
				t.Fatalf("Secret labels %v; want created by nodetrust: %v", stored.Labels, tc.wantCreated)
			}
		})
	}
}

func sameKeys(a, b attest.Keys) bool {
	if a.Current.ID != b.Current.ID || !bytes.Equal(a.Current.Secret, b.Current.Secret) || len(a.Previous) != len(b.Previous) {
		return false
	}
	for i := range a.Previous {
		if a.Previous[i].ID != b.Previous[i].ID || !bytes.Equal(a.Previous[i].Secret, b.Previous[i].Secret) {
			return false
		}
	}
	return true
}

func keyIDs(k attest.Keys) string {
	ids := []string{k.Current.ID}
	for _, p := range k.Previous {
		ids = append(ids, p.ID)
	}
	return strings.Join(ids, ",")
}
