package delivery

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Prefixes of Standard Webhooks asymmetric keys: whsk_ is the secret
// (signing) key, whpk_ the public key receivers verify with.
const (
	SecretKeyPrefix = "whsk_"
	PublicKeyPrefix = "whpk_"
)

// ParseSigningKey decodes a "whsk_<base64>" ed25519 secret key. Both
// encodings found in the wild are accepted: the 32-byte seed (RFC 8032)
// and the 64-byte seed followed by the public key (libsodium, Go's
// ed25519.PrivateKey). For the latter, the public half must be the one the
// seed derives: a mismatched pair would sign with one key and advertise
// another.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	enc, ok := strings.CutPrefix(s, SecretKeyPrefix)
	if !ok {
		return nil, errors.New(`an ed25519 key is "whsk_" followed by base64`)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New(`an ed25519 key is "whsk_" followed by standard base64`)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		key := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(key[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
			return nil, errors.New("the 64-byte ed25519 key's public half does not match its seed")
		}
		return key, nil
	}
	return nil, errors.New("an ed25519 key decodes to 32 bytes (seed) or 64 bytes (seed and public key)")
}

// PublicKey returns the "whpk_<base64>" public key of a whsk_ key, the one
// receivers verify v1a signatures with.
func PublicKey(secretKey string) (string, error) {
	key, err := ParseSigningKey(secretKey)
	if err != nil {
		return "", err
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), nil
}

// SignV1a returns one "v1a,<base64 ed25519 signature of msgID.unix-seconds.body>"
// entry of webhook-signature, as Standard Webhooks specifies.
func SignV1a(key ed25519.PrivateKey, msgID string, ts time.Time, body []byte) string {
	msg := make([]byte, 0, len(msgID)+len(body)+24)
	msg = append(msg, msgID...)
	msg = append(msg, '.')
	msg = strconv.AppendInt(msg, ts.Unix(), 10)
	msg = append(msg, '.')
	msg = append(msg, body...)
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
}
