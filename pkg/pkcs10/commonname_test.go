package pkcs10

import (
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
)

func TestCommonNameOf(t *testing.T) {
	const cn = "system:node:worker-1" // csrTestKubeletSubject
	valid := csrTestPEM(t)
	block, _ := pem.Decode(valid)
	flipped := slices.Clone(block.Bytes)
	flipped[len(flipped)-1] ^= 0xff
	badSignature := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: flipped})
	pad := func(p []byte, n int) []byte {
		return append(slices.Clone(p), []byte(strings.Repeat("\n", n-len(p)))...)
	}
	tests := map[string]struct {
		in   []byte
		want string
	}{
		"a valid request": {valid, cn},
		"a request with a bad signature is not verified": {badSignature, cn},
		"a request padded to exactly the size limit":     {pad(valid, MaxPEMBytes), cn},
		"a request padded one byte over the size limit":  {pad(valid, MaxPEMBytes+1), ""},
		"garbage":                           {[]byte("-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n"), ""},
		"a PEM block that is not a request": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}), ""},
		"no PEM at all":                     {[]byte("hello"), ""},
		"empty input":                       {nil, ""},
		"a request without a CN":            {csrTestPEM(t, csrTestWithSubject(pkix.Name{Organization: []string{"system:nodes"}})), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := CommonNameOf(tc.in); got != tc.want {
				t.Errorf("CommonNameOf() = %q, want %q", got, tc.want)
			}
		})
	}
}
