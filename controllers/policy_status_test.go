package controllers_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
)

// TestSamplesAreAcceptedAndReady applies every policy under config/samples
// (except the default one, which the suite already runs) to the real API
// server, with its schema and CEL validation, and waits for Ready=True.
func TestSamplesAreAcceptedAndReady(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	for _, file := range files {
		for _, p := range readPolicies(t, file) {
			if p.Name == "default" {
				continue
			}
			if err := env.Client.Create(ctx, p); err != nil {
				t.Fatalf("%s: creating %s: %v", filepath.Base(file), p.Name, err)
			}
			waitReady(t, p.Name, metav1.ConditionTrue)
			if err := env.Client.Delete(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSignerSamplesAreAccepted applies every NodeCertificateSigner under
// config/samples. Their CA Secrets do not exist here, so each must report
// exactly that: Ready=False with reason CANotLoaded.
func TestSignerSamplesAreAccepted(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, file := range files {
		for _, doc := range readKind(t, file, "NodeCertificateSigner") {
			s := &v1alpha1.NodeCertificateSigner{}
			if err := utilyaml.Unmarshal(doc, s); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			found++
			if err := env.Client.Create(ctx, s); err != nil {
				t.Fatalf("%s: creating %s: %v", filepath.Base(file), s.Name, err)
			}
			testenv.WaitFor(t, testenv.DefaultTimeout, "signer "+s.Name+" to report its missing CA", func(ctx context.Context) (bool, error) {
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
					return false, err
				}
				c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady)
				return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonCANotLoaded, nil
			})
			if err := env.Client.Delete(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found == 0 {
		t.Fatal("no NodeCertificateSigner sample found")
	}
}

// readKind returns the YAML documents of file whose kind is kind.
func readKind(t *testing.T, file, kind string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var typeMeta metav1.TypeMeta
		if err := utilyaml.Unmarshal(doc, &typeMeta); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if typeMeta.Kind == kind {
			out = append(out, doc)
		}
	}
}

func TestAdmissionRejectsPoliciesTheSchemaForbids(t *testing.T) {
	testenv.Require(t, env)
	tests := map[string]v1alpha1.NodeCertificatePolicySpec{
		"a nodeSelector with clientBootstrap rules": {
			Selector:        v1alpha1.RequestSelector{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}},
			ClientBootstrap: &v1alpha1.ClientBootstrapRules{},
		},
		"an unknown action": {ClientRenewal: &v1alpha1.ClientRenewalRules{Action: "Sometimes"}},
		"a negative maxRequestAge": {
			ClientBootstrap: &v1alpha1.ClientBootstrapRules{MaxRequestAge: &metav1.Duration{Duration: -time.Hour}},
		},
		"a lifetime under 10 minutes":     {ClientRenewal: &v1alpha1.ClientRenewalRules{}, MaxExpirationSeconds: new(int32(599))},
		"ApproveAndSign without a signer": {Serving: &v1alpha1.ServingRules{Action: v1alpha1.ServingApproveAndSign}},
		"a signer with the Review action": {Serving: &v1alpha1.ServingRules{Action: v1alpha1.ServingReview, Signer: "ca"}},
		"RSA bounds the wrong way round": {
			ClientRenewal: &v1alpha1.ClientRenewalRules{},
			Keys:          &v1alpha1.KeyRules{RSA: &v1alpha1.RSAKeyRule{MinBits: 4096, MaxBits: 2048}},
		},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			p := &v1alpha1.NodeCertificatePolicy{ObjectMeta: metav1.ObjectMeta{GenerateName: "rejected-"}, Spec: spec}
			if err := env.Client.Create(context.Background(), p); err == nil {
				t.Fatalf("the API server accepted %s", name)
			}
		})
	}
}

func TestAdmissionRejectsSignersTheSchemaForbids(t *testing.T) {
	testenv.Require(t, env)
	pin := v1alpha1.PINSource{File: "/etc/nodetrust/pin"}
	tests := map[string]v1alpha1.NodeCertificateSignerSpec{
		"no backend": {},
		"two backends": {
			Secret: &v1alpha1.SecretSignerSource{Name: "ca"},
			Files:  &v1alpha1.FilesSignerSource{CertFile: "/ca.crt", KeyFile: "/ca.key"},
		},
		"a signer name nodetrust does not sign":   {SignerName: "kubernetes.io/kube-apiserver-client", Secret: &v1alpha1.SecretSignerSource{Name: "ca"}},
		"a maximum validity under 10 minutes":     {MaxExpirationSeconds: new(int32(599)), Secret: &v1alpha1.SecretSignerSource{Name: "ca"}},
		"a PKCS#11 key with neither label nor ID": {PKCS11: &v1alpha1.PKCS11SignerSource{TokenLabel: "t", PIN: pin}},
		"a PKCS#11 key ID that is not hex":        {PKCS11: &v1alpha1.PKCS11SignerSource{TokenLabel: "t", KeyID: "xyz", PIN: pin}},
		"a PIN from both a Secret and a file": {PKCS11: &v1alpha1.PKCS11SignerSource{TokenLabel: "t", KeyLabel: "k",
			PIN: v1alpha1.PINSource{File: "/pin", SecretKeyRef: &v1alpha1.SecretKeySelector{Name: "s", Key: "pin"}}}},
		"a PIN from nowhere": {PKCS11: &v1alpha1.PKCS11SignerSource{TokenLabel: "t", KeyLabel: "k"}},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			s := &v1alpha1.NodeCertificateSigner{ObjectMeta: metav1.ObjectMeta{GenerateName: "rejected-"}, Spec: spec}
			if err := env.Client.Create(context.Background(), s); err == nil {
				t.Fatalf("the API server accepted %s", name)
			}
		})
	}
}

