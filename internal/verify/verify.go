package verify

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Scheme names the way a source proves that a request came from it.
type Scheme string

// The schemes a source can be configured with.
const (
	// None accepts every request. Use it only for sources that cannot sign.
	None Scheme = "none"
	// Bearer expects "Authorization: Bearer <secret>".
	Bearer Scheme = "bearer"
	// StandardWebhooks follows the Standard Webhooks specification: headers
	// webhook-id, webhook-timestamp and webhook-signature (or the same as
	// svix-id, svix-timestamp, svix-signature), secret "whsec_<base64>" for
	// v1 signatures and public key "whpk_<base64>" for v1a (ed25519) ones.
	StandardWebhooks Scheme = "standard-webhooks"
	// GitHub expects "X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>".
	GitHub Scheme = "github"
	// Stripe expects "Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]".
	Stripe Scheme = "stripe"
	// HMAC is a generic HMAC of the body in a configurable header, algorithm,
	// encoding and prefix, for senders that follow none of the named schemes.
	HMAC Scheme = "hmac"
	// Basic expects "Authorization: Basic base64(user:password)"; the secret is
	// "user:password".
	Basic Scheme = "basic"
)

// Schemes lists every scheme, for config validation messages.
func Schemes() []Scheme {
	return []Scheme{None, Bearer, StandardWebhooks, GitHub, Stripe, HMAC, Basic}
}

// Config describes how one source authenticates its requests.
type Config struct {
	// Scheme selects how requests are checked.
	Scheme Scheme
	// Secrets holds one secret, or two during a rotation (current and
	// previous): a request that verifies with either is accepted. None takes
	// no secret.
	Secrets []string
	// Header names the header carrying the signature. Required for HMAC and
	// used by no other scheme.
	Header string
	// Algorithm is the HMAC hash, "sha256" (the default) or "sha1". HMAC only.
	Algorithm string
	// Encoding is how the digest is written in Header, "hex" (the default) or
	// "base64". HMAC only.
	Encoding string
	// Prefix, if set, must come before the encoded digest, e.g. "sha256=".
	// HMAC only.
	Prefix string
	// Tolerance is how far a request's timestamp may be from now, in either
	// direction. Zero means the scheme's default: 5 minutes for
	// StandardWebhooks, 300 seconds for Stripe. Other schemes carry no
	// timestamp and take no tolerance.
	Tolerance time.Duration
	// PublicKey, "whpk_<base64>", verifies Standard Webhooks v1a (ed25519)
	// signatures, beside or instead of the secrets. StandardWebhooks only.
	PublicKey string
	// PreviousSecretExpiresAt ends a rotation: from then on only
	// Secrets[0] passes. Zero: both pass for as long as both are set.
	PreviousSecretExpiresAt time.Time
}

// Verifier checks the authenticity of one request.
type Verifier interface {
	// Verify returns nil when the request with headers h and raw body is
	// authentic at time now. Any other result means "reject with 401": the
	// error wraps ErrMissing, ErrMalformed, ErrExpired or ErrMismatch, and its
	// message is safe to show to the sender.
	Verify(h http.Header, body []byte, now time.Time) error
}

// Sentinel errors. Every error returned by Verify wraps exactly one of them.
var (
	// ErrMissing means a required header is absent or empty.
	ErrMissing = errors.New("missing header")
	// ErrMalformed means a header is present but cannot be parsed.
	ErrMalformed = errors.New("malformed header")
	// ErrExpired means the request's timestamp is outside the tolerance,
	// in the past or in the future.
	ErrExpired = errors.New("timestamp outside tolerance")
	// ErrMismatch means the request is well formed but no signature or
	// credential matched any configured secret.
	ErrMismatch = errors.New("signature mismatch")
)

// rejection is the error Verify returns. It carries a message written for the
// sender, and wraps a sentinel so that callers can tell kinds apart without
// parsing the message.
type rejection struct {
	kind error
	msg  string
}

func (r *rejection) Error() string { return r.msg }
func (r *rejection) Unwrap() error { return r.kind }

