package controllers

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/pkg/attest"
	"github.com/nodetrust/nodetrust/pkg/wire"
)

// DefaultApprovalKeySecret is the default name of the Secret, in the signer
// namespace, that holds the approval keys (see LoadApprovalKeys).
const DefaultApprovalKeySecret = "nodetrust-approval-key" //nolint:gosec // a Secret's name, not its contents

// +kubebuilder:rbac:groups="",resources=secrets,verbs=create,namespace=nodetrust-system

// LoadApprovalKeys returns the keys nodetrust proves and verifies its
// approvals with, from the Secret namespace/name: wire.ApprovalKeySecretKey
// is the current key, wire.ApprovalPreviousKeySecretKey an optional
// previous one. When the Secret does not exist, LoadApprovalKeys creates it
// through w with a key of attest.GeneratedSecretBytes read from random
// (crypto/rand); when another replica created it meanwhile, it reads that
// one, so that all replicas share a key. r should read from the API server
// (the manager's APIReader): keys are loaded before the cache starts.
//
// A Secret without a current key, or with a key shorter than
// attest.MinSecretBytes, is an error: nodetrust does not overwrite what an
// operator wrote.
func LoadApprovalKeys(ctx context.Context, r client.Reader, w client.Writer, namespace, name string, random io.Reader) (attest.Keys, error) {
	secret := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		secret, err = createApprovalKeySecret(ctx, r, w, namespace, name, random)
	}
	if err != nil {
		return attest.Keys{}, fmt.Errorf("reading the approval key Secret %s/%s: %w", namespace, name, err)
	}
	keys, err := approvalKeysOf(secret)
	if err != nil {
		return attest.Keys{}, fmt.Errorf("approval key Secret %s/%s: %w", namespace, name, err)
	}
	return keys, nil
}

// createApprovalKeySecret creates the approval key Secret with a fresh key,
// or reads the one another replica created first.
func createApprovalKeySecret(ctx context.Context, r client.Reader, w client.Writer, namespace, name string, random io.Reader) (*corev1.Secret, error) {
	key, err := attest.GenerateKey(random)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{wire.LabelManagedBy: wire.ManagedByValue}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{wire.ApprovalKeySecretKey: key.Secret},
	}
	err = w.Create(ctx, secret, client.FieldOwner(wire.ApproverFieldManager))
	if apierrors.IsAlreadyExists(err) {
		secret = &corev1.Secret{}
		err = r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret)
	}
	if err != nil {
		return nil, fmt.Errorf("creating it: %w", err)
	}
	return secret, nil
}

// approvalKeysOf reads the keys of an approval key Secret.
func approvalKeysOf(secret *corev1.Secret) (attest.Keys, error) {
	current, ok := secret.Data[wire.ApprovalKeySecretKey]
	if !ok {
		return attest.Keys{}, fmt.Errorf("no data key %q", wire.ApprovalKeySecretKey)
	}
	var keys attest.Keys
	var err error
	if keys.Current, err = attest.NewKey(current); err != nil {
		return attest.Keys{}, fmt.Errorf("data key %q: %w", wire.ApprovalKeySecretKey, err)
	}
	if previous, ok := secret.Data[wire.ApprovalPreviousKeySecretKey]; ok {
		k, err := attest.NewKey(previous)
		if err != nil {
			return attest.Keys{}, fmt.Errorf("data key %q: %w", wire.ApprovalPreviousKeySecretKey, err)
		}
		keys.Previous = []attest.Key{k}
	}
	if _, err := attest.NewVerifier(keys); err != nil {
		return attest.Keys{}, err
	}
	return keys, nil
}