func waitReady(t *testing.T, name string, want metav1.ConditionStatus) {
	t.Helper()
	testenv.WaitFor(t, testenv.DefaultTimeout, "policy "+name+" Ready="+string(want), func(ctx context.Context) (bool, error) {
		p := &v1alpha1.NodeCertificatePolicy{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == want && c.ObservedGeneration == p.Generation, nil
	})
}

func readPolicies(t *testing.T, file string) []*v1alpha1.NodeCertificatePolicy {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*v1alpha1.NodeCertificatePolicy
	for {
		p := &v1alpha1.NodeCertificatePolicy{}
		if err := decoder.Decode(p); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if p.Kind == "NodeCertificatePolicy" {
			out = append(out, p)
		}
	}
}

// TestPolicyOnNodeWritableLabelsIsNotReady: a kubelet writes its own Node,
// so a nodeSelector on a label it may set would let it choose its policy.
// Such a policy is not Ready until it opts in, through the real API server.
func TestPolicyOnNodeWritableLabelsIsNotReady(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	p := &v1alpha1.NodeCertificatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "self-selected"},
		Spec: v1alpha1.NodeCertificatePolicySpec{
			Selector:      v1alpha1.RequestSelector{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gold"}}},
			ClientRenewal: &v1alpha1.ClientRenewalRules{},
		},
	}
	testenv.CreateAndWait(ctx, t, env.Client, cache, p)
	waitReady := func(status metav1.ConditionStatus, reason string) {
		t.Helper()
		testenv.WaitFor(t, testenv.DefaultTimeout, "Ready="+string(status)+" "+reason, func(ctx context.Context) (bool, error) {
			got := &v1alpha1.NodeCertificatePolicy{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
				return false, err
			}
			c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == got.Generation, nil
		})
	}
	waitReady(metav1.ConditionFalse, v1alpha1.ReasonNodeWritableSelector)

	got := &v1alpha1.NodeCertificatePolicy{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Selector.TrustNodeWritableLabels = true
	if err := env.Client.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	waitReady(metav1.ConditionTrue, v1alpha1.ReasonPolicyValid)
	if err := env.Client.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
}
