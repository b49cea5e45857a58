package apikey

import (
	"context"
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// BootstrapKeyID is the Principal.KeyID of calls made with the bootstrap
// key (DISPATCHD_API_KEY), which has no row in the store.
const BootstrapKeyID = "bootstrap"

// TouchInterval is how often, at most, an Authenticator records that a
// key was used.
const TouchInterval = time.Minute

// Principal is the caller of an authenticated request.
type Principal struct {
	KeyID string
	Name  string
	// DefaultEndpoint is the key's endpoint for Dispatched-compatible
	// dispatches; empty for the configuration's default_endpoint.
	DefaultEndpoint string
	// Scope is what the caller may do.
	Scope Scope
	// SessionHash is set when the caller sent a session token (disp_s_…)
	// rather than a key: the hash of the token, which finds the session.
	SessionHash []byte
	// BootstrapFingerprint is set for the bootstrap key: what a session
	// it starts stores in place of a key id (NewSession).
	BootstrapFingerprint string
}

type principalKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal that ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticator checks the API key or session token of a request.
type Authenticator struct {
	store Store
	// bootstrap is the SHA-256 of the bootstrap key, nil when there is
	// none. Comparing hashes keeps the comparison constant-time whatever
	// the lengths of the two keys.
	bootstrap []byte
	now       func() time.Time

	mu sync.Mutex
	// touched is when each key's (and session's) last use was last
	// recorded. It holds one entry per key and session used since the
	// process started: a few hundred bytes each.
	touched map[string]time.Time

	// failures limits failed authentications per client address.
	failures *failureLimiter
	// usage holds each key's requests not yet counted in the store.
	usage map[string]*usage
}

// NewAuthenticator returns an Authenticator of the keys in store and, if
// bootstrap is not empty, of the bootstrap key. now is the clock that
// last-use times are read from.
//
// The bootstrap key is compared as given; the caller checks it with
// CheckBootstrap first. It has scope admin.
func NewAuthenticator(store Store, bootstrap string, now func() time.Time) *Authenticator {
	a := &Authenticator{store: store, now: now, touched: map[string]time.Time{}, failures: newFailureLimiter(), usage: map[string]*usage{}}
	if bootstrap != "" {
		a.bootstrap = Hash(bootstrap)
	}
	return a
}

// Authenticate checks an Authorization header value, "Bearer <key>" (the
// scheme in any case). Failures are *job.Error with code
// job.CodeUnauthenticated and a message that says what to fix and never
// contains the key; a store that cannot be read gives job.CodeUnavailable,
// since the key may well be good.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Principal, error) {
	key, err := bearer(authorization)
	if err != nil {
		return Principal{}, err
	}
	if strings.HasPrefix(key, SessionPrefix) {
		return a.authenticateSession(ctx, key)
	}
	hash := Hash(key)
	if a.bootstrap != nil && subtle.ConstantTimeCompare(hash, a.bootstrap) == 1 {
		return Principal{KeyID: BootstrapKeyID, Scope: ScopeAdmin, BootstrapFingerprint: bootstrapFingerprint(a.bootstrap)}, nil
	}
	prefix, err := Parse(key)
	if err != nil {
		return Principal{}, &job.Error{Code: job.CodeUnauthenticated, Message: err.Error()}
	}
	k, err := a.store.GetKeyByPrefix(ctx, prefix)
	if err != nil {
		return Principal{}, a.lookupError(ctx, err, errUnknown, "the API key")
	}
	// A well-formed key can share its prefix with a stored one: only the
	// hash proves the caller holds the key. Revocation is told only to
	// someone who does.
	if subtle.ConstantTimeCompare(hash, k.Hash) != 1 {
		return Principal{}, errUnknown
	}
	if !k.RevokedAt.IsZero() {
		return Principal{}, job.Errorf(job.CodeUnauthenticated, "the API key is revoked; ask for a new one")
	}
	a.touch(ctx, k.ID, func(now time.Time) error { return a.store.TouchKey(ctx, k.ID, now) })
	a.countUse(ctx, k.ID)
	return Principal{KeyID: k.ID, Name: k.Name, DefaultEndpoint: k.DefaultEndpoint, Scope: k.Scope}, nil
}

var (
	errMissing = job.Errorf(job.CodeUnauthenticated, "missing Authorization: Bearer %s… header", KeyPrefix)
	errUnknown = job.Errorf(job.CodeUnauthenticated, "unknown API key")
)

// bearer returns the credentials of a Bearer Authorization header.
func bearer(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", errMissing
	}
	scheme, key, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", job.Errorf(job.CodeUnauthenticated, "the Authorization header must use the Bearer scheme: Authorization: Bearer %s…", KeyPrefix)
	}
	if key = strings.TrimSpace(key); key == "" {
		return "", errMissing
	}
	return key, nil
}

// touch records with record that the key or session id was used, unless
// that was recorded less than TouchInterval ago. A failure is not the
// caller's: the request goes on, and the next one tries again.
func (a *Authenticator) touch(ctx context.Context, id string, record func(now time.Time) error) {
	now := a.now()
	a.mu.Lock()
	last, seen := a.touched[id]
	// A clock that stepped back (now before last) records again rather than
	// waiting for it to catch up.
	if seen && !now.Before(last) && now.Sub(last) < TouchInterval {
		a.mu.Unlock()
		return
	}
	a.touched[id] = now
	a.mu.Unlock()

	if err := record(now); err != nil {
		a.mu.Lock()
		if a.touched[id].Equal(now) { // unless a later request recorded meanwhile
			if seen {
				a.touched[id] = last
			} else {
				delete(a.touched, id)
			}
		}
		a.mu.Unlock()
	}
}
