package pkcs11_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
)

func TestConfigNeverPrintsThePIN(t *testing.T) {
	cfg := pkcs11.Config{
		ModulePath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "ca", KeyLabel: "kubelet-ca",
		KeyID: []byte{0xca, 0xfe}, PIN: "secret-pin-1234",
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, cfg)
		if strings.Contains(out, cfg.PIN) {
			t.Errorf("%s shows the PIN: %s", format, out)
		}
		if !strings.Contains(out, `label "kubelet-ca", ID cafe`) {
			t.Errorf("%s does not name the key: %s", format, out)
		}
	}
}
