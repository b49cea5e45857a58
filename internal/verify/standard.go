package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Header names from the Standard Webhooks specification.
const (
	standardIDHeader        = "webhook-id"
	standardTimestampHeader = "webhook-timestamp"
	standardSignatureHeader = "webhook-signature"
	standardSecretPrefix    = "whsec_"
	standardPublicPrefix    = "whpk_"
)

// The same headers as Svix names them: providers that send through Svix
// use these, and the Svix libraries accept either set.
var svixHeaders = [3]string{"svix-id", "svix-timestamp", "svix-signature"}

// standardVerifier implements the Standard Webhooks symmetric (v1) and
// asymmetric (v1a, ed25519) schemes, under webhook-* or svix-* headers.
type standardVerifier struct {
	keys       [][]byte
	publicKeys []ed25519.PublicKey
	tolerance  time.Duration
}

func newStandard(secrets []string, publicKeys []string, tolerance time.Duration) (*standardVerifier, error) {
	v := &standardVerifier{tolerance: tolerance}
	if v.tolerance == 0 {
		v.tolerance = defaultStandardTolerance
	}
	for _, s := range secrets {
		key, err := standardKey(s)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
	}
	for _, s := range publicKeys {
		key, err := ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		v.publicKeys = append(v.publicKeys, key)
	}
	return v, nil
}

// ParsePublicKey decodes a "whpk_<base64>" ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	const msg = `public_key must be "whpk_" followed by the base64 of a 32-byte ed25519 public key`
	enc, ok := strings.CutPrefix(s, standardPublicPrefix)
	if !ok {
		return nil, errors.New(msg)
	}
	key, err := decodeBase64(enc)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, errors.New(msg)
	}
	return ed25519.PublicKey(key), nil
}

// standardKey decodes a "whsec_<base64>" secret into the HMAC key. The prefix
// is required: without it a secret that happens to be valid base64 could be
// meant either as raw bytes or as encoded bytes, and guessing wrong fails
// every request.
func standardKey(secret string) ([]byte, error) {
	const msg = `standard-webhooks secret must be "whsec_" followed by base64`
	enc, ok := strings.CutPrefix(secret, standardSecretPrefix)
	if !ok {
		return nil, errors.New(msg)
	}
	key, err := decodeBase64(enc)
	if err != nil || len(key) == 0 {
		return nil, errors.New(msg)
	}
	return key, nil
}

func (v *standardVerifier) Verify(h http.Header, body []byte, now time.Time) error {
	names, err := standardHeaderSet(h)
	if err != nil {
		return err
	}
	idName, tsName, sigName := names[0], names[1], names[2]
	id, err := header(h, idName)
	if err != nil {
		return err
	}
	ts, err := header(h, tsName)
	if err != nil {
		return err
	}
	sigHeader, err := header(h, sigName)
	if err != nil {
		return err
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return reject(ErrMalformed, "%s must be whole unix seconds such as 1614265330: %v", tsName, err)
	}
	sigs, err := parseStandardSignature(sigHeader)
	if err != nil {
		return reject(ErrMalformed, "%s: %v", sigName, err)
	}
	if err := checkAge(tsName, unix, now, v.tolerance); err != nil {
		return err
	}
	if len(sigs.v1) == 0 && len(sigs.v1a) == 0 {
		return reject(ErrMismatch, "%s has no v1 or v1a signature", sigName)
	}
	for _, key := range v.keys {
		want := signStandard(key, id, ts, body)
		for _, sig := range sigs.v1 {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	if len(v.publicKeys) > 0 && len(sigs.v1a) > 0 {
		msg := signedContent(id, ts, body)
		for _, key := range v.publicKeys {
			for _, sig := range sigs.v1a {
				if ed25519.Verify(key, msg, sig) {
					return nil
				}
			}
		}
	}
	var want []string
	if len(v.keys) > 0 {
		want = append(want, "a v1 signature (base64 HMAC-SHA256 keyed with the base64-decoded whsec_ secret)")
	}
	if len(v.publicKeys) > 0 {
		want = append(want, "a v1a signature (base64 ed25519, verified with the whpk_ public key)")
	}
	return reject(ErrMismatch, `no signature in %s matches: expected %s of "{%s}.{%s}.{body}"`, sigName, strings.Join(want, " or "), idName, tsName)
}

// standardHeaderSet picks the webhook-* or the svix-* header names,
// whichever the request uses. A request with some of each is refused:
// which id and which timestamp were signed would be a guess.
func standardHeaderSet(h http.Header) ([3]string, error) {
	std := [3]string{standardIDHeader, standardTimestampHeader, standardSignatureHeader}
	hasStd, hasSvix := false, false
	for k := range h {
		for i := range 3 {
			hasStd = hasStd || strings.EqualFold(k, std[i])
			hasSvix = hasSvix || strings.EqualFold(k, svixHeaders[i])
		}
	}
	switch {
	case hasStd && hasSvix:
		return std, reject(ErrMalformed, "both webhook-* and svix-* headers are present; send one set")
	case hasSvix:
		return svixHeaders, nil
	}
	return std, nil
}

func signedContent(id, ts string, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, ts...)
	msg = append(msg, '.')
	return append(msg, body...)
}

// signStandard returns the raw v1 signature of one message. ts is the header
// text, which parseUnix guarantees is the canonical form of the integer.
func signStandard(key []byte, id, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// standardSignatures are the decoded entries of a webhook-signature
// header, by version.
type standardSignatures struct {
	v1, v1a [][]byte
}

// parseStandardSignature parses a webhook-signature header: space-delimited
// "version,base64" entries. It returns the decoded v1 (HMAC) and v1a
// (ed25519) signatures in order. Entries of other versions are skipped so
// that a sender may add them without breaking verification.
func parseStandardSignature(s string) (standardSignatures, error) {
	var out standardSignatures
	entries := strings.Fields(s)
	if len(entries) == 0 {
		return out, errors.New("no entries")
	}
	for i, e := range entries {
		version, enc, ok := strings.Cut(e, ",")
		if !ok || version == "" {
			return standardSignatures{}, fmt.Errorf("entry %d is not \"version,signature\"", i+1)
		}
		if version != "v1" && version != "v1a" {
			continue
		}
		sig, err := decodeBase64(enc)
		if version == "v1a" {
			// Lenient, as before v1a was verified: a v1a entry that cannot
			// be an ed25519 signature must not spoil a good v1 beside it.
			if err == nil && len(sig) == ed25519.SignatureSize {
				out.v1a = append(out.v1a, sig)
			}
			continue
		}
		if err != nil || len(sig) == 0 {
			return standardSignatures{}, fmt.Errorf("entry %d: v1 signature is not base64", i+1)
		}
		out.v1 = append(out.v1, sig)
	}
	return out, nil
}
