package signers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
)

func TestPathUnder(t *testing.T) {
	tests := map[string]struct {
		path string
		ok   bool
	}{
		"a file in the directory is allowed":                {"/etc/nodetrust/ca.crt", true},
		"a file in a subdirectory is allowed":               {"/etc/nodetrust/serving/ca.crt", true},
		"an unclean path inside the directory is cleaned":   {"/etc/nodetrust/./serving//ca.crt", true},
		"a relative path is refused":                        {"nodetrust/ca.crt", false},
		"a path climbing out with .. is refused":            {"/etc/nodetrust/../shadow", false},
		"a sibling directory sharing the prefix is refused": {"/etc/nodetrust-other/ca.crt", false},
		"the directory itself is refused":                   {"/etc/nodetrust", false},
		"the root is refused":                               {"/", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := pathUnder("/etc/nodetrust", tc.path)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("pathUnder(%q) = %v, want it allowed", tc.path, err)
			case !tc.ok && err == nil:
				t.Fatalf("pathUnder(%q) = %q, want it refused", tc.path, got)
			case !tc.ok && !errors.Is(err, errInvalidSpec):
				t.Fatalf("error %v does not mark an invalid spec", err)
			case tc.ok && got != filepath.Clean(tc.path):
				t.Fatalf("pathUnder(%q) = %q, want the clean path", tc.path, got)
			}
		})
	}
}

func TestPKCS11PIN(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pin"), []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "nodetrust-system", Name: "hsm"},
		Data:       map[string][]byte{"pin": []byte("5678")},
	}).Build()
	ref := func(name, key string) v1alpha1.PINSource {
		return v1alpha1.PINSource{SecretKeyRef: &v1alpha1.SecretKeySelector{Name: name, Key: key}}
	}
	tests := map[string]struct {
		filesDir string
		src      v1alpha1.PINSource
		want     string
		wantErr  string
	}{
		"a PIN from a Secret key":                      {src: ref("hsm", "pin"), want: "5678"},
		"a PIN from a file loses its trailing newline": {filesDir: dir, src: v1alpha1.PINSource{File: filepath.Join(dir, "pin")}, want: "1234"},
		"a missing Secret is reported":                 {src: ref("nope", "pin"), wantErr: "reading the PIN Secret"},
		"a missing key is reported":                    {src: ref("hsm", "other"), wantErr: `has no key "other"`},
		"a PIN file without --signer-files-dir is unavailable": {
			src: v1alpha1.PINSource{File: filepath.Join(dir, "pin")}, wantErr: "--signer-files-dir"},
		"a PIN file outside the directory is refused": {filesDir: dir, src: v1alpha1.PINSource{File: "/etc/passwd"}, wantErr: "not an absolute path under"},
		"an empty PIN is refused":                     {filesDir: dir, src: v1alpha1.PINSource{File: filepath.Join(dir, "empty")}, wantErr: "PIN is empty"},
		"no PIN source is refused":                    {wantErr: "no PIN source"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := &PKCS11Backend{Reader: reader, Namespace: "nodetrust-system", FilesDir: tc.filesDir}
			got, err := b.pin(context.Background(), tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("pin() = %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("pin() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestBackendKind(t *testing.T) {
	tests := map[string]struct {
		spec v1alpha1.NodeCertificateSignerSpec
		want BackendKind
	}{
		"a Secret":                 {spec: v1alpha1.NodeCertificateSignerSpec{Secret: &v1alpha1.SecretSignerSource{Name: "ca"}}, want: BackendSecret},
		"files":                    {spec: v1alpha1.NodeCertificateSignerSpec{Files: &v1alpha1.FilesSignerSource{}}, want: BackendFiles},
		"a PKCS#11 key":            {spec: v1alpha1.NodeCertificateSignerSpec{PKCS11: &v1alpha1.PKCS11SignerSource{}}, want: BackendPKCS11},
		"nothing is invalid":       {},
		"two backends are invalid": {spec: v1alpha1.NodeCertificateSignerSpec{Secret: &v1alpha1.SecretSignerSource{}, Files: &v1alpha1.FilesSignerSource{}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := backendKind(&tc.spec)
			if got != tc.want || (tc.want == "") != errors.Is(err, errInvalidSpec) {
				t.Fatalf("backendKind() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
