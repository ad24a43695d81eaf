package policystore

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

func testPolicy(name string, generation int64, valid bool) v1alpha1.NodeCertificatePolicy {
	p := v1alpha1.NodeCertificatePolicy{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: generation}}
	if valid {
		p.Spec.ClientRenewal = &v1alpha1.ClientRenewalRules{}
	}
	return p
}

func TestStore(t *testing.T) {
	t.Run("a generation is compiled once", func(t *testing.T) {
		s := &Store{}
		p := testPolicy("a", 1, true)
		first, err := s.Compile(&p)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := s.Compile(&p); again != first {
			t.Fatal("the same generation was compiled again")
		}
		p.Generation = 2
		if next, _ := s.Compile(&p); next == first {
			t.Fatal("a new generation was not compiled")
		}
	})
	t.Run("valid policies are kept and invalid ones dropped", func(t *testing.T) {
		s := &Store{}
		got := s.Valid([]v1alpha1.NodeCertificatePolicy{testPolicy("a", 1, true), testPolicy("b", 1, false)})
		if len(got) != 1 || got[0].Name != "a" {
			t.Fatalf("Valid() = %v, want only a", got)
		}
	})
	t.Run("deleted policies are forgotten", func(t *testing.T) {
		s := &Store{}
		s.Valid([]v1alpha1.NodeCertificatePolicy{testPolicy("a", 1, true), testPolicy("b", 1, true)})
		s.Valid([]v1alpha1.NodeCertificatePolicy{testPolicy("a", 1, true)})
		if len(s.entries) != 1 {
			t.Fatalf("the store holds %d entries after b was deleted, want 1", len(s.entries))
		}
	})
}
