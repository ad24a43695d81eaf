package policy

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/pkcs10/pkcs10test"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// TestReasonCodesListsEveryReasonConstant fails when a Reason* constant of
// this package or of pkcs10 is added without entering ReasonCodes, or when
// a code is listed twice. Approvals carry the wire contract's AutoApproved.
func TestReasonCodesListsEveryReasonConstant(t *testing.T) {
	constants := slices.Concat(pkcs10test.ReasonConstants(t, "."), pkcs10test.ReasonConstants(t, filepath.Join("..", "pkcs10")),
		[]string{wire.ReasonAutoApproved})
	pkcs10test.CheckReasonCatalogue(t, ReasonCodes(), constants)
}

// TestReasonCodesAreDocumented checks the tables of the "Reason codes"
// section of docs/policy.md against ReasonCodes: every code is documented,
// and every code documented exists.
func TestReasonCodesAreDocumented(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedReasons(t, doc)
	codes := ReasonCodes()
	for _, code := range codes {
		if !documented[code] {
			t.Errorf("reason %s is not in the tables of docs/policy.md#reason-codes", code)
		}
	}
	for code := range documented {
		if !slices.Contains(codes, code) {
			t.Errorf("docs/policy.md#reason-codes documents %s, which no decision carries", code)
		}
	}
}

// documentedReasons returns the codes in the first column of the tables of
// the "## Reason codes" section of doc.
func documentedReasons(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	codes := map[string]bool{}
	in := false
	scanner := bufio.NewScanner(bytes.NewReader(doc))
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Reason codes"
			continue
		}
		cell, ok := strings.CutPrefix(line, "| `")
		if !in || !ok {
			continue
		}
		code, _, ok := strings.Cut(cell, "`")
		if !ok || code == "" {
			t.Fatalf("docs/policy.md: cannot read the reason of %q", line)
		}
		codes[code] = true
	}
	if len(codes) == 0 {
		t.Fatal(`docs/policy.md has no reason table under "## Reason codes"`)
	}
	return codes
}
