package attest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func key(t testing.TB, fill byte) Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{fill}, MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func prover(t testing.TB, k Key) *Prover {
	t.Helper()
	p, err := NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func verifier(t testing.TB, keys Keys) *Verifier {
	t.Helper()
	v, err := NewVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var claim = Claim{UID: "4f1c2b9e-0000-4000-8000-000000000001", Name: "csr-abc12", SignerName: "kubernetes.io/kubelet-serving",
	Kind: "Serving", Node: "worker-1", Policy: "serving"}

func TestVerify(t *testing.T) {
	current, previous, other := key(t, 1), key(t, 2), key(t, 3)
	v := verifier(t, Keys{Current: current, Previous: []Key{previous}})
	proof := prover(t, current).Prove(claim)
	changed := func(f func(*Claim)) Claim { c := claim; f(&c); return c }
	_, tagPart, _ := strings.Cut(strings.TrimPrefix(proof, Version+"."), ".")
	tests := map[string]struct {
		claim   Claim
		proof   string
		wantErr bool
	}{
		"a proof made with the current key verifies":        {claim: claim, proof: proof},
		"a proof made with the previous key still verifies": {claim: claim, proof: prover(t, previous).Prove(claim)},
		"a proof made with a key the verifier lacks fails":  {claim: claim, proof: prover(t, other).Prove(claim), wantErr: true},
		"a proof for another UID fails":                     {claim: changed(func(c *Claim) { c.UID = "another-uid" }), proof: proof, wantErr: true},
		"a proof for another CSR name fails":                {claim: changed(func(c *Claim) { c.Name = "csr-other" }), proof: proof, wantErr: true},
		"a proof for another signer fails":                  {claim: changed(func(c *Claim) { c.SignerName = "kubernetes.io/kube-apiserver-client-kubelet" }), proof: proof, wantErr: true},
		"a proof for another kind fails":                    {claim: changed(func(c *Claim) { c.Kind = "ClientRenewal" }), proof: proof, wantErr: true},
		"a proof for another node fails":                    {claim: changed(func(c *Claim) { c.Node = "worker-2" }), proof: proof, wantErr: true},
		"a proof for another policy fails":                  {claim: changed(func(c *Claim) { c.Policy = "pool-a" }), proof: proof, wantErr: true},
		"a proof copied from another CSR fails":             {claim: claim, proof: prover(t, current).Prove(changed(func(c *Claim) { c.UID, c.Name = "u2", "csr-2" })), wantErr: true},
		"moving a byte from one field to the next fails":    {claim: changed(func(c *Claim) { c.Kind, c.Node = "Servingw", "orker-1" }), proof: proof, wantErr: true},
		"an unknown key ID fails":                           {claim: claim, proof: Version + ".nokey." + tagPart, wantErr: true},
		"the current tag under the previous key's ID fails": {claim: claim, proof: Version + "." + previous.ID + "." + tagPart, wantErr: true},
		"another version fails":                             {claim: claim, proof: "v2" + strings.TrimPrefix(proof, Version), wantErr: true},
		"an empty proof fails":                              {claim: claim, proof: "", wantErr: true},
		"a proof without a tag fails":                       {claim: claim, proof: Version + "." + current.ID, wantErr: true},
		"a padded tag fails":                                {claim: claim, proof: proof + "=", wantErr: true},
		"a tag in standard base64 fails":                    {claim: claim, proof: Version + "." + current.ID + "." + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)), wantErr: true},
		"a truncated tag fails":                             {claim: claim, proof: proof[:len(proof)-2], wantErr: true},
		"a tag with a trailing character fails":             {claim: claim, proof: proof + "A", wantErr: true},
		"a proof with an extra field fails":                 {claim: claim, proof: proof + ".x", wantErr: true},
		"a very long proof fails":                           {claim: claim, proof: proof + strings.Repeat("A", 1<<16), wantErr: true},
		"a proof with the tag of another claim fails":       {claim: claim, proof: prover(t, current).Prove(Claim{}), wantErr: true},
		"the empty claim is a claim like any other":         {claim: Claim{}, proof: prover(t, current).Prove(Claim{})},
		"a proof with a flipped tag bit fails":              {claim: claim, proof: flipLastTagBit(t, proof), wantErr: true},
		"a version in upper case fails":                     {claim: claim, proof: "V1" + strings.TrimPrefix(proof, Version), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := v.check(tc.claim, tc.proof)
			if (err != nil) != tc.wantErr {
				t.Fatalf("check(%q) = %v, want error %v", tc.proof, err, tc.wantErr)
			}
			if got := v.Verify(tc.claim, tc.proof); got != !tc.wantErr {
				t.Fatalf("Verify(%q) = %v, want %v", tc.proof, got, !tc.wantErr)
			}
		})
	}
}

func flipLastTagBit(t *testing.T, proof string) string {
	t.Helper()
	i := strings.LastIndex(proof, ".")
	raw, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	return proof[:i+1] + base64.RawURLEncoding.EncodeToString(raw)
}

