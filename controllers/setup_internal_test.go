package controllers

import (
	"bytes"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/attest"
)

func TestApprovalAttestation(t *testing.T) {
	key, err := attest.NewKey(bytes.Repeat([]byte{1}, attest.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		keys    attest.Keys
		loops   []Loop
		wantErr bool
	}{
		"the approval loop without keys is an error":    {loops: []Loop{LoopApproval}, wantErr: true},
		"the records loop without keys is an error":     {loops: []Loop{LoopRecords}, wantErr: true},
		"loops that neither prove nor verify need none": {loops: []Loop{LoopSigning, LoopSigners}},
		"every loop with a key is set up":               {keys: attest.Keys{Current: key}, loops: AllLoops},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			prover, verifier, err := approvalAttestation(tc.keys, tc.loops)
			if (err != nil) != tc.wantErr {
				t.Fatalf("approvalAttestation() error = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && len(tc.keys.Current.Secret) > 0 {
				c := attest.Claim{Name: "csr"}
				if !verifier.Verify(c, prover.Prove(c)) {
					t.Fatal("the verifier refuses the prover's proof")
				}
			}
		})
	}
}
