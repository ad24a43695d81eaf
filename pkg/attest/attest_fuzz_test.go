package attest

import (
	"bytes"
	"testing"
)

// FuzzVerify checks that Verify never panics on any proof string, and that
// no string but the one proof of a claim verifies for it.
func FuzzVerify(f *testing.F) {
	k, err := NewKey(bytes.Repeat([]byte{5}, MinSecretBytes))
	if err != nil {
		f.Fatal(err)
	}
	p, err := NewProver(k)
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(Keys{Current: k})
	if err != nil {
		f.Fatal(err)
	}
	want := p.Prove(claim)
	for _, seed := range []string{want, "", ".", "..", "v1..", "v1." + k.ID + ".", want + "=", "v1.a.b.c", "v2" + want[2:]} {
		f.Add(seed, "csr-abc12")
	}
	f.Fuzz(func(t *testing.T, proof, name string) {
		c := claim
		c.Name = name
		if v.Verify(c, proof) != (proof == p.Prove(c)) {
			t.Fatalf("Verify(%q) for name %q disagrees with the one proof %q", proof, name, p.Prove(c))
		}
	})
}