func TestProofForm(t *testing.T) {
	k := key(t, 7)
	proof := prover(t, k).Prove(Claim{UID: strings.Repeat("u", 64), Name: strings.Repeat("n", 253), Policy: strings.Repeat("p", 253)})
	parts := strings.Split(proof, ".")
	switch {
	case len(parts) != 3 || parts[0] != Version || parts[1] != k.ID:
		t.Fatalf("proof %q is not %s.<key ID>.<tag>", proof, Version)
	case len(proof) > maxProofLength || strings.ContainsAny(proof, " ;=+/"):
		t.Fatalf("proof %q is longer than %d or has characters outside base64url", proof, maxProofLength)
	case proof != prover(t, k).Prove(Claim{UID: strings.Repeat("u", 64), Name: strings.Repeat("n", 253), Policy: strings.Repeat("p", 253)}):
		t.Fatal("the same claim and key gave two proofs")
	}
}

func TestKeys(t *testing.T) {
	a := key(t, 1)
	tests := map[string]struct {
		keys    Keys
		wantErr string
	}{
		"a current key alone is enough":                         {keys: Keys{Current: a}},
		"a current and a previous key are accepted":             {keys: Keys{Current: a, Previous: []Key{key(t, 2)}}},
		"the same key as current and previous is accepted":      {keys: Keys{Current: a, Previous: []Key{a}}},
		"no current key is an error":                            {keys: Keys{}, wantErr: "current key"},
		"a short previous key is an error":                      {keys: Keys{Current: a, Previous: []Key{{ID: "old", Secret: []byte("short")}}}, wantErr: "previous key"},
		"two different keys with one ID are an error":           {keys: Keys{Current: a, Previous: []Key{{ID: a.ID, Secret: key(t, 2).Secret}}}, wantErr: "two different approval keys"},
		"a key ID with a dot is an error":                       {keys: Keys{Current: Key{ID: "a.b", Secret: a.Secret}}, wantErr: "not 1 to"},
		"a key ID longer than the limit is an error":            {keys: Keys{Current: Key{ID: strings.Repeat("a", MaxKeyIDLength+1), Secret: a.Secret}}, wantErr: "not 1 to"},
		"an explicit key ID of the base64url alphabet is valid": {keys: Keys{Current: Key{ID: "2026-01_a", Secret: a.Secret}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewVerifier(tc.keys)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("NewVerifier() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("a prover refuses a short secret", func(t *testing.T) {
		if _, err := NewProver(Key{ID: "k", Secret: make([]byte, MinSecretBytes-1)}); err == nil {
			t.Fatal("NewProver accepted a 31-byte secret")
		}
	})
	t.Run("NewKey refuses a short secret and derives a stable ID otherwise", func(t *testing.T) {
		if _, err := NewKey(make([]byte, MinSecretBytes-1)); err == nil {
			t.Fatal("NewKey accepted a 31-byte secret")
		}
		if a.ID != key(t, 1).ID || a.ID == key(t, 2).ID || a.Validate() != nil {
			t.Fatalf("key IDs %q, %q, %q: want stable, distinct and valid", a.ID, key(t, 1).ID, key(t, 2).ID)
		}
	})
	t.Run("GenerateKey makes distinct valid keys and reports a failing source", func(t *testing.T) {
		k1, err1 := GenerateKey(rand.Reader)
		k2, err2 := GenerateKey(rand.Reader)
		if err1 != nil || err2 != nil || k1.Validate() != nil || bytes.Equal(k1.Secret, k2.Secret) {
			t.Fatalf("GenerateKey() = %v, %v / %v, %v", k1.ID, err1, k2.ID, err2)
		}
		if _, err := GenerateKey(bytes.NewReader(make([]byte, 8))); err == nil {
			t.Fatal("GenerateKey succeeded with 8 random bytes")
		}
	})
	t.Run("a verifier does not share the caller's secret", func(t *testing.T) {
		secret := bytes.Repeat([]byte{9}, MinSecretBytes)
		k, _ := NewKey(append([]byte(nil), secret...))
		v := verifier(t, Keys{Current: k})
		p := prover(t, k)
		proof := p.Prove(claim)
		for i := range k.Secret {
			k.Secret[i] = 0
		}
		if !v.Verify(claim, proof) || p.Prove(claim) != proof {
			t.Fatal("changing the caller's secret changed the verifier or prover")
		}
	})
	t.Run("a nil verifier verifies nothing", func(t *testing.T) {
		var v *Verifier
		if v.Verify(claim, prover(t, a).Prove(claim)) {
			t.Fatal("a nil verifier verified a proof")
		}
	})
	t.Run("a mismatch is reported as such", func(t *testing.T) {
		v := verifier(t, Keys{Current: a})
		if err := v.check(Claim{}, prover(t, a).Prove(claim)); !errors.Is(err, errMismatch) {
			t.Fatalf("check() = %v, want errMismatch", err)
		}
	})
}
