package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

const githubHeader = "X-Hub-Signature-256"

// hmacVerifier checks an HMAC of the raw body carried in one header. It serves
// both the generic hmac scheme and GitHub, which is one fixed configuration of
// it.
type hmacVerifier struct {
	header   string
	prefix   string
	encoding string // "hex" or "base64"
	algName  string // for messages: "SHA256" or "SHA1"
	newHash  func() hash.Hash
	keys     [][]byte
}

func newGitHub(secrets []string) *hmacVerifier {
	return &hmacVerifier{
		header:   githubHeader,
		prefix:   "sha256=",
		encoding: "hex",
		algName:  "SHA256",
		newHash:  sha256.New,
		keys:     rawKeys(secrets),
	}
}

func newHMAC(cfg Config) (*hmacVerifier, error) {
	v := &hmacVerifier{
		header: strings.TrimSpace(cfg.Header),
		prefix: cfg.Prefix,
		keys:   rawKeys(cfg.Secrets),
	}
	if v.header == "" {
		return nil, errors.New("hmac needs a header naming where the signature is")
	}
	if !httpguts.ValidHeaderFieldName(v.header) {
		return nil, errors.New("hmac header must be a bare header name such as X-Signature, without spaces, a colon or other punctuation")
	}
	switch strings.ToLower(cfg.Algorithm) {
	case "", "sha256":
		v.algName, v.newHash = "SHA256", sha256.New
	case "sha1":
		v.algName, v.newHash = "SHA1", sha1.New
	default:
		return nil, fmt.Errorf("unknown hmac algorithm %q; one of: sha256, sha1", cfg.Algorithm)
	}
	switch strings.ToLower(cfg.Encoding) {
	case "", "hex":
		v.encoding = "hex"
	case "base64":
		v.encoding = "base64"
	default:
		return nil, fmt.Errorf("unknown hmac encoding %q; one of: hex, base64", cfg.Encoding)
	}
	return v, nil
}

// rawKeys uses each secret's bytes as the HMAC key, as GitHub and most
// generic senders do.
func rawKeys(secrets []string) [][]byte {
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		keys = append(keys, []byte(s))
	}
	return keys
}

func (v *hmacVerifier) Verify(h http.Header, body []byte, _ time.Time) error {
	value, err := header(h, v.header)
	if err != nil {
		return err
	}
	got, err := parseDigest(value, v.prefix, v.encoding)
	if err != nil {
		return reject(ErrMalformed, "%s: %v", v.header, err)
	}
	for _, key := range v.keys {
		mac := hmac.New(v.newHash, key)
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) {
			return nil
		}
	}
	return reject(ErrMismatch, "%s does not match: expected %s%s HMAC-%s of the raw body",
		v.header, v.prefix, v.encoding, v.algName)
}

// parseDigest strips prefix (which must be present when non-empty) and
// decodes the rest as encoding, "hex" (either case) or "base64" (any of the
// standard and URL-safe alphabets, padded or not).
func parseDigest(value, prefix, encoding string) ([]byte, error) {
	rest, ok := strings.CutPrefix(value, prefix)
	if !ok {
		return nil, fmt.Errorf("must start with %q", prefix)
	}
	var (
		d   []byte
		err error
	)
	if encoding == "base64" {
		d, err = decodeBase64(rest)
	} else {
		d, err = hex.DecodeString(rest)
	}
	if err != nil || len(d) == 0 {
		return nil, fmt.Errorf("signature after %q is not %s", prefix, encoding)
	}
	return d, nil
}

// base64Encodings are tried in turn by decodeBase64. Strict rejects
// non-zero padding bits, so each accepted string has exactly one decoding.
var base64Encodings = []*base64.Encoding{
	base64.StdEncoding.Strict(),
	base64.RawStdEncoding.Strict(),
	base64.URLEncoding.Strict(),
	base64.RawURLEncoding.Strict(),
}

// decodeBase64 decodes s in whichever base64 alphabet and padding it uses,
// because senders disagree and the alphabets cannot be confused: a string
// valid in two of them decodes to the same bytes in both.
func decodeBase64(s string) ([]byte, error) {
	// encoding/base64 silently skips CR and LF; refuse them so that what is
	// accepted is exactly what could have been sent on one header line.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	for _, enc := range base64Encodings {
		if d, err := enc.DecodeString(s); err == nil {
			return d, nil
		}
	}
	return nil, errors.New("not base64")
}
