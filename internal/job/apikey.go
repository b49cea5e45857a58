package job

import (
	"context"
	"time"
)

// APIKey is a stored API key. The key itself is never stored, only its
// hash. It lives in the domain, beside the other things the store
// persists, so that the store needs no authentication package.
type APIKey struct {
	ID string
	// Prefix is disp_k1_ and the first 8 random characters of the key: it
	// finds the key's row and is safe to show.
	Prefix string
	// Name says whose or what the key is, for people.
	Name string
	// DefaultEndpoint is the endpoint that Dispatched-compatible
	// /api/jobs/dispatch calls made with this key deliver to; empty for the
	// configuration's default_endpoint.
	DefaultEndpoint string
	// Scope is what the key may do (internal/apikey's table says which
	// methods each scope may call).
	Scope Scope
	// Hash is the SHA-256 of the key.
	Hash       []byte
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

// Scope is what an API key may do.
type Scope string

// The scopes. A key has exactly one.
const (
	// ScopeAdmin may call every method: the default, and the bootstrap
	// key's.
	ScopeAdmin Scope = "admin"
	// ScopeDispatch may dispatch jobs and read their state: what a service
	// that only calls /api/jobs/dispatch or JobService.DispatchJob needs.
	ScopeDispatch Scope = "dispatch"
	// ScopeRead may view (jobs, attempts, endpoints, sources, keys) and
	// change nothing.
	ScopeRead Scope = "read"
)

// KeyStore persists API keys. The store implements it.
type KeyStore interface {
	// CreateKey stores a new key. A key whose id or prefix is already
	// stored is an error.
	CreateKey(ctx context.Context, k APIKey) error

	// GetKeyByPrefix returns the key with the given prefix, revoked or not,
	// or an error with code CodeNotFound.
	GetKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)

	// ListKeys returns every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]APIKey, error)

	// RevokeKey revokes a key for good; revoking it again keeps the first
	// revocation time. It returns an error with code CodeNotFound when
	// there is no key with that id.
	RevokeKey(ctx context.Context, id string, now time.Time) error

	// TouchKey records that the key was used at now. It never moves the
	// time backwards, and touching a key that does not exist does nothing.
	TouchKey(ctx context.Context, id string, now time.Time) error
}
