package verify

import (
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
)

// standardVerifier implements the Standard Webhooks symmetric (v1) scheme.
type standardVerifier struct {
	keys      [][]byte
	tolerance time.Duration
}

func newStandard(secrets []string, tolerance time.Duration) (*standardVerifier, error) {
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
	return v, nil
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
	id, err := header(h, standardIDHeader)
	if err != nil {
		return err
	}
	ts, err := header(h, standardTimestampHeader)
	if err != nil {
		return err
	}
	sigHeader, err := header(h, standardSignatureHeader)
	if err != nil {
		return err
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return reject(ErrMalformed, "%s must be whole unix seconds such as 1614265330: %v", standardTimestampHeader, err)
	}
	sigs, err := parseStandardSignature(sigHeader)
	if err != nil {
		return reject(ErrMalformed, "%s: %v", standardSignatureHeader, err)
	}
	if err := checkAge(standardTimestampHeader, unix, now, v.tolerance); err != nil {
		return err
	}
	if len(sigs) == 0 {
		return reject(ErrMismatch, "%s has no v1 signature", standardSignatureHeader)
	}
	for _, key := range v.keys {
		want := signStandard(key, id, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return reject(ErrMismatch, `no v1 signature in %s matches: expected base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64-decoded whsec_ secret`, standardSignatureHeader)
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

// parseStandardSignature parses a webhook-signature header: space-delimited
// "version,base64" entries. It returns the decoded v1 signatures in order.
// Entries of other versions (such as v1a, asymmetric signatures) are skipped
// so that a sender may add them without breaking symmetric verification.
func parseStandardSignature(s string) ([][]byte, error) {
	entries := strings.Fields(s)
	if len(entries) == 0 {
		return nil, errors.New("no entries")
	}
	var sigs [][]byte
	for i, e := range entries {
		version, enc, ok := strings.Cut(e, ",")
		if !ok || version == "" {
			return nil, fmt.Errorf("entry %d is not \"version,signature\"", i+1)
		}
		if version != "v1" {
			continue
		}
		sig, err := decodeBase64(enc)
		if err != nil || len(sig) == 0 {
			return nil, fmt.Errorf("entry %d: v1 signature is not base64", i+1)
		}
		sigs = append(sigs, sig)
	}
	return sigs, nil
}
