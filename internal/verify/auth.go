package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"
)

const authorizationHeader = "Authorization"

// credentialVerifier checks a shared credential sent in the Authorization
// header: a bearer token, or basic user:password.
//
// Secrets are held only as SHA-256 digests, and the presented credential is
// hashed before comparing, so the comparison always runs over 32 bytes and
// its timing reveals neither the secret's length nor how much of a guess
// matched.
type credentialVerifier struct {
	scheme  string // "Bearer" or "Basic", as written in the header
	digests [][sha256.Size]byte
}

func newBearer(secrets []string) *credentialVerifier {
	return &credentialVerifier{scheme: "Bearer", digests: digests(secrets)}
}

func newBasic(secrets []string) (*credentialVerifier, error) {
	for _, s := range secrets {
		if !strings.Contains(s, ":") {
			return nil, errors.New(`basic secret must be "user:password"`)
		}
	}
	return &credentialVerifier{scheme: "Basic", digests: digests(secrets)}, nil
}

func digests(secrets []string) [][sha256.Size]byte {
	ds := make([][sha256.Size]byte, 0, len(secrets))
	for _, s := range secrets {
		ds = append(ds, sha256.Sum256([]byte(s)))
	}
	return ds
}

func (v *credentialVerifier) Verify(h http.Header, _ []byte, _ time.Time) error {
	value, err := header(h, authorizationHeader)
	if err != nil {
		return err
	}
	scheme, cred, err := parseAuthorization(value)
	if err != nil {
		return reject(ErrMalformed, "%s: %v", authorizationHeader, err)
	}
	// The scheme word is case-insensitive (RFC 9110, section 11.1).
	if !strings.EqualFold(scheme, v.scheme) {
		return reject(ErrMalformed, "%s must use the %s scheme", authorizationHeader, v.scheme)
	}
	presented := []byte(cred)
	if v.scheme == "Basic" {
		presented, err = parseBasic(cred)
		if err != nil {
			return reject(ErrMalformed, "%s: %v", authorizationHeader, err)
		}
	}
	got := sha256.Sum256(presented)
	// Check every secret rather than stopping at the first match, so timing
	// does not reveal which of the two secrets was used.
	match := 0
	for _, want := range v.digests {
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	if match == 0 {
		if v.scheme == "Basic" {
			return reject(ErrMismatch, "%s: user or password does not match", authorizationHeader)
		}
		return reject(ErrMismatch, "%s: bearer token does not match", authorizationHeader)
	}
	return nil
}

// parseAuthorization splits an Authorization value into its scheme word and
// credentials: "<scheme> <credentials>", with one or more spaces between.
func parseAuthorization(v string) (scheme, credentials string, err error) {
	scheme, rest, ok := strings.Cut(v, " ")
	credentials = strings.TrimLeft(rest, " ")
	if !ok || scheme == "" || credentials == "" {
		return "", "", errors.New(`must be "<scheme> <credentials>"`)
	}
	return scheme, credentials, nil
}

// parseBasic decodes basic credentials, base64 of "user:password".
func parseBasic(cred string) ([]byte, error) {
	d, err := decodeBase64(cred)
	if err != nil || !bytes.Contains(d, []byte{':'}) {
		return nil, errors.New(`basic credentials must be base64 of "user:password"`)
	}
	return d, nil
}
