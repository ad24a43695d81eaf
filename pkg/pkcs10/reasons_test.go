package pkcs10

import (
	"testing"

	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
)

// TestReasonCodesListsEveryReasonConstant fails when a Reason* constant is
// added without entering ReasonCodes, or one is listed twice.
func TestReasonCodesListsEveryReasonConstant(t *testing.T) {
	pkcs10test.CheckReasonCatalogue(t, ReasonCodes(), pkcs10test.ReasonConstants(t, "."))
}
