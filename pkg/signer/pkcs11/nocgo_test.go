//go:build !cgo

package pkcs11_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nodetrust/nodetrust/pkg/signer/pkcs11"
)

func TestWithoutCgoNewExplainsThatCgoIsNeeded(t *testing.T) {
	s, err := pkcs11.New(pkcs11.Config{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t", KeyLabel: "k", PIN: "1234"})
	if !errors.Is(err, pkcs11.ErrCgoRequired) {
		t.Fatalf("New: %v, want ErrCgoRequired", err)
	}
	if s != nil {
		t.Fatal("New returned a Signer")
	}
	var zero pkcs11.Signer
	if err := zero.Check(context.Background()); !errors.Is(err, pkcs11.ErrCgoRequired) {
		t.Fatalf("Check: %v, want ErrCgoRequired", err)
	}
}