// reject builds a rejection. Callers must never pass a secret or an expected
// signature among args: the message goes back to the sender.
func reject(kind error, format string, args ...any) error {
	return &rejection{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// The default tolerances, from each scheme's own documentation.
const (
	defaultStandardTolerance = 5 * time.Minute
	defaultStripeTolerance   = 300 * time.Second
)

// New validates cfg and returns a Verifier for it. Its errors name the
// problem in words a person editing the configuration can act on, and never
// contain a secret.
func New(cfg Config) (Verifier, error) {
	if !known(cfg.Scheme) {
		if cfg.Scheme == "" {
			return nil, fmt.Errorf("no scheme given; one of: %s", schemeList())
		}
		return nil, fmt.Errorf("unknown scheme %q; one of: %s", cfg.Scheme, schemeList())
	}
	if err := checkSecrets(cfg); err != nil {
		return nil, err
	}
	if err := checkUnusedFields(cfg); err != nil {
		return nil, err
	}
	if cfg.Tolerance < 0 {
		return nil, errors.New("tolerance must not be negative")
	}

	v, err := build(cfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secrets) < 2 || cfg.PreviousSecretExpiresAt.IsZero() {
		return v, nil
	}
	// The current secret alone passed the same checks as a pair.
	cur := cfg
	cur.Secrets = cfg.Secrets[:1]
	current, err := build(cur)
	if err != nil {
		return nil, err
	}
	return rotating{both: v, current: current, expires: cfg.PreviousSecretExpiresAt}, nil
}

// build returns the scheme's Verifier for a checked cfg.
func build(cfg Config) (Verifier, error) {
	// The constructors that can fail return concrete pointers; check err
	// here so a failure yields a nil Verifier, not an interface holding a
	// nil pointer.
	var (
		v   Verifier
		err error
	)
	switch cfg.Scheme {
	case None:
		v = noneVerifier{}
	case Bearer:
		v = newBearer(cfg.Secrets)
	case Basic:
		v, err = newBasic(cfg.Secrets)
	case StandardWebhooks:
		var public []string
		if cfg.PublicKey != "" {
			public = []string{cfg.PublicKey}
		}
		v, err = newStandard(cfg.Secrets, public, cfg.Tolerance)
	case Stripe:
		v = newStripe(cfg.Secrets, cfg.Tolerance)
	case GitHub:
		v = newGitHub(cfg.Secrets)
	case HMAC:
		v, err = newHMAC(cfg)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// rotating accepts the previous secret until the rotation's grace period
// ends, then only the current one.
type rotating struct {
	both, current Verifier
	expires       time.Time
}

func (r rotating) Verify(h http.Header, body []byte, now time.Time) error {
	if now.Before(r.expires) {
		return r.both.Verify(h, body, now)
	}
	return r.current.Verify(h, body, now)
}

func known(s Scheme) bool {
	for _, k := range Schemes() {
		if s == k {
			return true
		}
	}
	return false
}

func schemeList() string {
	names := make([]string, 0, len(Schemes()))
	for _, s := range Schemes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// checkSecrets applies the rules every scheme shares. Scheme-specific rules
// (whsec_ form, user:password form) live with each scheme.
func checkSecrets(cfg Config) error {
	if cfg.Scheme == None {
		if len(cfg.Secrets) > 0 {
			return fmt.Errorf("scheme %q takes no secret", None)
		}
		return nil
	}
	switch {
	case len(cfg.Secrets) == 0 && cfg.Scheme == StandardWebhooks && cfg.PublicKey != "":
		// v1a only: the public key is the credential.
	case len(cfg.Secrets) == 0 && cfg.Scheme == StandardWebhooks:
		return fmt.Errorf("scheme %q needs a secret (whsec_…) or a public_key (whpk_…)", cfg.Scheme)
	case len(cfg.Secrets) == 0:
		return fmt.Errorf("scheme %q needs a secret", cfg.Scheme)
	case len(cfg.Secrets) > 2:
		return errors.New("at most 2 secrets (current and previous)")
	}
	for i, s := range cfg.Secrets {
		if s == "" {
			return fmt.Errorf("secret %d is empty", i+1)
		}
		// A secret read from a file often keeps its trailing newline; the
		// sender never signs with it, so every request would fail with a
		// mismatch that is hard to trace back to the config.
		if strings.TrimSpace(s) != s {
			return fmt.Errorf("secret %d has leading or trailing whitespace (a stray newline?)", i+1)
		}
	}
	return nil
}

// checkUnusedFields rejects settings the scheme would silently ignore, since
// a setting that does nothing is usually a mistake in the scheme name.
func checkUnusedFields(cfg Config) error {
	if cfg.Scheme != HMAC {
		for _, f := range []struct{ name, value string }{
			{"header", cfg.Header},
			{"algorithm", cfg.Algorithm},
			{"encoding", cfg.Encoding},
			{"prefix", cfg.Prefix},
		} {
			if f.value != "" {
				return fmt.Errorf("%s is only used by scheme %q, not %q", f.name, HMAC, cfg.Scheme)
			}
		}
	}
	if cfg.PublicKey != "" && cfg.Scheme != StandardWebhooks {
		return fmt.Errorf("public_key is only used by scheme %q, not %q", StandardWebhooks, cfg.Scheme)
	}
	if cfg.Tolerance != 0 && cfg.Scheme != StandardWebhooks && cfg.Scheme != Stripe {
		return fmt.Errorf("tolerance is only used by schemes %q and %q, not %q", StandardWebhooks, Stripe, cfg.Scheme)
	}
	return nil
}

// noneVerifier accepts everything.
type noneVerifier struct{}

func (noneVerifier) Verify(http.Header, []byte, time.Time) error { return nil }

// header returns the value of the named header, or a rejection if it is
// absent, empty, or ambiguous.
//
// Requests parsed by net/http have canonical keys, so Get finds them. Headers
// rebuilt from gRPC metadata are lower-case instead, so when the canonical key
// is absent this falls back to a case-insensitive match rather than report a
// header as missing that the sender did send. Two keys differing only in case
// are rejected instead of picking one, because map order would make the
// choice random.
func header(h http.Header, name string) (string, error) {
	if vs := h.Values(name); len(vs) > 0 {
		if vs[0] == "" {
			return "", reject(ErrMissing, "%s header is empty", name)
		}
		return vs[0], nil
	}
	var found []string
	matches := 0
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			matches++
			found = vs
		}
	}
	switch {
	case matches > 1:
		return "", reject(ErrMalformed, "%s header sent more than once under differently cased names", name)
	case matches == 0 || len(found) == 0:
		return "", reject(ErrMissing, "missing %s header", name)
	case found[0] == "":
		return "", reject(ErrMissing, "%s header is empty", name)
	}
	return found[0], nil
}
