package attest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Version is the first field of every proof this package makes. A change
// to the encoding of a Claim or to the MAC takes a new version.
const Version = "v1"

// MinSecretBytes is the shortest secret a Key may have: 256 bits, the
// size of the HMAC-SHA256 tag.
const MinSecretBytes = 32

// GeneratedSecretBytes is the size of the secrets GenerateKey makes.
const GeneratedSecretBytes = 32

// MaxKeyIDLength bounds a key ID; IDs use the base64url alphabet only.
const MaxKeyIDLength = 32

// domain separates this package's MACs from any other use of the key.
const domain = "nodetrust.io/approval-proof"

// keyIDDomain separates the derivation of key IDs from proofs.
const keyIDDomain = "nodetrust.io/approval-key-id"

// tagBytes is the length of an HMAC-SHA256 tag.
const tagBytes = sha256.Size

// maxProofLength bounds the proofs Verify looks at: version, the longest
// key ID, the tag and the two dots.
var maxProofLength = len(Version) + 1 + MaxKeyIDLength + 1 + base64.RawURLEncoding.EncodedLen(tagBytes)

// Key is one HMAC key. Secret must stay secret; ID may be published, it
// only tells the Verifier which key made a proof.
type Key struct {
	// ID names the key in proofs: 1 to MaxKeyIDLength characters of
	// [A-Za-z0-9_-]. NewKey derives it from the secret.
	ID string
	// Secret is the key material, at least MinSecretBytes long.
	Secret []byte
}

// NewKey returns the Key of secret, with an ID derived from it (a MAC of
// a fixed string, which tells nothing about the secret), or an error when
// secret is shorter than MinSecretBytes.
func NewKey(secret []byte) (Key, error) {
	if len(secret) < MinSecretBytes {
		return Key{}, fmt.Errorf("the approval key has %d bytes, fewer than %d", len(secret), MinSecretBytes)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(keyIDDomain))
	return Key{ID: base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:6]), Secret: secret}, nil
}

// GenerateKey returns a new Key of GeneratedSecretBytes read from random,
// which should be crypto/rand.Reader.
func GenerateKey(random io.Reader) (Key, error) {
	secret := make([]byte, GeneratedSecretBytes)
	if _, err := io.ReadFull(random, secret); err != nil {
		return Key{}, fmt.Errorf("generating an approval key: %w", err)
	}
	return NewKey(secret)
}

// Validate reports whether k can make and check proofs: a well-formed ID
// and a secret of at least MinSecretBytes.
func (k Key) Validate() error {
	if !validKeyID(k.ID) {
		return fmt.Errorf("approval key ID %q is not 1 to %d characters of [A-Za-z0-9_-]", k.ID, MaxKeyIDLength)
	}
	if len(k.Secret) < MinSecretBytes {
		return fmt.Errorf("approval key %s has %d bytes, fewer than %d", k.ID, len(k.Secret), MinSecretBytes)
	}
	return nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > MaxKeyIDLength {
		return false
	}
	for _, c := range []byte(id) {
		if !isKeyIDByte(c) {
			return false
		}
	}
	return true
}

// isKeyIDByte reports whether c is in the base64url alphabet.
func isKeyIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Keys are the keys of a manager: Current makes proofs, Current and
// Previous verify them.
type Keys struct {
	// Current makes every new proof.
	Current Key
	// Previous are keys rotated out, whose proofs still verify.
	Previous []Key
}

// Claim is what an approval proof binds: which CSR was approved, as which
// kind of request for which node, by which policy. Every field is part of
// the MAC, so a proof verifies only for the claim it was made for.
type Claim struct {
	// UID and Name identify the CSR; the UID is unique over the cluster's
	// life, so a CSR deleted and created again under the same name is
	// another claim.
	UID, Name string
	// SignerName is the CSR's spec.signerName.
	SignerName string
	// Kind is the request kind (ClientBootstrap, ClientRenewal, Serving).
	Kind string
	// Node is the node the request is for.
	Node string
	// Policy is the approving NodeCertificatePolicy.
	Policy string
}

// encode is the MAC input of c: the domain and version, then every field
// preceded by its length, so that no two claims encode alike.
func (c Claim) encode() []byte {
	fields := []string{domain, Version, c.UID, c.Name, c.SignerName, c.Kind, c.Node, c.Policy}
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f))) //nolint:gosec // Kubernetes object fields are far below 4 GiB
		out = append(out, f...)
	}
	return out
}

func tag(secret []byte, c Claim) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(c.encode())
	return m.Sum(nil)
}

// Prover makes proofs with one key.
type Prover struct {
	key Key
}

// NewProver returns a Prover with key, or an error when key is not valid
// (see Key.Validate).
func NewProver(key Key) (*Prover, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	return &Prover{key: Key{ID: key.ID, Secret: append([]byte(nil), key.Secret...)}}, nil
}

// Prove returns the proof of c: "v1.<key ID>.<base64url HMAC-SHA256 tag>",
// at most 80 characters, with no spaces.
func (p *Prover) Prove(c Claim) string {
	return Version + "." + p.key.ID + "." + base64.RawURLEncoding.EncodeToString(tag(p.key.Secret, c))
}

// Verifier checks proofs against a set of keys.
type Verifier struct {
	keys map[string][]byte
}

// NewVerifier returns a Verifier that accepts proofs made with keys.Current
// or any of keys.Previous. It is an error when a key is not valid or two
// different keys share an ID; the same key twice is fine (a rotation that
// copied the key to previous before writing a new one).
func NewVerifier(keys Keys) (*Verifier, error) {
	v := &Verifier{keys: map[string][]byte{}}
	for i, k := range append([]Key{keys.Current}, keys.Previous...) {
		if err := k.Validate(); err != nil {
			if i == 0 {
				return nil, fmt.Errorf("current key: %w", err)
			}
			return nil, fmt.Errorf("previous key: %w", err)
		}
		if s, ok := v.keys[k.ID]; ok {
			if !hmac.Equal(s, k.Secret) {
				return nil, fmt.Errorf("two different approval keys have the ID %s", k.ID)
			}
			continue
		}
		v.keys[k.ID] = append([]byte(nil), k.Secret...)
	}
	return v, nil
}

// Verify reports whether proof is a proof of c made with one of v's keys.
// A malformed proof, a proof of another version or of an unknown key is
// false; Verify never panics.
func (v *Verifier) Verify(c Claim, proof string) bool {
	return v.check(c, proof) == nil
}

// errMismatch: the proof is well formed and its key known, but it is not a
// proof of the claim.
var errMismatch = errors.New("the proof does not match the approval")

// check is Verify with the reason a proof fails, for tests.
func (v *Verifier) check(c Claim, proof string) error {
	if v == nil || len(proof) > maxProofLength {
		return errors.New("no verifier, or a proof too long")
	}
	version, rest, ok := strings.Cut(proof, ".")
	if !ok || version != Version {
		return fmt.Errorf("not a %s proof", Version)
	}
	id, encoded, ok := strings.Cut(rest, ".")
	if !ok {
		return errors.New("no key ID")
	}
	secret, ok := v.keys[id]
	if !ok {
		return fmt.Errorf("unknown key %q", id)
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(encoded)
	if err != nil || len(got) != tagBytes {
		return errors.New("the tag is not 32 bytes of unpadded base64url")
	}
	if !hmac.Equal(got, tag(secret, c)) {
		return errMismatch
	}
	return nil
}
