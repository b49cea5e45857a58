package job

import (
	"context"
	"time"
)

// Session is a stored login: a session token stands for one API key, with
// its scope, until ExpiresAt. The token itself is never stored, only its
// hash, so the table holds nothing that authenticates.
type Session struct {
	// Hash is the SHA-256 of the session token; it finds the row.
	Hash []byte
	// KeyID is the key the session stands for (an APIKey's ID, or the
	// bootstrap key's principal id).
	KeyID      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
}

// SessionStore persists sessions. The store implements it.
type SessionStore interface {
	// CreateSession stores a new session; one whose hash is already stored
	// is an error.
	CreateSession(ctx context.Context, s Session) error

	// GetSession returns the session with the given hash, expired or not,
	// or an error with code CodeNotFound.
	GetSession(ctx context.Context, hash []byte) (Session, error)

	// DeleteSession deletes a session (logout); deleting one that is not
	// there does nothing.
	DeleteSession(ctx context.Context, hash []byte) error

	// TouchSession records that the session was used at now. It never moves
	// the time backwards.
	TouchSession(ctx context.Context, hash []byte, now time.Time) error

	// GetKeyByID returns the key with the given id, revoked or not, or an
	// error with code CodeNotFound.
	GetKeyByID(ctx context.Context, id string) (APIKey, error)
}
