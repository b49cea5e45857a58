// Package secretbox seals values at rest with AES-256-GCM under a keyring:
// the first key seals, every key of the ring opens. A sealed value names
// the key that sealed it, so a ring can grow a new first key, values can be
// re-sealed under it at leisure, and the old key can then be dropped.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// prefix starts every sealed value: a version, so that the format can
// change without guessing.
const prefix = "v1."

// ErrUnknownKey is what Open returns for a value sealed under a key that
// is not in the ring (dropped too early, or another installation's).
var ErrUnknownKey = errors.New("secretbox: sealed under a key that is not in the keyring")

type key struct {
	id   string // hex of the first 4 bytes of SHA-256(key)
	aead cipher.AEAD
}

// Keyring holds the keys: the first seals, all open.
type Keyring struct {
	keys []key
}

// ParseKeyring reads a comma-separated list of base64 (standard alphabet,
// padded or not) 32-byte keys, the first of which seals.
func ParseKeyring(s string) (*Keyring, error) {
	var raw [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(part)
		}
		if err != nil {
			return nil, fmt.Errorf("key %d is not base64: %w", i+1, err)
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("key %d has %d bytes, want %d (generate one with: dispatchd encryption generate-key)", i+1, len(b), KeySize)
		}
		raw = append(raw, b)
	}
	if len(raw) == 0 {
		return nil, errors.New("no key given")
	}
	return NewKeyring(raw...)
}

// NewKeyring returns the ring of the raw 32-byte keys, the first of which
// seals.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	k := &Keyring{}
	seen := map[string]bool{}
	for i, b := range keys {
		if len(b) != KeySize {
			return nil, fmt.Errorf("key %d has %d bytes, want %d", i+1, len(b), KeySize)
		}
		block, err := aes.NewCipher(b)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		id := hex.EncodeToString(sum[:4])
		if seen[id] {
			continue
		}
		seen[id] = true
		k.keys = append(k.keys, key{id: id, aead: aead})
	}
	return k, nil
}

// GenerateKey returns a new random key, base64-encoded as ParseKeyring
// reads it.
func GenerateKey() string {
	b := make([]byte, KeySize)
	// crypto/rand.Read never fails (it panics on a broken system source).
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// CurrentKeyID is the id of the key that seals.
func (k *Keyring) CurrentKeyID() string { return k.keys[0].id }

// Seal encrypts plain under the first key. aad binds the value to where it
// is stored (e.g. "source:github"), so that a sealed value copied into
// another row does not open there. The result is printable ASCII:
// "v1.<key id>.<base64url of nonce‖ciphertext>".
func (k *Keyring) Seal(plain, aad []byte) string {
	cur := k.keys[0]
	nonce := make([]byte, cur.aead.NonceSize(), cur.aead.NonceSize()+len(plain)+cur.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := cur.aead.Seal(nonce, nonce, plain, aad)
	return prefix + cur.id + "." + base64.RawURLEncoding.EncodeToString(out)
}

// IsSealed reports whether v has the form Seal produces.
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// KeyID is the id of the key that sealed v ("" when v is not sealed).
func KeyID(v string) string {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	return id
}

// Open decrypts a value Seal produced, under whichever key of the ring
// sealed it, with the same aad.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, errors.New("secretbox: not a sealed value")
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, errors.New("secretbox: malformed sealed value")
	}
	for _, c := range k.keys {
		if c.id != id {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(body)
		if err != nil || len(b) < c.aead.NonceSize() {
			return nil, errors.New("secretbox: malformed sealed value")
		}
		n := c.aead.NonceSize()
		plain, err := c.aead.Open(nil, b[:n], b[n:], aad)
		if err != nil {
			return nil, errors.New("secretbox: the sealed value does not authenticate (altered, or moved from another row)")
		}
		return plain, nil
	}
	return nil, fmt.Errorf("%w (key id %s)", ErrUnknownKey, id)
}
