package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GrantManagerRBAC binds the manager's shipped RBAC (config/rbac: the
// generated manager roles, the leader-election role and the metrics-auth
// role) to username, with the leader-election Role placed in leaseNamespace.
// A client for username then has exactly the rights the Deployment has.
func (e *Env) GrantManagerRBAC(ctx context.Context, username, leaseNamespace string) error {
	dir := filepath.Join(RepoRoot(), "config", "rbac")
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: username}}
	for _, file := range []string{"role.yaml", "leader_election_role.yaml", "metrics_auth_role.yaml"} {
		docs, err := readYAMLDocs(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		for _, doc := range docs {
			if err := e.grant(ctx, doc, subject, leaseNamespace); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	return nil
}

func (e *Env) grant(ctx context.Context, doc []byte, subject []rbacv1.Subject, leaseNamespace string) error {
	var meta metav1.TypeMeta
	if err := utilyaml.Unmarshal(doc, &meta); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	switch meta.Kind {
	case "ClusterRole":
		role := &rbacv1.ClusterRole{}
		if err := utilyaml.Unmarshal(doc, role); err != nil {
			return fmt.Errorf("decoding ClusterRole: %w", err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   subject,
		}
		return createAll(ctx, e.Client, role, binding)
	case "Role":
		role := &rbacv1.Role{}
		if err := utilyaml.Unmarshal(doc, role); err != nil {
			return fmt.Errorf("decoding Role: %w", err)
		}
		if role.Namespace == "" {
			role.Namespace = leaseNamespace
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: role.Namespace}}
		if err := createAll(ctx, e.Client, ns); err != nil {
			return err
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: role.Namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   subject,
		}
		return createAll(ctx, e.Client, role, binding)
	default:
		return fmt.Errorf("unexpected kind %q", meta.Kind)
	}
}

func createAll(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func readYAMLDocs(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	reader := utilyaml.NewYAMLReader(bufioReader(data))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 && !bytes.Equal(bytes.TrimSpace(doc), []byte("---")) {
			docs = append(docs, doc)
		}
	}
}

func bufioReader(data []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(data)) }
